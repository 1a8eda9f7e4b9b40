"""groupby(key).count() / sum(on) / mean(on) / min(on) / max(on), with Ray Data's column names.

    ds.groupby("k").count()          columns: k, count()
    ds.groupby("k").sum(["a", "b"])  columns: k, sum(a), sum(b)
    ds.groupby(["k1", "k2"]).mean("x")

The result is a Dataset of one block sorted by the keys (alltoall.aggregate
explains how it is computed). Nulls are skipped, as Ray's ignore_nulls=True.
"""
from __future__ import annotations

from strato.data import alltoall as A
from strato.data import plan as P


class GroupedData:
    def __init__(self, ds, key):
        if key is None:
            keys = ()
        elif isinstance(key, str):
            keys = (key,)
        elif isinstance(key, (list, tuple)) and key and all(isinstance(k, str) for k in key):
            keys = tuple(key)
        else:
            raise TypeError(f"groupby takes a column name or a list of them, got {key!r}.")
        self._ds = ds
        self._keys = keys

    def _aggregate(self, aggs: tuple):
        schema = self._known_schema()
        if schema is not None:
            wanted = list(self._keys) + [a.on for a in aggs if a.on is not None]
            missing = [c for c in wanted if c not in schema.names]
            if missing:
                raise KeyError(f"groupby: no columns {missing}; the dataset has {schema.names}.")
        op = P.AllToAllOp("Aggregate", A.aggregate(self._keys, aggs), 1)
        return self._ds._with(op)

    def _known_schema(self):
        if self._ds._ops:
            return None
        items = self._ds._source.read_tasks or [m for _, m in self._ds._source.blocks]
        return next((i.schema for i in items if i.schema is not None), None)

    def _on(self, kind: str, on) -> tuple:
        if on is None:
            schema = self._known_schema()
            if schema is None:
                raise ValueError(f"{kind}() needs on=<column> here (the columns are not known before running).")
            on = [c for c in schema.names if c not in self._keys]
        cols = [on] if isinstance(on, str) else list(on)
        if not cols or not all(isinstance(c, str) for c in cols):
            raise TypeError(f"{kind}(on=...) takes a column name or a list of them, got {on!r}.")
        return tuple(A.Agg(kind, c) for c in cols)

    def count(self):
        return self._aggregate((A.Agg("count"),))

    def sum(self, on=None):
        return self._aggregate(self._on("sum", on))

    def mean(self, on=None):
        return self._aggregate(self._on("mean", on))

    def min(self, on=None):
        return self._aggregate(self._on("min", on))

    def max(self, on=None):
        return self._aggregate(self._on("max", on))
