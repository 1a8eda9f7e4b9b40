"""Sources: where a dataset's blocks come from.

Two kinds, both described by `Source` (plan.py):

* read tasks -- `range`, `read_parquet`, `read_csv` -- small picklable
  descriptions (`ReadTask`) run as cluster tasks when the dataset executes,
  one block per task, so nothing is read until a consumer asks;
* blocks already in the object store -- `from_items`, `from_numpy`,
  `from_pandas`, `from_arrow` -- put there by the driver when called.

Parquet is split by row groups: consecutive row groups of one file are read
by one task until about TARGET_BLOCK_BYTES (uncompressed) are gathered, so a
file of many small groups is not a task per group, and a large file is read
in parallel. Row counts and the schema come from the files' footers, so
`count()` and `schema()` of a fresh `read_parquet` read no data.
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pyarrow as pa

from strato.data import block as B

TARGET_BLOCK_BYTES = 64 << 20


def default_num_blocks(num_rows: int, est_bytes: int, cpus: int) -> int:
    """Blocks for an in-memory or generated source: enough to keep every CPU busy twice over,
    more when blocks would exceed TARGET_BLOCK_BYTES, never more than rows."""
    want = max(2 * max(1, cpus), math.ceil(est_bytes / TARGET_BLOCK_BYTES))
    return max(1, min(num_rows, want))


def cluster_cpus() -> int:
    import strato
    if not strato.is_initialized():
        strato.init()
    return max(1, int(strato.cluster_resources().get("CPU", 1)))


@dataclasses.dataclass(frozen=True)
class ReadTask:
    """One block's worth of reading. `read()` runs in a task; the rest is known up front."""
    name: str
    num_rows: int | None
    size_bytes: int | None
    schema: pa.Schema | None

    def read(self) -> pa.Table:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class RangeRead(ReadTask):
    start: int = 0
    stop: int = 0

    def read(self) -> pa.Table:
        return pa.table({"id": pa.array(np.arange(self.start, self.stop, dtype=np.int64))})


@dataclasses.dataclass(frozen=True)
class ParquetRead(ReadTask):
    path: str = ""
    row_groups: tuple = ()
    columns: tuple | None = None

    def read(self) -> pa.Table:
        import pyarrow.parquet as pq
        f = pq.ParquetFile(self.path)
        return f.read_row_groups(list(self.row_groups), columns=list(self.columns) if self.columns else None)


@dataclasses.dataclass(frozen=True)
class CsvRead(ReadTask):
    path: str = ""
    options: tuple = ()

    def read(self) -> pa.Table:
        from pyarrow import csv
        return csv.read_csv(self.path, **dict(self.options))


# ------------------------------------------------------------------ file listing
def expand_paths(paths, extensions: tuple[str, ...], what: str) -> list[str]:
    """Files named by `paths` (a path or a list; directories are searched recursively for
    `extensions`), sorted within each directory. Raises FileNotFoundError with the missing path."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ValueError(f"{what} needs a path or a non-empty list of paths, got {paths!r}.")
    files: list[str] = []
    for p in map(os.fspath, paths):
        if os.path.isdir(p):
            found = []
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                found += [os.path.join(root, n) for n in sorted(names)
                          if n.endswith(extensions) and not n.startswith((".", "_"))]
            files += found
        elif os.path.exists(p):
            files.append(p)
        else:
            raise FileNotFoundError(f"{what}: no such file or directory: {p!r}.")
    if not files:
        raise FileNotFoundError(f"{what}: no {'/'.join(extensions)} files under {list(map(os.fspath, paths))!r}.")
    return files


def parquet_read_tasks(paths, columns=None, num_blocks: int | None = None) -> list[ParquetRead]:
    """Read tasks of about TARGET_BLOCK_BYTES each; with num_blocks, of about total / num_blocks
    (never finer than one row group, nor across files)."""
    import pyarrow.parquet as pq
    files = expand_paths(paths, (".parquet", ".parq", ".pq"), "read_parquet")
    footers = [pq.ParquetFile(p) for p in files]
    target = TARGET_BLOCK_BYTES
    if num_blocks is not None:
        check_num_blocks(num_blocks)
        total = sum(f.metadata.row_group(i).total_byte_size for f in footers
                    for i in range(f.metadata.num_row_groups))
        target = max(1, total // num_blocks)
    if columns is not None:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise TypeError(f"read_parquet(columns=...) takes a list of column names, got {columns!r}.")
        columns = tuple(columns)
    tasks = []
    for path, f in zip(files, footers):
        schema = f.schema_arrow
        if columns is not None:
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise ValueError(f"read_parquet: columns {missing} are not in {path!r}; "
                                 f"its columns are {schema.names}.")
            schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
        meta = f.metadata
        if meta.num_row_groups == 0:
            continue
        share = (len(columns) / max(1, len(f.schema_arrow.names))) if columns else 1.0
        group, rows, size = [], 0, 0
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            group.append(i)
            rows += rg.num_rows
            size += int(rg.total_byte_size * share)
            if size >= target or i == meta.num_row_groups - 1:
                name = f"{os.path.basename(path)}[{group[0]}:{group[-1] + 1}]"
                tasks.append(ParquetRead(name, rows, size, schema, path=path, row_groups=tuple(group),
                                         columns=columns))
                group, rows, size = [], 0, 0
    if not tasks:
        raise ValueError(f"read_parquet: the files {files} hold no row groups.")
    return tasks


def csv_read_tasks(paths, **arrow_csv_args) -> list[CsvRead]:
    files = expand_paths(paths, (".csv",), "read_csv")
    options = tuple(sorted(arrow_csv_args.items()))
    return [CsvRead(os.path.basename(p), None, os.path.getsize(p), None, path=p, options=options)
            for p in files]


def range_read_tasks(n: int, num_blocks: int | None) -> list[RangeRead]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"range(n) needs an int n >= 0, got {n!r}.")
    n = int(n)
    if num_blocks is None:
        num_blocks = default_num_blocks(n, 8 * n, cluster_cpus())
    check_num_blocks(num_blocks)
    schema = pa.schema([pa.field("id", pa.int64())])
    bounds = np.linspace(0, n, max(1, num_blocks) + 1).astype(int) if n else np.array([0, 0])
    return [RangeRead(f"range[{a}:{b}]", int(b - a), int(8 * (b - a)), schema, start=int(a), stop=int(b))
            for a, b in zip(bounds[:-1], bounds[1:])]


def check_num_blocks(num_blocks) -> None:
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
        raise ValueError(f"override_num_blocks must be an int >= 1, got {num_blocks!r}.")


# ------------------------------------------------------------------ in-memory sources
def put_tables(tables: list[pa.Table]) -> list[tuple]:
    """Put tables in the object store: [(ref, BlockMetadata)] for a Source of blocks."""
    import strato
    if not strato.is_initialized():
        strato.init()
    return [(strato.put(t), B.BlockMetadata.of(t)) for t in tables]


def split_table(table: pa.Table, num_blocks: int) -> list[pa.Table]:
    bounds = np.linspace(0, table.num_rows, num_blocks + 1).astype(int)
    return [table.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:])]


def items_tables(items, num_blocks: int | None) -> list[pa.Table]:
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"from_items takes a list, got {type(items).__name__}.")
    items = list(items)
    if num_blocks is None:
        num_blocks = default_num_blocks(len(items), 0, cluster_cpus())
    check_num_blocks(num_blocks)
    bounds = np.linspace(0, len(items), num_blocks + 1).astype(int)
    return [B.items_to_table(items[a:b]) for a, b in zip(bounds[:-1], bounds[1:])] if items \
        else [B.items_to_table([])]


def numpy_tables(arrays) -> list[pa.Table]:
    arrays = arrays if isinstance(arrays, list) else [arrays]
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"from_numpy takes a numpy array or a list of them, got {type(a).__name__}.")
        if a.ndim == 0:
            raise ValueError("from_numpy needs arrays of at least one dimension (rows first), got a scalar.")
    return [B.table_from_columns({"data": a}) for a in arrays]


def pandas_tables(dfs) -> list[pa.Table]:
    import pandas as pd
    dfs = dfs if isinstance(dfs, list) else [dfs]
    for df in dfs:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_pandas takes a DataFrame or a list of them, got {type(df).__name__}.")
    return [B.pandas_to_table(df) for df in dfs]


def arrow_tables(tables) -> list[pa.Table]:
    tables = tables if isinstance(tables, list) else [tables]
    for t in tables:
        if not isinstance(t, pa.Table):
            raise TypeError(f"from_arrow takes a pyarrow.Table or a list of them, got {type(t).__name__}.")
    return tables
