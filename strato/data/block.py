"""Blocks: the unit of data. A block is a `pyarrow.Table`; these helpers build, slice and convert them.

Batch formats (the `batch_format=` of map_batches / iter_batches, as in Ray Data):

    "default" / "numpy"  dict of column name -> numpy array
    "pandas"             pandas.DataFrame
    "pyarrow"            pyarrow.Table

Columns of multi-dimensional numpy arrays (from_numpy of images, a model's
embeddings) are stored as Arrow fixed-size lists whose field metadata keeps
the per-row shape, and come back as arrays of shape (rows, *shape).
Rows (map, filter, flat_map, take) are dicts of column name -> value.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa

BATCH_FORMATS = ("default", "numpy", "pandas", "pyarrow")
_SHAPE_KEY = b"strato.tensor_shape"


@dataclasses.dataclass(frozen=True)
class BlockMetadata:
    """What the driver knows of a block without fetching it."""
    num_rows: int
    size_bytes: int
    schema: pa.Schema | None
    node_id: str | None = None

    @classmethod
    def of(cls, table: pa.Table, node_id: str | None = None) -> BlockMetadata:
        return cls(table.num_rows, table.nbytes, table.schema, node_id)


def check_batch_format(batch_format: str | None) -> str:
    if batch_format is None:
        return "default"
    if batch_format not in BATCH_FORMATS:
        raise ValueError(f"batch_format must be one of {', '.join(map(repr, BATCH_FORMATS))}, "
                         f"got {batch_format!r}.")
    return batch_format


# ------------------------------------------------------------------ numpy <-> Arrow columns
def _tensor_column(array: np.ndarray) -> tuple[pa.Array, dict | None]:
    """An n-d array (n >= 2) as a fixed-size list column, with its per-row shape for the field metadata."""
    shape = array.shape[1:]
    inner = int(np.prod(shape)) if shape else 1
    flat = np.ascontiguousarray(array).reshape(-1)
    values = pa.array(flat)
    return pa.FixedSizeListArray.from_arrays(values, inner), {_SHAPE_KEY: json.dumps(list(shape)).encode()}


def _to_arrow_column(values) -> tuple[pa.Array, dict | None]:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values, None
    if not isinstance(values, np.ndarray):
        if len(values) and all(isinstance(v, np.ndarray) for v in values):
            values = np.stack(values)
        else:
            return pa.array(values), None
    if values.ndim >= 2:
        return _tensor_column(values)
    if values.dtype == object:
        if len(values) and all(isinstance(v, np.ndarray) for v in values):
            return _tensor_column(np.stack(list(values)))
        return pa.array(list(values)), None
    return pa.array(values), None


def table_from_columns(columns: dict) -> pa.Table:
    """A block from a dict of column name -> numpy array / list / Arrow array."""
    if not isinstance(columns, dict):
        raise TypeError(f"expected a dict of column name -> array, got {type(columns).__name__}")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"All columns of a batch must have the same length, got {lengths}.")
    arrays, fields = [], []
    for name, values in columns.items():
        arr, meta = _to_arrow_column(values)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arrays.append(arr)
        fields.append(pa.field(str(name), arr.type, metadata=meta))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def column_to_numpy(column: pa.ChunkedArray, field: pa.Field) -> np.ndarray:
    """A column as numpy; tensor columns get their per-row shape back."""
    if pa.types.is_fixed_size_list(column.type):
        shape = tuple(json.loads(field.metadata[_SHAPE_KEY])) if field.metadata and _SHAPE_KEY in field.metadata \
            else (column.type.list_size,)
        chunks = [c.flatten() for c in column.chunks] if column.num_chunks else []
        flat = pa.chunked_array(chunks, type=column.type.value_type).to_numpy() if chunks \
            else np.empty(0, column.type.value_type.to_pandas_dtype())
        return flat.reshape((len(column), *shape))
    if column.num_chunks == 1 and column.null_count == 0:
        try:
            return column.chunks[0].to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, NotImplementedError):
            pass
    return column.to_numpy()


# ------------------------------------------------------------------ batches
def to_batch(table: pa.Table, batch_format: str):
    """A block (or a slice of one) in the requested batch format."""
    if batch_format in ("default", "numpy"):
        return {name: column_to_numpy(table.column(i), table.schema.field(i))
                for i, name in enumerate(table.column_names)}
    if batch_format == "pandas":
        return table_to_pandas(table)
    if batch_format == "pyarrow":
        return table
    raise ValueError(f"unknown batch format {batch_format!r}")


def table_to_pandas(table: pa.Table):
    tensors = [i for i, f in enumerate(table.schema) if pa.types.is_fixed_size_list(f.type)]
    if not tensors:
        return table.to_pandas()
    plain = table.drop_columns([table.column_names[i] for i in tensors]).to_pandas()
    for i in tensors:
        values = column_to_numpy(table.column(i), table.schema.field(i))
        plain.insert(i, table.column_names[i], list(values))
    return plain


def from_batch(batch, what: str = "the function") -> pa.Table:
    """A block from what a batch function returned (dict of arrays, DataFrame or Arrow table)."""
    if isinstance(batch, pa.Table):
        return batch
    if isinstance(batch, dict):
        return table_from_columns(batch)
    try:
        import pandas as pd
    except ImportError:       # pragma: no cover - pandas is an extra
        pd = None
    if pd is not None and isinstance(batch, pd.DataFrame):
        return pandas_to_table(batch)
    raise TypeError(f"{what} must return a dict of column name -> numpy array, a pandas.DataFrame or a "
                    f"pyarrow.Table; it returned {type(batch).__name__}.")


def pandas_to_table(df) -> pa.Table:
    df = df.reset_index(drop=True) if not _plain_range_index(df) else df
    columns = {}
    for name in df.columns:
        col = df[name]
        if col.dtype == object and len(col) and isinstance(col.iloc[0], np.ndarray):
            columns[str(name)] = np.stack(list(col))
        else:
            columns[str(name)] = None
    if all(v is None for v in columns.values()):
        return pa.Table.from_pandas(df, preserve_index=False)
    out = {}
    for name in df.columns:
        out[str(name)] = columns[str(name)] if columns[str(name)] is not None \
            else pa.Array.from_pandas(df[name])
    return table_from_columns(out)


def _plain_range_index(df) -> bool:
    import pandas as pd
    idx = df.index
    return isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1


# ------------------------------------------------------------------ rows
def table_to_rows(table: pa.Table) -> list[dict]:
    """A block as a list of row dicts (tensor columns give numpy arrays)."""
    tensors = [f.name for f in table.schema if pa.types.is_fixed_size_list(f.type)]
    if not tensors:
        return table.to_pylist()
    rows = table.drop_columns(tensors).to_pylist() if len(tensors) < table.num_columns \
        else [{} for _ in range(table.num_rows)]
    for name in tensors:
        values = column_to_numpy(table.column(name), table.schema.field(name))
        for row, v in zip(rows, values):
            row[name] = v
    order = table.column_names
    return [{k: row[k] for k in order} for row in rows]


def table_from_rows(rows: list, what: str = "the function") -> pa.Table:
    """A block from row dicts; every row must be a dict (as Ray Data's map requires)."""
    if not rows:
        return pa.table({})
    columns: dict = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError(f"{what} must return a dict for each row (column name -> value), "
                            f"got {type(row).__name__} for row {i}.")
        if i == 0:
            columns = {k: [] for k in row}
        elif row.keys() != columns.keys():
            raise ValueError(f"Rows from {what} must all have the same columns: row 0 has "
                             f"{list(columns)}, row {i} has {list(row)}.")
        for k, v in row.items():
            columns[k].append(v)
    return table_from_columns(columns)


def items_to_table(items: list) -> pa.Table:
    """from_items: dict items give columns; other items go in one column named "item" (as in Ray)."""
    if items and all(isinstance(x, dict) for x in items):
        return table_from_rows(items, "from_items")
    return table_from_columns({"item": list(items)})


# ------------------------------------------------------------------ combining
def concat(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t.num_columns or t.num_rows]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables)
    except pa.ArrowInvalid:
        return pa.concat_tables(tables, promote_options="default")
