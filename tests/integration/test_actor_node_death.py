"""An actor's node dies: the actor dies with it, or restarts on another node.

Each test builds its own cluster with `strato.cluster_utils.Cluster`: a
head without the custom resource "b" and worker nodes that have it, so an
actor asking for "b" is pinned to those nodes. Health checks are fast so a
dead node is noticed within a couple of seconds.
"""
import time

import pytest

import strato
from strato.cluster_utils import Cluster
from strato.exceptions import ActorDiedError, RayActorError

pytestmark = pytest.mark.timeout(180)

FAST_HEALTH_CHECKS = {"health_check_period_s": 0.2, "health_check_timeout_s": 2}


@strato.remote(resources={"b": 1})
class Pinned:
    def node(self):
        return strato.get_runtime_context().get_node_id()

    def hang(self):
        time.sleep(120)


@pytest.fixture
def cluster_with_b_node():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, system_config=FAST_HEALTH_CHECKS)
    try:
        node = c.add_node(num_cpus=1, resources={"b": 1})
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            yield c, node
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def test_an_actor_dies_with_its_node_and_the_error_says_so(cluster_with_b_node):
    c, node = cluster_with_b_node
    actor = Pinned.remote()
    assert strato.get(actor.node.remote(), timeout=60) == node.node_id

    in_flight = actor.hang.remote()
    time.sleep(0.5)
    c.remove_node(node, allow_graceful=False)

    with pytest.raises(ActorDiedError) as info:
        strato.get(in_flight, timeout=60)
    assert isinstance(info.value, RayActorError)
    with pytest.raises(ActorDiedError) as later:
        strato.get(actor.node.remote(), timeout=60)
    message = str(later.value)
    assert "node" in message and node.node_id[:12] in message, message


def test_an_actor_with_restarts_moves_to_another_node_that_fits(cluster_with_b_node):
    c, node = cluster_with_b_node
    # max_task_retries: a call that reaches the dying process is sent again after the restart.
    actor = Pinned.options(max_restarts=1, max_task_retries=1).remote()
    assert strato.get(actor.node.remote(), timeout=60) == node.node_id

    spare = c.add_node(num_cpus=1, resources={"b": 1})
    c.wait_for_nodes()
    c.remove_node(node, allow_graceful=False)

    # The call waits while the actor restarts on the node that still has "b".
    assert strato.get(actor.node.remote(), timeout=90) == spare.node_id


@strato.remote(num_cpus=1)
class Counter:
    def __init__(self):
        self.calls = 0

    def where(self):
        self.calls += 1
        return strato.get_runtime_context().get_node_id()

    def slow_where(self, seconds):
        time.sleep(seconds)
        return strato.get_runtime_context().get_node_id()


@pytest.mark.parametrize("graceful", [False, True], ids=["killed", "stopped"])
def test_a_restarted_actor_comes_back_on_a_live_node_and_keeps_its_name(graceful):
    """Never on the dying node (which would use up the restart), reachable by name after the move."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0}, system_config=FAST_HEALTH_CHECKS)
    try:
        doomed = c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            actor = Counter.options(name="mover", max_restarts=1, max_task_retries=1).remote()
            assert strato.get(actor.where.remote(), timeout=60) == doomed.node_id
            spare = c.add_node(num_cpus=1)
            c.wait_for_nodes()
            in_flight = actor.slow_where.remote(1.0)          # running when its node goes
            time.sleep(0.3)
            c.remove_node(doomed, allow_graceful=graceful)

            assert strato.get(in_flight, timeout=90) == spare.node_id     # sent again under max_task_retries
            assert strato.get(actor.where.remote(), timeout=90) == spare.node_id
            again = strato.get_actor("mover")
            assert strato.get(again.where.remote(), timeout=30) == spare.node_id
            rows = [a for a in strato.util.state.list_actors() if a["name"] == "mover"]
            assert len(rows) == 1 and rows[0]["state"] == "ALIVE", rows
            assert rows[0]["num_restarts"] == 1, rows
        finally:
            strato.shutdown()
    finally:
        c.shutdown()
