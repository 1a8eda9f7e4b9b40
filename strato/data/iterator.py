"""Consuming a dataset batch by batch: DataIterator, and streaming_split's coordinator.

    ds.iter_batches(batch_size=256, batch_format="numpy")   blocks -> batches of exactly batch_size rows
    it = ds.streaming_split(2)[0]; it.iter_batches(...)      one of n iterators fed by one execution

`rebatch` cuts the stream of blocks into batches: slices of a block are
zero-copy, and a batch that spans blocks is concatenated. A DataIterator
fetches each block (strato.get: zero-copy from the local store) while the
executor keeps the next ones in flight.

streaming_split's n iterators share one execution run by a coordinator actor
(threaded, one thread per consumer). A consumer asks it for the next block of
an epoch; with equal=False blocks go to whoever asks first, so a slow consumer
gets fewer; with equal=True the epoch is materialized and cut into n equal
shards first. An epoch starts once every consumer has finished the previous
one (the barrier Ray Data has), and the iterators can be passed to actors.
"""
from __future__ import annotations

import threading

import pyarrow as pa

import strato
from strato.data import block as B


def rebatch(tables, batch_size: int | None, drop_last: bool = False):
    """Tables of exactly batch_size rows (the last may be short unless drop_last) from a stream
    of tables; batch_size None passes each non-empty table through."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be an int >= 1 or None, got {batch_size!r}.")
    buffer, buffered = [], 0
    for t in tables:
        if batch_size is None:
            if t.num_rows:
                yield t
            continue
        offset = 0
        while offset < t.num_rows:
            take = min(batch_size - buffered, t.num_rows - offset)
            buffer.append(t.slice(offset, take))
            buffered += take
            offset += take
            if buffered == batch_size:
                yield buffer[0] if len(buffer) == 1 else B.concat(buffer)
                buffer, buffered = [], 0
    if buffered and not drop_last:
        yield buffer[0] if len(buffer) == 1 else B.concat(buffer)


def fetch(blocks, prefetch: int = 1):
    """Tables from a stream of (ref, meta), asking for the next `prefetch` blocks' values ahead."""
    window: list = []
    for ref, meta in blocks:
        window.append(ref)
        if len(window) > prefetch:
            yield strato.get(window.pop(0))
    for ref in window:
        yield strato.get(ref)


class DataIterator:
    """Ray Data's DataIterator: iter_batches / iter_rows over a dataset or one streaming split."""

    def _blocks(self):
        raise NotImplementedError

    def iter_batches(self, *, prefetch_batches: int = 1, batch_size: int | None = 256,
                     batch_format: str = "default", drop_last: bool = False,
                     local_shuffle_buffer_size: int | None = None, local_shuffle_seed: int | None = None):
        fmt = B.check_batch_format(batch_format)
        tables = fetch(self._blocks(), max(0, int(prefetch_batches)))
        if local_shuffle_buffer_size:
            tables = _local_shuffle(tables, local_shuffle_buffer_size, local_shuffle_seed)
        for t in rebatch(tables, batch_size, drop_last):
            yield B.to_batch(t, fmt)

    def iter_rows(self):
        for t in fetch(self._blocks()):
            yield from B.table_to_rows(t)

    def materialize(self):
        """This iterator's rows (one epoch) as a MaterializedDataset."""
        return self._materialized(list(self._blocks()))

    def to_pandas(self):
        return self.materialize().to_pandas()


def _local_shuffle(tables, buffer_rows: int, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    buffer, rows = [], 0
    for t in tables:
        buffer.append(t)
        rows += t.num_rows
        if rows >= 2 * buffer_rows:
            merged = B.concat(buffer)
            merged = merged.take(pa.array(rng.permutation(merged.num_rows)))
            yield merged.slice(0, rows - buffer_rows)
            buffer, rows = [merged.slice(rows - buffer_rows)], buffer_rows
    if rows:
        merged = B.concat(buffer)
        yield merged.take(pa.array(rng.permutation(merged.num_rows)))


class DatasetIterator(DataIterator):
    def __init__(self, ds, materialized):
        self._ds = ds
        self._materialized = materialized     # MaterializedDataset (dataset.py imports this module)

    def _blocks(self):
        return self._ds._execute()


class _SplitCoordinator:
    """The actor behind streaming_split: one execution per epoch, handed out to n consumers
    (with locality_hints, blocks go to the consumers on their nodes first: split.LocalityHandout)."""

    def __init__(self, ds, n: int, equal: bool, nodes: list | None = None):
        self.ds = ds
        self.n = n
        self.equal = equal
        self.nodes = nodes or [None] * n
        self.cond = threading.Condition()
        self.epoch = -1
        self.finished: set = set()
        self.stream = None
        self.stream_done = False
        self.handout = None
        self.shards: list = []
        self.busy = False

    def _start(self, epoch: int) -> None:
        from strato.data import split as S
        self.epoch = epoch
        self.finished = set()
        if self.equal:
            blocks = list(self.ds._execute(progress=False))
            counts = [m.num_rows for _, m in blocks]
            if any(self.nodes):
                slices = S.locality_order(counts, [m.node_id for _, m in blocks], self.nodes, True)
            else:
                slices = S.split_rows(counts, self.n, True)
            self.shards = S.cut(blocks, slices)
            self.stream = None
        else:
            self.stream = self.ds._execute(progress=False)
            self.stream_done = False
            self.handout = S.LocalityHandout(self.nodes, hold=2 * self.n)

    def next_block(self, index: int, epoch: int):
        """[block ref, meta] for consumer `index` in `epoch`, or None when its epoch is over."""
        with self.cond:
            while epoch > self.epoch and self.epoch >= 0 and len(self.finished) < self.n:
                self.cond.wait()                 # the barrier: others still finishing the epoch
            if epoch > self.epoch:
                self._start(epoch)
            if epoch < self.epoch or index in self.finished:
                return None
            if self.equal:
                shard = self.shards[index]
                if shard:
                    return list(shard.pop(0))
                return self._finish(index)
            while True:                          # one consumer pulls from the stream at a time
                item = self.handout.take_for(index)
                if item is not None:
                    return list(item)
                if not self.busy:
                    break
                self.cond.wait()
            if self.stream_done:
                item = self.handout.take_any()
                return list(item) if item is not None else self._finish(index)
            self.busy = True
        try:
            while True:
                item = next(self.stream, None)
                with self.cond:
                    if item is None:
                        self.stream_done = True
                        item = self.handout.take_for(index) or self.handout.take_any()
                        return list(item) if item is not None else self._finish(index)
                    given = self.handout.offer(index, item, item[1].node_id, set(range(self.n)) - self.finished)
                    if given is not None:
                        return list(given)
                    self.cond.notify_all()          # held for another consumer: it may be waiting
        finally:
            with self.cond:
                self.busy = False
                self.cond.notify_all()

    def _finish(self, index: int) -> None:
        """(Under the lock.) Consumer `index` has read its whole epoch."""
        self.finished.add(index)
        self.cond.notify_all()
        return None


class SplitIterator(DataIterator):
    """One of streaming_split's iterators; picklable, so it can be passed to an actor."""

    def __init__(self, coordinator, index: int, n: int, materialized):
        self._materialized = materialized
        self._coordinator = coordinator
        self._index = index
        self._n = n
        self._epoch = 0

    def _blocks(self):
        epoch = self._epoch
        self._epoch += 1
        while True:
            got = strato.get(self._coordinator.next_block.remote(self._index, epoch))
            if got is None:
                return
            yield got[0], got[1]

    def __repr__(self) -> str:
        return f"DataIterator(streaming_split {self._index} of {self._n})"


def streaming_split(ds, n: int, equal: bool, materialized, nodes: list | None = None) -> list[SplitIterator]:
    """n iterators over one execution; `nodes`: each iterator's node id (hex) to steer blocks to, or None."""
    coordinator = strato.remote(_SplitCoordinator).options(num_cpus=0, max_concurrency=n + 1).remote(
        ds, n, equal, nodes)
    return [SplitIterator(coordinator, i, n, materialized) for i in range(n)]
