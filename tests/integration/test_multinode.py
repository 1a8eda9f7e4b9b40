"""Several nodes on one machine with strato.cluster_utils.Cluster.

The class-scoped ``two_nodes`` cluster has a head with 1 CPU and a second node
with 1 CPU and a custom resource "b". Tests that remove or kill nodes build
their own cluster.
"""
import os
import signal
import time

import numpy as np
import pytest

import strato
from strato._testing import live_children, wait_for
from strato.cluster_utils import Cluster

pytestmark = pytest.mark.timeout(180)

FAST_HEALTH_CHECKS = {"health_check_period_s": 0.2, "health_check_timeout_s": 2}


@pytest.fixture(scope="class")
def two_nodes():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        worker_node = c.add_node(num_cpus=1, resources={"b": 1})
        strato.init(address=c.address)
        try:
            assert wait_for_alive_nodes(2), strato.nodes()
            yield c, worker_node
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def alive_node_ids():
    return {n["NodeID"] for n in strato.nodes() if n["Alive"]}


def wait_for_alive_nodes(count, timeout=30):
    return wait_for(lambda: len(alive_node_ids()) == count, timeout, interval=0.2)


def node_entry(node_id):
    matches = [n for n in strato.nodes() if n["NodeID"] == node_id]
    return matches[0] if matches else None


def wait_for_dead(node_id, timeout):
    def dead():
        entry = node_entry(node_id)
        return entry is not None and entry["Alive"] is False
    return wait_for(dead, timeout, interval=0.2)


@strato.remote
def where_am_i(sleep_s=0.0):
    time.sleep(sleep_s)
    return strato.get_runtime_context().get_node_id()


# --- the shared two-node cluster ---------------------------------------------------

class TestTwoNodeCluster:
    """Tests sharing one head + one worker node (the class-scoped ``two_nodes``)."""

    def test_both_nodes_are_listed_and_alive(self, two_nodes):
        _, worker_node = two_nodes
        nodes = strato.nodes()
        assert len(nodes) == 2
        assert all(n["Alive"] for n in nodes)
        assert worker_node.node_id in {n["NodeID"] for n in nodes}

    def test_cluster_resources_add_up_over_nodes(self, two_nodes):
        total = strato.cluster_resources()
        assert total["CPU"] == 2.0
        assert total["b"] == 1.0
        per_node = {n["NodeID"]: n["Resources"] for n in strato.nodes()}
        assert per_node[two_nodes[1].node_id]["b"] == 1.0
        assert per_node[two_nodes[1].node_id]["CPU"] == 1.0

    def test_a_task_needing_a_custom_resource_runs_on_the_node_that_has_it(self, two_nodes):
        _, worker_node = two_nodes
        ids = strato.get([where_am_i.options(resources={"b": 1}).remote() for _ in range(3)],
                         timeout=120)
        assert set(ids) == {worker_node.node_id}

    def test_tasks_spill_over_to_the_second_node_when_the_first_is_busy(self, two_nodes):
        refs = [where_am_i.remote(2.0) for _ in range(2)]
        ids = strato.get(refs, timeout=120)
        assert set(ids) == alive_node_ids(), "two 1-CPU tasks on two 1-CPU nodes must use both"

    def test_objects_move_between_nodes(self, two_nodes):
        @strato.remote(resources={"b": 1})
        def make_on_b(n):
            return np.arange(n, dtype=np.int64)

        @strato.remote(resources={"b": 1})
        def total_on_b(array):
            return int(array.sum())

        produced = strato.get(make_on_b.remote(1_000_000), timeout=120)
        assert int(produced.sum()) == sum(range(1_000_000))

        from_driver = strato.put(np.ones(1_000_000, dtype=np.int64))
        assert strato.get(total_on_b.remote(from_driver), timeout=120) == 1_000_000

    def test_a_nested_task_can_run_on_another_node(self, two_nodes):
        _, worker_node = two_nodes

        @strato.remote(num_cpus=0)
        def parent():
            here = strato.get_runtime_context().get_node_id()
            there = strato.get(where_am_i.options(resources={"b": 1}).remote())
            return here, there

        _, there = strato.get(parent.remote(), timeout=120)
        assert there == worker_node.node_id


# --- clusters that lose a node -------------------------------------------------------

def test_a_removed_node_is_reported_dead():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, system_config=FAST_HEALTH_CHECKS)
    try:
        node = c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            assert wait_for_alive_nodes(2), strato.nodes()
            c.remove_node(node)
            assert wait_for_dead(node.node_id, 20), node_entry(node.node_id)
            # The head still works.
            assert strato.get(where_am_i.remote(), timeout=60) != node.node_id
            assert strato.cluster_resources().get("CPU") == 1.0
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def test_a_killed_raylet_is_detected_by_health_checks():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, system_config=FAST_HEALTH_CHECKS)
    try:
        node = c.add_node(num_cpus=1, resources={"b": 1})
        strato.init(address=c.address)
        try:
            assert wait_for_alive_nodes(2), strato.nodes()
            os.kill(node.raylet_pid, signal.SIGKILL)
            assert wait_for_dead(node.node_id, 20), node_entry(node.node_id)
            assert strato.get(where_am_i.remote(), timeout=60) != node.node_id
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def test_cluster_shutdown_stops_every_node_process():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            assert strato.get(where_am_i.remote(), timeout=60)
        finally:
            strato.shutdown()
    finally:
        c.shutdown()
    # The module-level leak check verifies nothing is left; check here too so
    # that the failure points at this test.
    assert wait_for(lambda: not live_children(), 15), [p.pid for p in live_children()]


def test_a_pending_task_runs_once_a_node_with_its_resource_joins():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        strato.init(address=c.address)
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the infeasible-task warning is expected
                ref = where_am_i.options(resources={"late": 1}).remote()
                with pytest.raises(strato.exceptions.GetTimeoutError):
                    strato.get(ref, timeout=1)
                late_node = c.add_node(num_cpus=1, resources={"late": 1})
                assert strato.get(ref, timeout=120) == late_node.node_id
        finally:
            strato.shutdown()
    finally:
        c.shutdown()
