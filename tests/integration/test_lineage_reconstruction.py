"""Lineage reconstruction: an output whose only copy died with its node is rebuilt by its owner.

Each test builds a cluster whose head has no CPUs, so every task runs on a worker node; the
node holding the outputs is then killed (SIGKILL of its raylet) and a fresh node takes over.
Nothing is read before the kill: a read would leave a copy in the head's store.
"""
import os

import numpy as np
import pytest

import strato
from strato import exceptions
from strato._testing import wait_for
from strato.cluster_utils import Cluster

pytestmark = pytest.mark.timeout(180)

# Ray's names: a node missing 10 checks, one every 200 ms, is dead (2 s)
FAST_HEALTH_CHECKS = {"health_check_period_ms": 200, "health_check_failure_threshold": 10}
BIG = 300_000          # float64s: 2.4 MB, well past max_inline_bytes, so outputs live in a node's store


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": FAST_HEALTH_CHECKS})
    try:
        first = c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            yield c, first
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def kill_and_replace(c, node, num_cpus=2):
    """SIGKILL the node's raylet, wait until the cluster sees it dead, and add a fresh node."""
    c.remove_node(node, allow_graceful=False)
    assert wait_for(lambda: not any(n["Alive"] for n in strato.nodes() if n["NodeID"] == node.node_id),
                    30, interval=0.2), "the killed node was never marked dead"
    return c.add_node(num_cpus=num_cpus, wait=True)


@strato.remote(max_retries=2)
def make(seed):
    calls = os.environ.get("STRATO_TEST_CALLS")
    if calls:
        with open(calls, "a") as f:
            f.write(f"make {seed}\n")
    return np.full(BIG, float(seed))


@strato.remote(max_retries=2)
def add_one(array):
    return array + 1


def test_a_lost_output_is_rebuilt_by_running_its_task_again(cluster):
    c, first = cluster
    ref = make.remote(7)
    assert strato.wait([ref], timeout=60)[0]       # done; its only copy is in the first node's store
    kill_and_replace(c, first)
    value = strato.get(ref, timeout=60)
    assert value.shape == (BIG,) and float(value.sum()) == 7.0 * BIG


def test_lost_arguments_are_rebuilt_first_recursively(cluster):
    c, first = cluster
    x = make.remote(1)
    y = add_one.remote(x)
    z = add_one.remote(y)
    del x, y                                       # only z's lineage holds them now
    assert strato.wait([z], timeout=60)[0]
    kill_and_replace(c, first)
    value = strato.get(z, timeout=90)
    assert float(value.min()) == 3.0 and float(value.max()) == 3.0


def test_a_task_reading_a_lost_argument_gets_it_rebuilt(cluster):
    c, first = cluster
    x = make.remote(5)
    strato.wait([x], timeout=60)
    kill_and_replace(c, first)
    # x's copy died with its node; the new task's worker finds it gone and its owner rebuilds it
    assert float(strato.get(add_one.remote(x), timeout=90).sum()) == 6.0 * BIG


def test_an_output_of_a_task_without_retries_says_why_it_is_gone(cluster):
    c, first = cluster
    ref = make.options(max_retries=0).remote(2)
    strato.wait([ref], timeout=60)
    kill_and_replace(c, first)
    with pytest.raises(exceptions.ObjectReconstructionFailedMaxAttemptsExceededError, match="max_retries"):
        strato.get(ref, timeout=60)


def test_a_put_object_whose_owner_died_with_the_node_raises_owner_died(cluster):
    c, first = cluster

    @strato.remote
    def put_there():
        return [strato.put(np.ones(BIG))]          # owned by this task's worker; its copy on the first node

    (inner,) = strato.get(put_there.remote())
    kill_and_replace(c, first)
    # its owner (the worker) died with the node: nobody can rebuild it
    with pytest.raises(exceptions.OwnerDiedError):
        strato.get(inner, timeout=60)
