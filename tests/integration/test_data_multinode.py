"""strato.data's locality on a cluster of two 1-CPU nodes (the second on its own loopback address).

Blocks are made by map_batches tasks over both nodes (they meet in pairs through a shared folder,
so each pair holds both nodes' one CPU), each row stamped with the node that made it; a reader
actor pinned to each node consumes one of streaming_split's iterators. With locality_hints naming
the readers' nodes, each reader gets the blocks made on its own node; every row is read exactly
once either way.
"""
import os
import time

import pytest

import strato
from strato import data as sd
from strato._testing import two_node_cluster
from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy

pytestmark = pytest.mark.timeout(120)
ROWS, BLOCKS = 4000, 8


@pytest.fixture(scope="module")
def two_nodes():
    with two_node_cluster():
        yield sorted(n["NodeID"] for n in strato.nodes() if n["Alive"])


def stamp(batch, meet=None):
    if meet:                        # tasks run in pairs, so each pair holds both nodes' one CPU
        k = 0
        while True:
            try:
                os.close(os.open(os.path.join(meet, str(k)), os.O_CREAT | os.O_EXCL))
                break
            except FileExistsError:
                k += 1
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(meet, str(k ^ 1))) and time.monotonic() < deadline:
            time.sleep(0.01)
    batch["made_on"] = [strato.get_runtime_context().get_node_id()] * len(batch["id"])
    return batch


@strato.remote(num_cpus=0)
class Reader:
    def node(self):
        return strato.get_runtime_context().get_node_id()

    def read(self, it):
        return [(int(i), m) for b in it.iter_batches(batch_size=None) for i, m in zip(b["id"], b["made_on"])]


def readers(nodes):
    return [Reader.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
            for n in nodes]


@pytest.mark.parametrize("equal", [False, True], ids=["streaming", "equal"])
def test_streaming_split_gives_each_reader_the_blocks_made_on_its_node(two_nodes, equal, tmp_path):
    ds = sd.range(ROWS, override_num_blocks=BLOCKS).map_batches(stamp, fn_kwargs={"meet": str(tmp_path)},
                                                                 scheduling_strategy="SPREAD")
    actors = readers(two_nodes)
    assert strato.get([a.node.remote() for a in actors]) == two_nodes
    its = ds.streaming_split(2, equal=equal, locality_hints=two_nodes)
    got = strato.get([a.read.remote(it) for a, it in zip(actors, its)], timeout=60)
    ids = sorted(i for rows in got for i, _ in rows)
    assert ids == list(range(ROWS))                                  # every row once
    made = {n: sum(1 for rows in got for _, m in rows if m == n) for n in two_nodes}
    assert all(made.values()), made                                  # both nodes made blocks
    for node, rows in zip(two_nodes, got):
        local = sum(1 for _, m in rows if m == node)
        assert local >= 0.9 * min(len(rows), made[node]), (node, local, len(rows), made)
    for a in actors:
        strato.kill(a)


def test_locality_hints_may_be_actors_and_must_match_n(two_nodes):
    ds = sd.range(100, override_num_blocks=2).map_batches(stamp)
    actors = readers(two_nodes)
    its = ds.streaming_split(2, locality_hints=actors)              # Ray's split takes actors: so do we
    got = strato.get([a.read.remote(it) for a, it in zip(actors, its)], timeout=60)
    assert sorted(i for rows in got for i, _ in rows) == list(range(100))
    with pytest.raises(ValueError, match="one node id or actor per split: 2 splits, 1 hints"):
        ds.streaming_split(2, locality_hints=two_nodes[:1])
    for a in actors:
        strato.kill(a)
