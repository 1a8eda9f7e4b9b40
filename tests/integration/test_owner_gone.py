"""An owner that dies gives back the workers it leased on other nodes.

Two 1-CPU nodes; an owner on the head (an actor, or a driver in its own process) leases node B's
only CPU for a task and dies while the task runs. The GCS hears of the death (the owner's raylet
reports the worker, the job watcher the driver) and tells every raylet, and node B's raylet ends
the orphaned worker: its CPU comes back. Before this, only the owner's own node noticed (by pid),
and B's CPU stayed taken for good. (An owner's whole node dying: test_owner_node_gone.py.)
"""
import subprocess
import sys
import time

import pytest

import strato
from strato._testing import two_node_cluster, wait_for
from strato.util import state
from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def two_nodes():
    with two_node_cluster() as cluster:
        head = strato.get_runtime_context().get_node_id()
        other = next(n["NodeID"] for n in strato.nodes() if n["Alive"] and n["NodeID"] != head)
        yield cluster, head, other


def free_cpu(node_id: str) -> float:
    return next(n["resources_available"].get("CPU", 0.0) for n in state.list_nodes() if n["node_id"] == node_id)


@strato.remote
def hold(seconds):
    time.sleep(seconds)
    return 1


@strato.remote(num_cpus=0)
class Owner:
    def lease_on(self, node_id):
        self.ref = hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote(600)
        return strato.get_runtime_context().get_node_id()


def test_a_killed_actor_gives_back_the_cpu_its_task_held_on_another_node(two_nodes):
    _, head, other = two_nodes
    owner = Owner.options(scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False)).remote()
    assert strato.get(owner.lease_on.remote(other), timeout=60) == head
    assert wait_for(lambda: free_cpu(other) == 0.0, 30), "the task never took node B's CPU"
    strato.kill(owner)
    assert wait_for(lambda: free_cpu(other) == 1.0, 30), "node B's CPU stayed with the dead actor's task"
    assert strato.get(hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(other, soft=False))
                      .remote(0), timeout=60) == 1


DRIVER = """
import sys, time, strato
from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy
strato.init(address=sys.argv[1])
@strato.remote
def hold(seconds):
    time.sleep(seconds)
ref = hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(sys.argv[2], soft=False)).remote(600)
print("submitted", flush=True)
time.sleep(600)
"""


def test_a_killed_driver_gives_back_the_cpu_its_task_held_on_another_node(two_nodes):
    cluster, _, other = two_nodes
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, cluster.address, other], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert driver.stdout.readline().strip() == "submitted"
        assert wait_for(lambda: free_cpu(other) == 0.0, 30), "the task never took node B's CPU"
    finally:
        driver.kill()
        driver.wait(10)
    assert wait_for(lambda: free_cpu(other) == 1.0, 30), "node B's CPU stayed with the dead driver's task"

