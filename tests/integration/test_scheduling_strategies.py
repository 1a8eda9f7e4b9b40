"""Scheduling strategies for actors as well as tasks, on a real three-node cluster (1 CPU per node):
SPREAD actors, node affinity (hard and soft) for actors, and hard affinity to a dead or unknown node
failing with TaskUnschedulableError / ActorUnschedulableError instead of hanging.

The module-scoped cluster has a head and two more nodes; the dead-node test adds a fourth node,
removes it, and targets it.
"""
import pytest

import strato
from strato import exceptions
from strato._testing import wait_for
from strato.cluster_utils import Cluster
from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1)
        c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            yield c
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


@strato.remote(num_cpus=0)
def node_of_task():
    return strato.get_runtime_context().get_node_id()


@strato.remote
class Pinned:
    def node(self):
        return strato.get_runtime_context().get_node_id()


def live_nodes():
    return sorted(n["NodeID"] for n in strato.nodes() if n["Alive"])


def test_spread_actors_land_on_every_node(cluster):
    # Actors hold no CPU once running, so only the strategy can spread them.
    actors = [Pinned.options(scheduling_strategy="SPREAD").remote() for _ in range(3)]
    assert sorted(strato.get([a.node.remote() for a in actors], timeout=30)) == live_nodes()
    defaults = [Pinned.remote() for _ in range(3)]
    assert len(set(strato.get([a.node.remote() for a in defaults], timeout=30))) < 3   # DEFAULT packs them


def test_actors_follow_hard_node_affinity(cluster):
    for node in live_nodes():
        actor = Pinned.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
        assert strato.get(actor.node.remote(), timeout=30) == node


def test_hard_affinity_to_a_dead_or_unknown_node_fails_soft_runs_elsewhere(cluster):
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    dead = doomed.node_id
    cluster.remove_node(doomed)
    assert wait_for(lambda: dead not in live_nodes(), 15)
    unknown = "ab" * 16

    for node, state in ((dead, "dead"), (unknown, "unknown to the cluster")):
        hard = NodeAffinitySchedulingStrategy(node, soft=False)
        with pytest.raises(exceptions.TaskUnschedulableError, match=f"The task is not schedulable: .*{state}"):
            strato.get(node_of_task.options(scheduling_strategy=hard).remote(), timeout=30)
        actor = Pinned.options(scheduling_strategy=hard).remote()
        with pytest.raises(exceptions.ActorUnschedulableError, match=f"The actor is not schedulable: .*{state}"):
            strato.get(actor.node.remote(), timeout=30)

        soft = NodeAffinitySchedulingStrategy(node, soft=True)
        assert strato.get(node_of_task.options(scheduling_strategy=soft).remote(), timeout=30) in live_nodes()
        actor = Pinned.options(scheduling_strategy=soft).remote()
        assert strato.get(actor.node.remote(), timeout=30) in live_nodes()

