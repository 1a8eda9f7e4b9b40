"""Locality-aware leases: a task whose large argument lives on another node runs there when it fits.

The driver's node (the head) has CPUs too, so without locality the task would run next to the
driver and pull the argument across; with it, the lease is asked of the node holding the bytes.
"""
import time

import numpy as np
import pytest

import strato
from strato.cluster_utils import Cluster

pytestmark = pytest.mark.timeout(120)


@strato.remote
def make(n):
    return np.ones(n)


@strato.remote
def where(array):
    return strato.get_runtime_context().get_node_id(), float(array.sum())


def test_a_task_goes_to_the_node_holding_its_large_argument():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        other = c.add_node(num_cpus=1, resources={"there": 1})
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            for _ in range(3):
                big = make.options(resources={"there": 1}).remote(2_000_000)      # 16 MB, made on `other`
                strato.wait([big], timeout=60)
                time.sleep(0.3)      # the owner keeps an idle lease for lease_linger_s: let `other` free its CPU
                node, total = strato.get(where.remote(big), timeout=60)
                assert (node, total) == (other.node_id, 2_000_000.0)
            small = make.options(resources={"there": 1}).remote(10)                # inline: no locality pull
            node, _ = strato.get(where.remote(small), timeout=60)
            assert node in {other.node_id, c.head.node_id}
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def test_locality_picks_the_raylet_with_the_most_bytes():
    from strato.runtime.core_worker.submitter import locality_raylet
    from strato.runtime.object_store.client.layout import encode_marker
    inlined = {b"a": encode_marker(b"n" * 16, 10 << 20, "10.0.0.1:7000"),
               b"b": encode_marker(b"m" * 16, 6 << 20, "10.0.0.2:7000"),
               b"c": encode_marker(b"m" * 16, 6 << 20, "10.0.0.2:7000"),
               b"d": b"small inline value"}
    assert locality_raylet(inlined) == "10.0.0.2:7000"
    assert locality_raylet({b"d": b"inline"}) is None
    assert locality_raylet(None) is None


def test_a_dead_nodes_arguments_do_not_attract_the_lease():
    from strato.runtime.core_worker.submitter import locality_raylet
    from strato.runtime.object_store.client.layout import encode_marker
    inlined = {b"a": encode_marker(b"n" * 16, 10 << 20, "10.0.0.1:7000"),
               b"b": encode_marker(b"m" * 16, 1 << 20, "10.0.0.2:7000")}
    assert locality_raylet(inlined, dead_nodes={b"n" * 16}) == "10.0.0.2:7000"
    assert locality_raylet(inlined, dead_nodes={b"n" * 16, b"m" * 16}) is None
