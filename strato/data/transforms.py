"""Row and batch transforms: picklable callables block -> block, run inside tasks or actors.

The driver builds these from `map_batches`, `map`, `flat_map`, `filter`,
`select_columns`, `drop_columns` and `write_parquet`; consecutive ones of
compatible resources are fused and run one after the other on each block in
a single task (plan.py). A user's exception passes through unchanged, so the
task error the driver sees is an instance of the user's exception class.
"""
from __future__ import annotations

import os
import types

import pyarrow as pa

from strato.data import block as B


def _name(fn) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class MapBatches:
    """Apply fn to batches of `batch_size` rows of each block (None: the whole block)."""

    def __init__(self, fn, batch_size, batch_format, fn_args=(), fn_kwargs=None):
        self.fn = fn
        self.batch_size = batch_size
        self.batch_format = batch_format
        self.fn_args = tuple(fn_args or ())
        self.fn_kwargs = dict(fn_kwargs or {})

    def bind(self, fn) -> MapBatches:
        """The same transform calling `fn` (an actor's instance of the user's class)."""
        return MapBatches(fn, self.batch_size, self.batch_format, self.fn_args, self.fn_kwargs)

    def __call__(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        step = n if not self.batch_size else self.batch_size
        out = []
        for start in range(0, max(n, 1), max(step, 1)):
            batch = B.to_batch(table.slice(start, step), self.batch_format)
            result = self.fn(batch, *self.fn_args, **self.fn_kwargs)
            if result is None:
                raise TypeError(f"map_batches: {_name(self.fn)} returned None; return the batch "
                                f"(a dict of arrays, a DataFrame or a pyarrow.Table).")
            if isinstance(result, types.GeneratorType):     # a generator of batches, as Ray allows
                out.extend(B.from_batch(r, f"map_batches' function {_name(self.fn)}") for r in result)
            else:
                out.append(B.from_batch(result, f"map_batches' function {_name(self.fn)}"))
            if n == 0:
                break
        return B.concat(out)


class _RowFn:
    def __init__(self, fn):
        self.fn = fn

    def bind(self, fn):
        """The same transform calling `fn` (an actor's instance of the user's class)."""
        return type(self)(fn)


class MapRows(_RowFn):

    def __call__(self, table: pa.Table) -> pa.Table:
        rows = [self.fn(row) for row in B.table_to_rows(table)]
        return B.table_from_rows(rows, f"map's function {_name(self.fn)}") if rows else table.slice(0, 0)


class FlatMapRows(_RowFn):
    def __call__(self, table: pa.Table) -> pa.Table:
        rows = []
        for row in B.table_to_rows(table):
            produced = self.fn(row)
            if isinstance(produced, dict):
                raise TypeError(f"flat_map's function {_name(self.fn)} must return a list of row dicts, "
                                f"got a dict; wrap it in a list or use map().")
            rows.extend(produced)
        return B.table_from_rows(rows, f"flat_map's function {_name(self.fn)}") if rows \
            else pa.table({})


class FilterRows(_RowFn):
    def __call__(self, table: pa.Table) -> pa.Table:
        keep = [bool(self.fn(row)) for row in B.table_to_rows(table)]
        return table.filter(pa.array(keep, pa.bool_())) if keep else table


class SelectColumns:
    def __init__(self, cols):
        self.cols = list(cols)

    def __call__(self, table: pa.Table) -> pa.Table:
        missing = [c for c in self.cols if c not in table.column_names]
        if missing:
            raise KeyError(f"select_columns: no columns {missing}; the dataset has {table.column_names}.")
        return table.select(self.cols)


class DropColumns:
    def __init__(self, cols):
        self.cols = list(cols)

    def __call__(self, table: pa.Table) -> pa.Table:
        missing = [c for c in self.cols if c not in table.column_names]
        if missing:
            raise KeyError(f"drop_columns: no columns {missing}; the dataset has {table.column_names}.")
        return table.drop_columns(self.cols)


class AddColumn:
    """A new column from fn(batch) in `batch_format` (Ray's add_column)."""

    def __init__(self, col: str, fn, batch_format: str):
        self.col = col
        self.fn = fn
        self.batch_format = batch_format

    def __call__(self, table: pa.Table) -> pa.Table:
        values = self.fn(B.to_batch(table, self.batch_format))
        if hasattr(values, "to_numpy") and not isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = values.to_numpy()
        column = B.table_from_columns({self.col: values})
        if column.num_rows != table.num_rows:
            raise ValueError(f"add_column: {_name(self.fn)} returned {column.num_rows} values for a batch of "
                             f"{table.num_rows} rows; return one value per row.")
        if self.col in table.column_names:
            table = table.drop_columns([self.col])
        return table.append_column(column.schema.field(0), column.column(0))


class RenameColumns:
    def __init__(self, names):
        self.names = names

    def __call__(self, table: pa.Table) -> pa.Table:
        if isinstance(self.names, dict):
            missing = [c for c in self.names if c not in table.column_names]
            if missing:
                raise KeyError(f"rename_columns: no columns {missing}; the dataset has {table.column_names}.")
            return table.rename_columns([self.names.get(c, c) for c in table.column_names])
        if len(self.names) != table.num_columns:
            raise ValueError(f"rename_columns: {len(self.names)} names for {table.num_columns} columns "
                             f"{table.column_names}; give one name per column, or a dict old -> new.")
        return table.rename_columns(list(self.names))


class WriteParquet:
    """Write each block to `path/{prefix}_{block index:06}.parquet`; the output block says what was written."""

    def __init__(self, path: str, prefix: str, **arrow_args):
        self.path = path
        self.prefix = prefix
        self.arrow_args = arrow_args

    def __call__(self, table: pa.Table, index: int = 0) -> pa.Table:
        import pyarrow.parquet as pq
        os.makedirs(self.path, exist_ok=True)
        name = os.path.join(self.path, f"{self.prefix}_{index:06d}.parquet")
        if table.num_rows or table.num_columns:
            pq.write_table(table, name, **self.arrow_args)
            written = [name]
        else:
            written = []
        return pa.table({"path": pa.array(written, pa.string()),
                         "num_rows": pa.array([table.num_rows] * len(written), pa.int64())})


def apply(transforms, table: pa.Table, index: int) -> pa.Table:
    """Run fused transforms in order; a writer also gets the block's index (its file name)."""
    for t in transforms:
        table = t(table, index) if isinstance(t, WriteParquet) else t(table)
    return table
