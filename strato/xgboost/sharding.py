"""Which rows (or files) each training actor gets, and how per-shard outputs go back in order.

Pure functions over sizes and indices; no data is touched here, so the rules
are unit-tested on their own (tests/unit/test_xgboost_sharding.py).

    INTERLEAVED  rank r gets rows r, r+N, r+2N, ...   (XGBoost-Ray's default)
    BATCH        rank r gets the r-th contiguous block, sizes differing by at most one

Files (parquet sources) are assigned by the same rule, file by file, so an
actor reads only its own files. `combine` puts per-shard predictions back in
the original row order.
"""
from __future__ import annotations

import enum

import numpy as np


class RayShardingMode(enum.Enum):
    """How rows (or files) are distributed over the actors."""
    INTERLEAVED = 1
    BATCH = 2


def check_mode(mode) -> RayShardingMode:
    if isinstance(mode, RayShardingMode):
        return mode
    if isinstance(mode, str) and mode.upper() in RayShardingMode.__members__:
        return RayShardingMode[mode.upper()]
    raise ValueError(f"sharding must be RayShardingMode.INTERLEAVED or RayShardingMode.BATCH, got {mode!r}.")


def batch_bounds(n: int, num_shards: int) -> list[tuple[int, int]]:
    """[start, stop) of each contiguous block; the first n % num_shards blocks are one longer."""
    base, extra = divmod(n, num_shards)
    bounds, start = [], 0
    for r in range(num_shards):
        stop = start + base + (1 if r < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def shard_positions(n: int, num_shards: int, mode: RayShardingMode) -> list[slice]:
    """For each rank, a slice selecting its items among n (rows or files)."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    if mode is RayShardingMode.INTERLEAVED:
        return [slice(r, n, num_shards) for r in range(num_shards)]
    return [slice(start, stop) for start, stop in batch_bounds(n, num_shards)]


def assign_files(num_files: int, num_shards: int, mode: RayShardingMode) -> list[list[int]]:
    """File indices per rank. Every rank needs at least one file (else an actor would have no data)."""
    if num_files < num_shards:
        raise ValueError(
            f"There are {num_files} file(s) but {num_shards} actors: each actor reads whole files, so there must "
            f"be at least as many files as actors. Use num_actors <= {num_files} (RayParams(num_actors=...)), or "
            f"write the data into more files.")
    return [list(range(num_files))[s] for s in shard_positions(num_files, num_shards, mode)]


def combine(n: int, parts: list[np.ndarray], positions: list[slice]) -> np.ndarray:
    """Put each rank's outputs (parts[r], one row per item at positions[r]) back into one array of n rows."""
    if len(parts) != len(positions):
        raise ValueError(f"{len(parts)} parts for {len(positions)} shards")
    first = next((p for p in parts if p is not None and len(p)), None)
    tail = () if first is None else np.asarray(first).shape[1:]
    dtype = np.float32 if first is None else np.asarray(first).dtype
    out = np.empty((n, *tail), dtype=dtype)
    for part, where in zip(parts, positions):
        expected = len(range(n)[where])
        if len(part) != expected:
            raise ValueError(f"a shard returned {len(part)} rows where {expected} were expected")
        out[where] = part
    return out
