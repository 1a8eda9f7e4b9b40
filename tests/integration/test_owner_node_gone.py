"""When an owner's whole node dies, nothing on it can report the owner's death: the other raylets end
the leases of owners on a node the GCS declares dead (LeaseScheduler.node_gone), and their CPUs come
back. An actor on node B leases the head's only CPU for a long task; node B is killed outright.
Node B has its own loopback address, so the head's raylet cannot see the owner's pid go (it checks
pids only for owners at its own address).
"""
import time

import pytest

import strato
from strato._testing import two_node_cluster, wait_for
from strato.util import state
from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy

pytestmark = pytest.mark.timeout(120)


@strato.remote
def hold():
    time.sleep(600)


@strato.remote(num_cpus=0)
class Owner:
    def lease_on(self, node_id):
        self.ref = hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote()
        return strato.get_runtime_context().get_node_id()


def free_cpu(node_id: str) -> float:
    return next(n["resources_available"].get("CPU", 0.0) for n in state.list_nodes() if n["node_id"] == node_id)


def test_a_dead_node_gives_back_the_cpu_its_owners_held_on_another_node():
    with two_node_cluster(system_config={"health_check_period_s": 0.2, "health_check_timeout_s": 2}) as c:
        node = c.nodes[-1]                             # node B, on 127.0.0.2
        head = strato.get_runtime_context().get_node_id()
        pin = NodeAffinitySchedulingStrategy(node.node_id, soft=False)
        owner = Owner.options(scheduling_strategy=pin).remote()      # on node B, leasing the head's only CPU
        assert strato.get(owner.lease_on.remote(head), timeout=60) == node.node_id
        assert wait_for(lambda: free_cpu(head) == 0.0, 30), "the task never took the head's CPU"
        c.remove_node(node, allow_graceful=False)
        assert wait_for(lambda: free_cpu(head) == 1.0, 30), "the head's CPU stayed with a dead node's owner"
