"""The cluster resource view is fresh: a node's resource changes reach the GCS (and, pushed from there,
every raylet's view) within about 100 ms, not a heartbeat period later."""
import pytest

import strato
from strato._testing import wait_for
from strato.cluster_utils import Cluster
from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from strato.util.state import list_nodes

pytestmark = pytest.mark.timeout(120)


def test_the_cluster_view_follows_resource_changes_long_before_a_heartbeat():
    """With 30 s heartbeats, the GCS's view of a node (what it pushes to every raylet, and what the state
    API shows) still follows a task taking and freeing its CPU within a second or so: raylets report
    their resources when they change."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1},
                system_config={"health_check_period_s": 30, "health_check_timeout_s": 120})
    try:
        other = c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()

            @strato.remote(num_cpus=1)
            def hold(seconds):
                import time
                time.sleep(seconds)

            def free_cpus():
                row = next(n for n in list_nodes() if n["node_id"] == other.node_id)
                return row["resources_available"].get("CPU", 0.0)

            assert wait_for(lambda: free_cpus() == 1.0, 5)
            running = hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(other.node_id, False)).remote(1.5)
            assert wait_for(lambda: free_cpus() == 0.0, 2.5, interval=0.05), free_cpus()
            strato.get(running, timeout=20)
            assert wait_for(lambda: free_cpus() == 1.0, 2.5, interval=0.05), free_cpus()
        finally:
            strato.shutdown()
    finally:
        c.shutdown()
