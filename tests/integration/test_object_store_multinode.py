"""Objects cross nodes: a raylet pulls a copy (in chunks) when a local reader needs it."""
import numpy as np
import pytest

import strato
from strato._testing import digest, settle, store_stats, wait_collected
from strato.cluster_utils import Cluster

MiB = 1 << 20


@pytest.fixture
def two_nodes():
    c = Cluster(head_node_args={"num_cpus": 1, "object_store_memory": 256 * MiB})
    other = c.add_node(num_cpus=1, resources={"other": 1}, object_store_memory=256 * MiB)
    try:
        strato.init(address=c.address, _token=c.token)
        c.wait_for_nodes()
        yield c, other
    finally:
        strato.shutdown()
        c.shutdown()


def test_values_move_between_nodes_and_are_freed_everywhere(two_nodes):
    cluster, other = two_nodes

    @strato.remote(resources={"other": 1})
    def make(seed):
        return np.random.default_rng(seed).integers(0, 255, 23 * MiB, dtype=np.uint8)   # > 4 chunks

    @strato.remote(resources={"other": 1})
    def check(a):
        return digest(a)

    made = make.remote(1)
    value = strato.get(made)                                       # pulled to the driver's node
    assert digest(value) == digest(np.random.default_rng(1).integers(0, 255, 23 * MiB, dtype=np.uint8))
    assert not value.flags.writeable

    mine = np.random.default_rng(2).integers(0, 255, 9 * MiB, dtype=np.uint8)
    ref = strato.put(mine)
    assert strato.get(check.remote(ref)) == digest(mine)           # pulled to the other node

    st = store_stats()
    head = st[cluster.head.node_id]
    remote = st[other.node_id]
    assert head["primary_bytes"] >= 9 * MiB and head["secondary_bytes"] >= 23 * MiB
    assert remote["primary_bytes"] >= 23 * MiB and remote["secondary_bytes"] >= 9 * MiB

    del value, made, ref
    assert wait_collected(lambda: all(s["num_objects"] == 0 for s in store_stats().values()), 20), store_stats()


def test_a_borrower_on_another_node_keeps_a_nested_ref_until_it_lets_go(two_nodes):
    cluster, other = two_nodes

    @strato.remote(resources={"other": 0.5})
    class Keeper:
        def keep(self, refs):
            self.refs = refs
            return digest(strato.get(refs[0]))          # pulls a copy to the other node

        def drop(self):
            self.refs = None

    @strato.remote(resources={"other": 0.5})
    def make_nested(seed):
        return [strato.put(np.random.default_rng(seed).integers(0, 255, 7 * MiB, dtype=np.uint8))]

    mine = np.random.default_rng(3).integers(0, 255, 9 * MiB, dtype=np.uint8)
    ref = strato.put(mine)
    keeper = Keeper.remote()
    assert strato.get(keeper.keep.remote([ref])) == digest(mine)
    (theirs,) = strato.get(make_nested.remote(4))      # owned by a worker on the other node
    del ref
    settle()
    st = store_stats()
    assert st[cluster.head.node_id]["primary_bytes"] >= 9 * MiB     # the keeper still borrows it
    assert digest(strato.get(theirs)) == digest(np.random.default_rng(4).integers(0, 255, 7 * MiB, dtype=np.uint8))
    strato.get(keeper.drop.remote())
    del theirs
    assert wait_collected(lambda: all(s["num_objects"] == 0 for s in store_stats().values()), 20), store_stats()
    strato.kill(keeper)
