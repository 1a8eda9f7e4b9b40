"""All-to-all operators: each needs every block of its input before it can produce one.

    repartition(n)         n blocks of near-equal rows, order kept (one gather task per output block)
    random_shuffle(seed)   rows permuted: map tasks scatter each block's rows at random over the
                           output blocks, reduce tasks concatenate and permute their parts
    groupby(keys).agg      map tasks aggregate each block partially (pyarrow group_by), one reduce
                           task combines the partials; output sorted by the keys, columns named
                           as Ray Data names them: count(), sum(x), mean(x), min(x), max(x)

Each is a function (blocks, ctx) -> blocks, where blocks is [(ref, BlockMetadata)]
and ctx counts finished tasks for the progress bar (executor.AllToAllContext).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import strato
from strato.data import block as B
from strato.data.split import slices_between


def _node_id() -> str:
    return strato.get_runtime_context().get_node_id()


def _finish(refs_and_metas, ctx):
    out = []
    metas = strato.get([m for _, m in refs_and_metas])
    for (ref, _), meta in zip(refs_and_metas, metas):
        ctx.task_done(meta.num_rows, meta.size_bytes)
        out.append((ref, meta))
    return out


# ------------------------------------------------------------------ repartition
def repartition_plan(row_counts: list[int], n: int) -> list[list[tuple[int, int, int]]]:
    """For each of n output blocks, the (input block, start, length) slices it gathers, in order."""
    return slices_between(row_counts, np.linspace(0, sum(row_counts), n + 1).astype(int))


@strato.remote(num_returns=2)
def _gather(pieces, schema, *tables):
    parts = [t.slice(start, length) for t, (_, start, length) in zip(tables, pieces)]
    out = B.concat(parts) if parts else schema.empty_table() if schema is not None else pa.table({})
    return out, B.BlockMetadata.of(out, _node_id())


def repartition(n: int):
    def run(blocks, ctx):
        plan = repartition_plan([m.num_rows for _, m in blocks], n)
        schema = next((m.schema for _, m in blocks if m.schema is not None), None)
        outs = [_gather.remote(pieces, schema, *[blocks[b][0] for b, _, _ in pieces]) for pieces in plan]
        return _finish(outs, ctx)
    return run


# ------------------------------------------------------------------ random_shuffle
@strato.remote
def _scatter(table, n_out, seed):
    rng = np.random.default_rng(seed)
    dest = rng.integers(0, n_out, table.num_rows)
    parts = tuple(table.filter(pa.array(dest == j)) for j in range(n_out))
    return parts if n_out > 1 else parts[0]


@strato.remote(num_returns=2)
def _shuffle_reduce(seed, *parts):
    table = B.concat(list(parts))
    rng = np.random.default_rng(seed)
    out = table.take(pa.array(rng.permutation(table.num_rows))) if table.num_rows else table
    return out, B.BlockMetadata.of(out, _node_id())


def random_shuffle(seed: int | None):
    def run(blocks, ctx):
        n = max(1, len(blocks))
        base = np.random.SeedSequence(seed).generate_state(1)[0] if seed is not None \
            else np.random.SeedSequence().generate_state(1)[0]
        scattered = []
        for i, (ref, _) in enumerate(blocks):
            parts = _scatter.options(num_returns=n).remote(ref, n, [int(base), 0, i])
            scattered.append(parts if n > 1 else [parts])
        outs = [_shuffle_reduce.remote([int(base), 1, j], *[s[j] for s in scattered]) for j in range(n)]
        return _finish(outs, ctx)
    return run


# ------------------------------------------------------------------ union
def union(others: tuple):
    """This dataset's blocks, then each other dataset's, in order (the others run when this does)."""
    def run(blocks, ctx):
        out = list(blocks)
        for other in others:
            out += other._blocks()
        for _, meta in out:
            ctx.task_done(meta.num_rows, meta.size_bytes)
        return out
    return run


# ------------------------------------------------------------------ sort
@strato.remote
def _sort_all(keys, descending, num_out, *tables):
    table = B.concat(list(tables))
    if table.num_rows:
        missing = [k for k in keys if k not in table.column_names]
        if missing:
            raise KeyError(f"sort: no columns {missing}; the dataset has {table.column_names}.")
        table = table.sort_by([(k, "descending" if descending else "ascending") for k in keys])
    bounds = np.linspace(0, table.num_rows, num_out + 1).astype(int)
    parts = tuple((table.slice(a, b - a), B.BlockMetadata.of(table.slice(a, b - a), _node_id()))
                  for a, b in zip(bounds[:-1], bounds[1:]))
    return parts if num_out > 1 else parts[0]


@strato.remote(num_returns=2)
def _unpack(pair):
    return pair[0], pair[1]


def sort(keys: tuple, descending: bool):
    """One task sorts every row (pyarrow sort_by) and cuts the result into as many blocks as came in."""
    def run(blocks, ctx):
        n = max(1, len(blocks))
        parts = _sort_all.options(num_returns=n).remote(keys, descending, n, *[ref for ref, _ in blocks])
        parts = parts if n > 1 else [parts]
        return _finish([_unpack.remote(p) for p in parts], ctx)
    return run


# ------------------------------------------------------------------ groupby aggregations
@dataclasses.dataclass(frozen=True)
class Agg:
    """One aggregation: kind in count/sum/mean/min/max, on a column (None for count)."""
    kind: str
    on: str | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}({self.on or ''})"

    def partial_specs(self, count_col: str) -> list:
        if self.kind == "count":
            return [(count_col, "count", pc.CountOptions(mode="all"))]
        if self.kind == "mean":
            return [(self.on, "sum"), (self.on, "count")]
        return [(self.on, self.kind)]

    def partial_names(self, count_col: str) -> list[str]:
        if self.kind == "count":
            return [f"{count_col}_count"]
        if self.kind == "mean":
            return [f"{self.on}_sum", f"{self.on}_count"]
        return [f"{self.on}_{self.kind}"]


def _partial_columns(aggs, count_col):
    cols = []
    for i, a in enumerate(aggs):
        cols += [f"__p{i}_{k}" for k in range(len(a.partial_names(count_col)))]
    return cols


@strato.remote
def _partial_aggregate(table, keys, aggs):
    count_col = keys[0] if keys else table.column_names[0]
    specs, names = [], []
    for a in aggs:
        specs += a.partial_specs(count_col)
        names += a.partial_names(count_col)
    if table.num_rows == 0:
        return None
    grouped = table.group_by(list(keys), use_threads=False).aggregate(specs)
    new = _partial_columns(aggs, count_col)
    return pa.table({**{k: grouped.column(k) for k in keys},
                     **{n: grouped.column(old) for n, old in zip(new, names)}})


@strato.remote(num_returns=2)
def _final_aggregate(keys, aggs, count_col, *partials):
    partials = [p for p in partials if p is not None]
    if not partials:
        out = pa.table({})
        return out, B.BlockMetadata.of(out, _node_id())
    table = B.concat(partials)
    specs = []
    for a in aggs:
        combine = {"count": ["sum"], "sum": ["sum"], "mean": ["sum", "sum"], "min": ["min"], "max": ["max"]}[a.kind]
        for how in combine:
            specs.append((f"__p{len(specs)}", how))
    renamed = table.rename_columns(list(keys) + [f"__p{j}" for j in range(len(specs))])
    grouped = renamed.group_by(list(keys), use_threads=False).aggregate(specs)
    cols = {k: grouped.column(k) for k in keys}
    j = 0
    for a in aggs:
        if a.kind == "mean":
            s, c = grouped.column(f"__p{j}_sum"), grouped.column(f"__p{j + 1}_sum")
            cols[a.name] = pc.divide(pc.cast(s, pa.float64()), pc.cast(c, pa.float64()))
            j += 2
        else:
            how = specs[j][1]
            cols[a.name] = grouped.column(f"__p{j}_{how}")
            j += 1
    out = pa.table(cols)
    if keys:
        out = out.sort_by([(k, "ascending") for k in keys])
    return out, B.BlockMetadata.of(out, _node_id())


def aggregate(keys: tuple, aggs: tuple):
    def run(blocks, ctx):
        partials = [_partial_aggregate.remote(ref, keys, aggs) for ref, m in blocks]
        schema = next((m.schema for _, m in blocks if m.schema is not None), None)
        count_col = keys[0] if keys else (schema.names[0] if schema is not None and schema.names else "")
        out = _final_aggregate.remote(keys, aggs, count_col, *partials)
        return _finish([out], ctx)
    return run
