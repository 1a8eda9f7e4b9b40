"""A store smaller than the data spills primaries to disk and restores them on get."""
import numpy as np

import strato
from strato._testing import digest, node_store_stats, wait_collected

CLUSTER_KWARGS = {"num_cpus": 2, "object_store_memory": 100 << 20}
MiB = 1 << 20


def test_puts_beyond_capacity_spill_and_every_value_comes_back_intact(cluster):
    refs, sums = [], []
    for i in range(20):                                   # 20 x 16 MiB into a 100 MiB store
        arr = np.random.default_rng(i).integers(0, 255, 16 * MiB, dtype=np.uint8)
        sums.append(digest(arr))
        refs.append(strato.put(arr))
    st = node_store_stats()
    assert st["num_spilled"] > 0 and st["spilled_bytes"] > 0
    assert st["used"] <= st["capacity"]
    for ref, want in zip(refs, sums):                     # restored transparently, one after another
        assert digest(strato.get(ref)) == want

    @strato.remote
    def check(a):
        return digest(a)

    assert strato.get([check.remote(r) for r in refs[:5]]) == sums[:5]
    assert node_store_stats()["counters"].get("restored", 0) > 0
    del refs, ref
    assert wait_collected(lambda: node_store_stats()["num_objects"] == 0 and node_store_stats()["used"] == 0), node_store_stats()


def test_task_returns_beyond_capacity_spill_too(cluster):
    @strato.remote
    def make(i):
        return np.full(12 * MiB, i % 251, dtype=np.uint8)

    refs = [make.remote(i) for i in range(15)]
    strato.wait(refs, num_returns=len(refs), timeout=60)
    for i, ref in enumerate(refs):
        a = strato.get(ref)
        assert a[0] == i % 251 and a[-1] == i % 251
        del a
    del refs, ref
    assert wait_collected(lambda: node_store_stats()["num_objects"] == 0), node_store_stats()
