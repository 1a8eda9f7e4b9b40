"""Dataset: a lazy plan over Arrow blocks, with Ray Data's methods.

    ds = strato.data.read_parquet("data/").map_batches(f, batch_format="pandas")
    for batch in ds.iter_batches(batch_size=1024): ...      # streams; nothing ran before this line

Transforms return a new Dataset with one more operator (plan.py); consuming
methods run the plan with the streaming executor (executor.py) and read its
blocks as they come. `materialize()` runs it once and keeps the blocks in the
object store (a MaterializedDataset, which `split` also returns and which can
be passed to tasks and actors: it travels as its block refs).
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pyarrow as pa

import strato
from strato.data import alltoall as A
from strato.data import block as B
from strato.data import plan as P
from strato.data import transforms as T
from strato.data.context import DataContext
from strato.data.iterator import DatasetIterator, streaming_split

if TYPE_CHECKING:
    from strato.data.groupby import GroupedData

_TASK_OPTIONS = ("num_cpus", "num_gpus", "memory", "resources", "scheduling_strategy", "max_retries")


class ActorPoolStrategy:
    """compute=ActorPoolStrategy(size=n) or (min_size=, max_size=): map_batches on an actor pool."""

    def __init__(self, *, size: int | None = None, min_size: int | None = None, max_size: int | None = None,
                 max_tasks_in_flight_per_actor: int | None = None):
        if size is not None:
            min_size = max_size = size
        self.min_size = min_size or 1
        self.max_size = max_size or self.min_size
        if self.min_size < 1 or self.max_size < self.min_size:
            raise ValueError(f"ActorPoolStrategy needs 1 <= min_size <= max_size, got "
                             f"min_size={self.min_size}, max_size={self.max_size}.")
        self.max_tasks_in_flight_per_actor = max_tasks_in_flight_per_actor


def _pool_bounds(concurrency, compute) -> tuple[int, int] | None:
    if isinstance(compute, ActorPoolStrategy):
        return compute.min_size, compute.max_size
    if concurrency is None:
        return None
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency >= 1:
        return concurrency, concurrency
    if isinstance(concurrency, tuple) and len(concurrency) in (2, 3) and \
            all(isinstance(c, int) and c >= 1 for c in concurrency) and concurrency[0] <= concurrency[1]:
        return concurrency[0], concurrency[1]
    raise ValueError(f"concurrency must be an int >= 1 or a tuple (min, max) or (min, max, initial), "
                     f"got {concurrency!r}.")


def _fn_name(fn) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class Schema:
    """A dataset's columns: `.names`, `.types`, and the Arrow schema as `.base_schema`."""

    def __init__(self, schema: pa.Schema):
        self.base_schema = schema
        self.names = list(schema.names)
        self.types = list(schema.types)

    def __eq__(self, other):
        return isinstance(other, Schema) and self.base_schema.equals(other.base_schema)

    def __repr__(self) -> str:
        width = max([len("Column")] + [len(n) for n in self.names])
        lines = [f"{'Column':<{width}}  Type", f"{'-' * 6:<{width}}  ----"]
        lines += [f"{n:<{width}}  {t}" for n, t in zip(self.names, self.types)]
        return "\n".join(lines)


class Dataset:
    def __init__(self, source: P.Source, ops: tuple = ()):
        self._source = source
        self._ops = tuple(ops)
        self._last_stats: list = []

    def _with(self, op) -> Dataset:
        return Dataset(self._source, self._ops + (op,))

    # ================================================================ transforms
    def _map_op(self, name, transform, fn, *, compute=None, concurrency=None, num_cpus=None, num_gpus=None,
                memory=None, fn_constructor_args=None, fn_constructor_kwargs=None, remote_args=None):
        remote = {k: v for k, v in (remote_args or {}).items()}
        unknown = set(remote) - set(_TASK_OPTIONS)
        if unknown:
            raise ValueError(f"{name}: unknown options {sorted(unknown)}; valid: {', '.join(_TASK_OPTIONS)}.")
        for key, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus), ("memory", memory)):
            if value is not None:
                remote[key] = value
        bounds = _pool_bounds(concurrency, compute)
        if isinstance(fn, type):
            if bounds is None:
                raise ValueError(f"{name}: a callable class runs on an actor pool; say how many actors with "
                                 f"concurrency=n (or (min, max)).")
            ctx = DataContext.get_current()
            per = getattr(compute, "max_tasks_in_flight_per_actor", None) or ctx.max_tasks_in_flight_per_actor
            pool = P.ActorPoolSpec(fn, tuple(fn_constructor_args or ()), dict(fn_constructor_kwargs or {}),
                                   bounds[0], bounds[1], per)
            return self._with(P.MapOp(name, transform, tuple(sorted(remote.items(), key=str)), pool))
        if not callable(fn):
            raise TypeError(f"{name} needs a function or a callable class, got {type(fn).__name__}.")
        if fn_constructor_args or fn_constructor_kwargs:
            raise ValueError(f"{name}: fn_constructor_args/kwargs are for callable classes only.")
        if bounds is not None and bounds[0] != bounds[1]:
            raise ValueError(f"{name}: a function runs as tasks; concurrency=n bounds how many run at once, "
                             f"a (min, max) range is for callable classes (actor pools).")
        return self._with(P.MapOp(name, transform, tuple(sorted(remote.items(), key=str)),
                                  concurrency=bounds[0] if bounds else None))

    def map_batches(self, fn, *, batch_size: int | None | str = None, compute=None,
                    batch_format: str = "default", zero_copy_batch: bool = True, fn_args=None, fn_kwargs=None,
                    fn_constructor_args=None, fn_constructor_kwargs=None, num_cpus=None, num_gpus=None,
                    memory=None, concurrency=None, udf_modifying_row_count: bool = False,
                    **ray_remote_args) -> Dataset:
        """Apply fn to batches of rows. fn: a function (tasks) or a callable class (an actor pool of
        `concurrency` actors, each building the class once); it returns a batch or yields batches.
        Batches never span blocks. zero_copy_batch and udf_modifying_row_count are accepted for Ray's
        sake (batches are zero-copy Arrow slices already)."""
        fmt = B.check_batch_format(batch_format)
        if batch_size == "default":
            batch_size = DataContext.get_current().default_batch_size
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be an int >= 1 or None (whole blocks), got {batch_size!r}.")
        transform = T.MapBatches(fn, batch_size, fmt, fn_args, fn_kwargs)
        return self._map_op(f"MapBatches({_fn_name(fn)})", transform, fn, compute=compute,
                            concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus, memory=memory,
                            fn_constructor_args=fn_constructor_args, fn_constructor_kwargs=fn_constructor_kwargs,
                            remote_args=ray_remote_args)

    def map(self, fn, *, compute=None, concurrency=None, num_cpus=None, num_gpus=None, memory=None,
            fn_constructor_args=None, fn_constructor_kwargs=None, **ray_remote_args) -> Dataset:
        """fn(row dict) -> row dict, for every row."""
        return self._map_op(f"Map({_fn_name(fn)})", T.MapRows(fn), fn, compute=compute, concurrency=concurrency,
                            num_cpus=num_cpus, num_gpus=num_gpus, memory=memory,
                            fn_constructor_args=fn_constructor_args, fn_constructor_kwargs=fn_constructor_kwargs,
                            remote_args=ray_remote_args)

    def flat_map(self, fn, *, compute=None, concurrency=None, num_cpus=None, num_gpus=None, memory=None,
                 fn_constructor_args=None, fn_constructor_kwargs=None, **ray_remote_args) -> Dataset:
        """fn(row dict) -> list of row dicts, for every row."""
        return self._map_op(f"FlatMap({_fn_name(fn)})", T.FlatMapRows(fn), fn, compute=compute,
                            concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus, memory=memory,
                            fn_constructor_args=fn_constructor_args, fn_constructor_kwargs=fn_constructor_kwargs,
                            remote_args=ray_remote_args)

    def filter(self, fn, *, compute=None, concurrency=None, num_cpus=None, num_gpus=None, memory=None,
               fn_constructor_args=None, fn_constructor_kwargs=None, **ray_remote_args) -> Dataset:
        """Keep the rows for which fn(row dict) is true."""
        return self._map_op(f"Filter({_fn_name(fn)})", T.FilterRows(fn), fn, compute=compute,
                            concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus, memory=memory,
                            fn_constructor_args=fn_constructor_args, fn_constructor_kwargs=fn_constructor_kwargs,
                            remote_args=ray_remote_args)

    def select_columns(self, cols) -> Dataset:
        cols = [cols] if isinstance(cols, str) else list(cols)
        return self._with(P.MapOp("SelectColumns", T.SelectColumns(cols)))

    def drop_columns(self, cols) -> Dataset:
        cols = [cols] if isinstance(cols, str) else list(cols)
        return self._with(P.MapOp("DropColumns", T.DropColumns(cols)))

    def add_column(self, col: str, fn, *, batch_format: str = "pandas", **ray_remote_args) -> Dataset:
        """A column computed by fn(batch) (a pandas DataFrame by default): one value per row."""
        fmt = B.check_batch_format(batch_format)
        return self._map_op(f"AddColumn({col})", T.AddColumn(col, fn, fmt), fn, remote_args=ray_remote_args)

    def rename_columns(self, names) -> Dataset:
        """Rename with a dict old -> new, or give every column a new name (a list)."""
        if not isinstance(names, (dict, list, tuple)):
            raise TypeError(f"rename_columns takes a dict old -> new or a list of names, got {names!r}.")
        return self._with(P.MapOp("RenameColumns", T.RenameColumns(names)))

    def sort(self, key, descending: bool = False) -> Dataset:
        """Rows ordered by a column (or columns), as many blocks as before."""
        keys = (key,) if isinstance(key, str) else tuple(key)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise TypeError(f"sort takes a column name or a list of them, got {key!r}.")
        return self._with(P.AllToAllOp("Sort", A.sort(keys, bool(descending))))

    def union(self, *others: Dataset) -> Dataset:
        """The rows of this dataset, then those of each of `others` (lazy; blocks are kept as they are)."""
        for o in others:
            if not isinstance(o, Dataset):
                raise TypeError(f"union takes Datasets, got {type(o).__name__}.")
        return self._with(P.AllToAllOp("Union", A.union(tuple(others))))

    def unique(self, column: str) -> list:
        """The distinct values of a column."""
        return [row[column] for row in self.select_columns([column]).groupby(column).count().take_all()]

    def repartition(self, num_blocks: int, *, shuffle: bool = False) -> Dataset:
        """num_blocks blocks of near-equal rows, in order (shuffle=True: also shuffled)."""
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
            raise ValueError(f"repartition needs num_blocks, an int >= 1, got {num_blocks!r}.")
        ds = self._with(P.AllToAllOp("Repartition", A.repartition(num_blocks), num_blocks))
        return ds.random_shuffle() if shuffle else ds

    def random_shuffle(self, *, seed: int | None = None, num_blocks: int | None = None) -> Dataset:
        """Rows in a random order (the same order again for the same seed and blocks)."""
        ds = self.repartition(num_blocks) if num_blocks else self
        return ds._with(P.AllToAllOp("RandomShuffle", A.random_shuffle(seed)))

    def limit(self, limit: int) -> Dataset:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit needs an int >= 0, got {limit!r}.")
        return self._with(P.LimitOp(limit))

    def groupby(self, key) -> GroupedData:
        """Group rows by a column (or a list of columns) for count/sum/mean/min/max."""
        from strato.data.groupby import GroupedData
        return GroupedData(self, key)

    def sum(self, on=None):
        return self._global("sum", on)

    def mean(self, on=None):
        return self._global("mean", on)

    def min(self, on=None):
        return self._global("min", on)

    def max(self, on=None):
        return self._global("max", on)

    def _global(self, kind, on):
        from strato.data.groupby import GroupedData
        ds = getattr(GroupedData(self, None), kind)(on)
        rows = ds.take_all()
        if not rows:
            return None
        row = rows[0]
        return row[next(iter(row))] if len(row) == 1 else row

    # ================================================================ execution
    def _execute(self, progress: bool = True):
        from strato.data.executor import execute
        from strato.data.progress import NullProgress, make_progress
        ctx = DataContext.get_current()
        if not strato.is_initialized():
            strato.init()
        bar = make_progress(ctx) if progress else NullProgress()
        return execute(self._source, self._ops, ctx, bar, self._last_stats)

    def _blocks(self) -> list[tuple]:
        if not self._ops:
            if not self._source.is_read:
                return list(self._source.blocks)
        return list(self._execute())

    def materialize(self) -> MaterializedDataset:
        """Run the plan once and keep its blocks in the object store."""
        if isinstance(self, MaterializedDataset):
            return self
        return MaterializedDataset(self._blocks(), stats=self._last_stats)

    def iterator(self) -> DatasetIterator:
        return DatasetIterator(self, MaterializedDataset)

    def iter_batches(self, *, prefetch_batches: int = 1, batch_size: int | None = 256,
                     batch_format: str = "default", drop_last: bool = False,
                     local_shuffle_buffer_size: int | None = None, local_shuffle_seed: int | None = None):
        return self.iterator().iter_batches(prefetch_batches=prefetch_batches, batch_size=batch_size,
                                            batch_format=batch_format, drop_last=drop_last,
                                            local_shuffle_buffer_size=local_shuffle_buffer_size,
                                            local_shuffle_seed=local_shuffle_seed)

    def iter_rows(self):
        return self.iterator().iter_rows()

    def take(self, limit: int = 20) -> list[dict]:
        rows = []
        it = self.limit(limit)._execute()
        try:
            for ref, meta in it:
                rows += B.table_to_rows(strato.get(ref))
        finally:
            it.close()
        return rows[:limit]

    def take_all(self, limit: int | None = None) -> list[dict]:
        rows = []
        for ref, meta in self._execute():
            rows += B.table_to_rows(strato.get(ref))
            if limit is not None and len(rows) > limit:
                raise ValueError(f"The dataset has more than {limit} rows (take_all(limit={limit})).")
        return rows

    def take_batch(self, batch_size: int = 20, *, batch_format: str = "default"):
        fmt = B.check_batch_format(batch_format)
        tables = [strato.get(ref) for ref, _ in self.limit(batch_size)._execute()]
        return B.to_batch(B.concat(tables) if tables else pa.table({}), fmt)

    def show(self, limit: int = 20) -> None:
        for row in self.take(limit):
            print(row)

    def count(self) -> int:
        """Rows; from metadata alone when the plan is only a source whose counts are known."""
        if not self._ops:
            if self._source.is_read and all(t.num_rows is not None for t in self._source.read_tasks):
                return sum(t.num_rows for t in self._source.read_tasks)
            if not self._source.is_read:
                return sum(m.num_rows for _, m in self._source.blocks)
        return sum(meta.num_rows for _, meta in self._execute())

    def schema(self, fetch_if_missing: bool = True) -> Schema | None:
        """The columns and their types; runs the plan only up to its first block when it must
        (and may: fetch_if_missing=False returns None instead)."""
        if not self._ops:
            items = self._source.read_tasks or [m for _, m in self._source.blocks]
            schemas = [i.schema for i in items if i.schema is not None]
            if schemas:
                return Schema(schemas[0])
        if not fetch_if_missing:
            return None
        it = self._execute(progress=False)
        try:
            for _, meta in it:
                if meta.schema is not None and (meta.schema.names or meta.num_rows):
                    return Schema(meta.schema)
        finally:
            it.close()
        return None

    def columns(self, fetch_if_missing: bool = True) -> list[str] | None:
        s = self.schema(fetch_if_missing)
        return None if s is None else s.names

    def num_blocks(self) -> int:
        """Blocks the dataset has (materialized) or will have when it runs (one per read task)."""
        for op in reversed(self._ops):
            if isinstance(op, P.AllToAllOp) and op.num_blocks is not None:
                return op.num_blocks
        return self._source.num_items()

    def size_bytes(self) -> int:
        return sum(m.size_bytes for _, m in self.materialize()._source.blocks)

    def to_pandas(self, limit: int | None = None):
        """All rows in one pandas DataFrame."""
        refs = [ref for ref, _ in self._blocks()]
        tables = strato.get(refs) if refs else []       # one get for every block: zero-copy when local
        table = B.concat(tables) if tables else pa.table({})
        if limit is not None and table.num_rows > limit:
            raise ValueError(f"The dataset has {table.num_rows} rows, more than limit={limit}.")
        return B.table_to_pandas(table)

    def to_arrow_refs(self) -> list:
        return [ref for ref, _ in self._blocks()]

    def to_pandas_refs(self) -> list:
        return [_to_pandas.remote(ref) for ref, _ in self._blocks()]

    def to_numpy_refs(self, *, column: str | None = None) -> list:
        return [_to_numpy.remote(ref, column) for ref, _ in self._blocks()]

    def write_parquet(self, path: str, **arrow_parquet_args) -> None:
        """Write each block as a parquet file under `path` (a directory, created if needed)."""
        prefix = uuid.uuid4().hex[:12]
        ds = self._with(P.MapOp("Write", T.WriteParquet(str(path), prefix, **arrow_parquet_args)))
        for _ in ds._execute():
            pass

    def split(self, n: int, *, equal: bool = False, locality_hints: list | None = None) -> list:
        """n MaterializedDatasets of (near) equal rows; see split.py for the rules."""
        from strato.data import split as S
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"split needs n, an int >= 1, got {n!r}.")
        if locality_hints is not None and len(locality_hints) != n:
            raise ValueError(f"locality_hints must name one actor per split: {n} splits, "
                             f"{len(locality_hints)} hints.")
        blocks = self._blocks()
        counts = [m.num_rows for _, m in blocks]
        if locality_hints is not None:
            shards = S.locality_order(counts, [m.node_id for _, m in blocks], S.hint_nodes(locality_hints),
                                      equal)
        else:
            shards = S.split_rows(counts, n, equal)
        return [MaterializedDataset(shard) for shard in S.cut(blocks, shards)]

    def streaming_split(self, n: int, *, equal: bool = False, locality_hints: list | None = None) -> list:
        """n DataIterators fed by one execution (a coordinator actor hands out the blocks).
        locality_hints: one node id (hex, as Ray takes) or actor per iterator; blocks made on an
        iterator's node go to it first (split.LocalityHandout)."""
        from strato.data import split as S
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"streaming_split needs n, an int >= 1, got {n!r}.")
        if locality_hints is not None and len(locality_hints) != n:
            raise ValueError(f"locality_hints must name one node id or actor per split: {n} splits, "
                             f"{len(locality_hints)} hints.")
        nodes = S.hint_nodes(locality_hints) if locality_hints is not None else None
        return streaming_split(self, n, equal, MaterializedDataset, nodes)

    def stats(self) -> str:
        """What the last execution did, one line per operator."""
        if not self._last_stats:
            return "No execution yet: consume the dataset (e.g. materialize()) first."
        return "\n".join(s.summary() for s in self._last_stats)

    def __repr__(self) -> str:
        return P.describe(self._source, self._ops)

    def __iter__(self):
        raise TypeError("A Dataset is not iterable: use iter_rows() or iter_batches().")


class MaterializedDataset(Dataset):
    """A dataset whose blocks are in the object store; passing it to a task or actor passes the refs."""

    def __init__(self, blocks: list, stats=None):
        super().__init__(P.Source("InputBlocks", blocks=tuple(blocks)))
        self._last_stats = list(stats or [])

    def num_blocks(self) -> int:
        return len(self._source.blocks)

    def _renamed(self, name: str) -> MaterializedDataset:
        """The same blocks under a source name (FromPandas, ...) for plans and progress bars."""
        self._source = P.Source(name, blocks=self._source.blocks)
        return self

    def __repr__(self) -> str:
        metas = [m for _, m in self._source.blocks]
        schema = next((m.schema for m in metas if m.schema is not None and m.schema.names), None)
        cols = "{" + ", ".join(f"{f.name}: {f.type}" for f in schema) + "}" if schema is not None else "{}"
        return (f"MaterializedDataset(num_blocks={len(metas)}, num_rows={sum(m.num_rows for m in metas)}, "
                f"schema={cols})")


@strato.remote
def _to_pandas(table):
    return B.table_to_pandas(table)


@strato.remote
def _to_numpy(table, column):
    batch = B.to_batch(table, "numpy")
    if column is not None:
        return batch[column]
    return batch if len(batch) != 1 else next(iter(batch.values()))
