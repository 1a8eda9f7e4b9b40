"""Streaming with bounded memory: a dataset twice the object store's size flows through
map_batches into write_parquet with every row intact, the store never filling up.

The cluster has an 80 MiB store; the data is 160 MiB, made by read tasks, mapped
by an actor pool (so every block crosses the store twice: read -> actor -> write)
and written by write tasks. A thread samples the store's use while it runs.
"""
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strato
import strato.data as sd
from strato._testing import store_stats

pytestmark = pytest.mark.timeout(120)

STORE = 80 << 20
ROWS = 5_400_000            # 4 float64/int64 columns: 173 MB, over twice the 80 MiB store
BLOCKS = 40


class Widen:
    """id -> id, a, b, c: 4 x 8 bytes a row."""

    def __call__(self, batch):
        ids = batch["id"]
        return {"id": ids, "a": ids * 2 + 1, "b": ids.astype(np.float64) / 4, "c": -ids}


class Sampler:
    def __init__(self):
        self.peak_used = 0
        self.spilled = 0
        self.trace = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            (stats,) = store_stats().values()
            self.peak_used = max(self.peak_used, stats["used"])
            self.spilled = max(self.spilled, stats.get("spilled_bytes", 0))
            self.trace.append((stats["used"] >> 20, stats["num_objects"], stats.get("spilled_bytes", 0) >> 20))
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_twice_the_store_streams_through_an_actor_pool_into_parquet(fresh_strato, tmp_path):
    strato.init(num_cpus=2, object_store_memory=STORE)
    ds = sd.range(ROWS, override_num_blocks=BLOCKS).map_batches(Widen, concurrency=1)
    with Sampler() as sampler:
        t0 = time.monotonic()
        ds.write_parquet(str(tmp_path / "out"))
        elapsed = time.monotonic() - t0
    stages = {s.name: s for s in ds._last_stats} or None
    files = sorted((tmp_path / "out").iterdir())         # named by block index: the dataset's order
    assert len(files) == BLOCKS
    table = pa.concat_tables([pq.read_table(f) for f in files])
    assert table.num_rows == ROWS
    assert table.nbytes >= 2 * STORE
    expected = np.arange(ROWS)
    np.testing.assert_array_equal(table["id"].to_numpy(), expected)
    np.testing.assert_array_equal(table["a"].to_numpy(), expected * 2 + 1)
    np.testing.assert_array_equal(table["b"].to_numpy(), expected / 4)
    np.testing.assert_array_equal(table["c"].to_numpy(), -expected)
    # bounded: the store never filled, nothing was spilled to disk
    assert sampler.peak_used < STORE, (sampler.peak_used, stages)
    assert sampler.spilled == 0, str(sampler.trace[-30:])
    print(f"{table.nbytes >> 20} MiB through an 80 MiB store in {elapsed:.1f} s; peak store use {sampler.peak_used >> 20} MiB")


def test_the_budget_bounds_what_a_slow_consumer_lets_pile_up(fresh_strato):
    """Tasks produce faster than the consumer reads: blocks waiting stay within the budget."""
    strato.init(num_cpus=2, object_store_memory=STORE)
    ctx = sd.DataContext.get_current()
    old = ctx.max_bytes_in_flight
    ctx.max_bytes_in_flight = 16 << 20
    try:
        ds = sd.range(4_000_000, override_num_blocks=16).map_batches(lambda b: {"id": b["id"], "x": b["id"] * 2})
        total = 0
        with Sampler() as sampler:
            for batch in ds.iter_batches(batch_size=None):
                time.sleep(0.05)
                total += int(batch["x"].sum())
        assert total == 2 * (4_000_000 * 3_999_999 // 2)
        # 16 blocks of 4 MB would be 64 MB if nothing held the producers back; bounded: the budget,
        # the two blocks the consumer holds (its batch and the next), one block of estimate slack
        assert sampler.peak_used <= (16 + 3 * 4 + 2) << 20, (sampler.peak_used >> 20, sampler.trace[-30:])
    finally:
        ctx.max_bytes_in_flight = old
