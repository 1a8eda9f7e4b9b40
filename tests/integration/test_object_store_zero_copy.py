"""Large values live once in the node's shared memory and are read without copies."""
import os

import numpy as np
import psutil
import pyarrow as pa
import pytest

import strato
from strato._testing import node_store_stats

CLUSTER_KWARGS = {"num_cpus": 2, "object_store_memory": 3 << 30}
SIZE = 1 << 30


def shm_used() -> int:
    st = os.statvfs("/dev/shm")
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@pytest.mark.timeout(180)
def test_a_1gb_array_read_by_two_processes_adds_no_memory_and_is_read_only(cluster):
    arr = np.ones(SIZE, dtype=np.uint8)
    before_put = shm_used()
    ref = strato.put(arr)
    del arr
    after_put = shm_used()
    assert after_put - before_put > 0.9 * SIZE          # written once into /dev/shm ...

    @strato.remote
    def read(a):
        proc = psutil.Process()
        uss0 = proc.memory_full_info().uss
        total = int(a[::4096].sum())                    # touch every page
        uss1 = proc.memory_full_info().uss
        return uss1 - uss0, proc.memory_info().rss, a.flags.writeable, total, os.getpid()

    results = strato.get([read.remote(ref), read.remote(ref)])
    pages = SIZE // 4096
    assert len({r[4] for r in results}) == 2            # two different worker processes
    for uss_delta, rss, writeable, total, _ in results:
        assert total == pages
        assert not writeable
        assert uss_delta < 0.05 * SIZE                  # ... and mapped, not copied, by each reader
        assert rss > 0.9 * SIZE                         # (the pages are resident, shared)
    assert shm_used() - after_put < 0.1 * SIZE          # ... and no second copy anywhere

    value = strato.get(ref)                             # the driver too maps the same pages
    assert not value.flags.writeable and not value.flags.owndata
    with pytest.raises(ValueError):
        value[0] = 2
    del value, ref


def test_arrow_table_roundtrip(cluster):
    n = 500_000
    table = pa.table({"i": np.arange(n), "f": np.random.default_rng(0).random(n),
                      "s": pa.array([f"row{i}" for i in range(n)])})
    ref = strato.put(table)

    @strato.remote
    def summarize(t):
        return t.num_rows, int(pc_sum(t.column("i"))), t.column("s")[123].as_py()

    def pc_sum(col):
        import pyarrow.compute as pc
        return pc.sum(col).as_py()

    back = strato.get(ref)
    assert back.equals(table)
    assert strato.get(summarize.remote(ref)) == (n, n * (n - 1) // 2, "row123")

    @strato.remote
    def make(n):
        return pa.table({"x": np.arange(n)})

    made = strato.get(make.remote(1_000_000))
    assert made.column("x").to_numpy()[-1] == 999_999


def test_small_values_stay_inline(cluster):
    before = node_store_stats()["counters"].get("created", 0)
    ref = strato.put(np.arange(100))
    assert np.array_equal(strato.get(ref), np.arange(100))
    assert node_store_stats()["counters"].get("created", 0) == before


def test_stats_name_the_call_site_of_large_objects(cluster):
    ref = strato.put(np.zeros(8 << 20, dtype=np.uint8))
    top = node_store_stats()["largest"]
    assert any(o["object_id"] == ref.hex() and "test_object_store_zero_copy.py" in o["call_site"] for o in top)
