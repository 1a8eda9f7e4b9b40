"""RayDMatrix: a description of training data that each actor loads its own shard of.

    driver                                   actor r (of N)
    RayDMatrix(data, label=...)              load_shard(spec_r) -> LocalShard (X, y, weight, ...)
      .shard_specs(N) -> [spec_r]            LocalShard.dmatrix(...) inside the collective context
                                             (xgboost syncs columns and sketches while building it)

Sources and what a spec holds:

* numpy arrays / pandas DataFrames held by the driver: the driver cuts them
  into N shards (INTERLEAVED or BATCH, see sharding.py) and puts each into the
  object store once; spec r is the ref of shard r.
* parquet paths (a file, a directory, or a list of them): spec r names the
  files of rank r; the actor reads them itself. Needs at least N files.
* a strato.data Dataset: `split(N, equal=True)`, done before the actors
  are created (splitting runs tasks that need the CPUs the actors would
  hold, so locality hints, which need the actors, are not used); spec r is
  shard r, which the actor turns into pandas.

The label (and weight, base_margin) is either an array-like or, for
tabular sources, a column name.
"""
from __future__ import annotations

import dataclasses
import glob
import os

import numpy as np

from strato.xgboost.sharding import RayShardingMode, assign_files, check_mode, shard_positions


def _is_dataset(data) -> bool:
    return all(hasattr(data, name) for name in ("split", "to_pandas", "iter_batches", "columns"))


def _is_paths(data) -> bool:
    if isinstance(data, (str, os.PathLike)):
        return True
    return isinstance(data, (list, tuple)) and len(data) > 0 and all(isinstance(p, (str, os.PathLike)) for p in data)


def expand_parquet_paths(data) -> list[str]:
    """Files named by a path, a directory (its *.parquet files, sorted) or a list of them."""
    paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    files: list[str] = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))
            if not found:
                raise ValueError(f"The directory {path!r} holds no *.parquet files.")
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f"No such file or directory: {path!r} (RayDMatrix takes parquet files, "
                                    f"directories of them, or a list of those).")
    return files


@dataclasses.dataclass
class LocalShard:
    """One actor's rows: features, label and the optional meta columns; `piece_rows`: rows per file/piece."""
    X: object
    label: np.ndarray | None = None
    weight: np.ndarray | None = None
    base_margin: np.ndarray | None = None
    piece_rows: list[int] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def dmatrix(self, matrix_args: dict):
        """An xgboost DMatrix of these rows. Call it inside the collective context.

        A plain DMatrix, as XGBoost-Ray builds: with `hist`, xgboost sketches the cuts across the
        workers at the first round. (A QuantileDMatrix took longer overall on the benchmark's data:
        its construction cost more than it saved in training.)
        """
        import xgboost as xgb

        return xgb.DMatrix(self.X, label=self.label, weight=self.weight, base_margin=self.base_margin,
                           **matrix_args)


class RayDMatrix:
    """Training or prediction data for strato.xgboost (XGBoost-Ray's RayDMatrix).

    data:      a numpy array, a pandas DataFrame, parquet path(s), or a strato.data Dataset.
    label:     an array-like, or (for tabular data) the name of the label column.
    weight, base_margin: the same, optional.
    missing, feature_names, feature_types, enable_categorical: passed on to xgboost's DMatrix.
    columns:   (tabular sources) the columns to read, as in XGBoost-Ray; the label, weight and base_margin
               columns among them are not features. Default: all.
    ignore:    (tabular sources) columns to leave out.
    sharding:  RayShardingMode.INTERLEAVED (default) or RayShardingMode.BATCH.
    num_actors, lazy, distributed: accepted for compatibility; the actor count comes from RayParams, and
               every source is loaded by the actors themselves (files and Dataset shards are read there).
    """

    def __init__(self, data, label=None, weight=None, base_margin=None, missing=None, feature_names=None,
                 feature_types=None, enable_categorical=None, num_actors=None, filetype=None, ignore=None,
                 columns=None, sharding=RayShardingMode.INTERLEAVED, lazy=False, distributed=None, **kwargs):
        # lazy / distributed (XGBoost-Ray's): every source here is already loaded by the actors themselves.
        if kwargs:
            raise TypeError(f"RayDMatrix() got unsupported argument(s) {sorted(kwargs)}.")
        self.sharding = check_mode(sharding)
        self.matrix_args = {k: v for k, v in dict(missing=missing, feature_names=feature_names,
                                                  feature_types=feature_types,
                                                  enable_categorical=enable_categorical).items() if v is not None}
        self.ignore = list(ignore or [])
        self.columns = list(columns) if columns is not None else None
        self.label, self.weight, self.base_margin = label, weight, base_margin
        self._cache: dict = {}
        if filetype is not None and str(filetype).lower() != "parquet":
            raise ValueError(f"filetype={filetype!r} is not supported; RayDMatrix reads parquet files "
                             f"(filetype='parquet'), numpy, pandas and strato.data Datasets.")
        if _is_dataset(data):
            self.kind = "dataset"
            self.data = data
            self._check_columns(list(data.columns()))
        elif _is_paths(data):
            self.kind = "parquet"
            self.files = expand_parquet_paths(data)
            import pyarrow.parquet as pq
            self._check_columns(list(pq.read_schema(self.files[0]).names))
            self.data = None
        else:
            self.kind = "memory"
            self.data = self._in_memory(data)
        self.num_rows = self._count_rows()

    # ------------------------------------------------------------ driver side
    @property
    def has_label(self) -> bool:
        return self.label is not None

    def _check_columns(self, names: list[str]) -> None:
        for role in ("label", "weight", "base_margin"):
            value = getattr(self, role)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"With tabular data from files or a Dataset, {role}= must be a column name, "
                                f"got {type(value).__name__}.")
            if isinstance(value, str) and value not in names:
                raise ValueError(f"{role}={value!r} is not a column of the data. Its columns are: {names}.")
        for name in (self.columns or []) + self.ignore:
            if name not in names:
                raise ValueError(f"Column {name!r} (in columns= or ignore=) is not in the data. Its columns are: "
                                 f"{names}.")

    def _in_memory(self, data):
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            frame = data
            self._check_columns(list(frame.columns))
            meta = {}
            for role in ("label", "weight", "base_margin"):
                value = getattr(self, role)
                if isinstance(value, str):
                    meta[role] = frame[value].to_numpy()
                elif value is not None:
                    meta[role] = np.asarray(value)
            drop = set(self.ignore) | {v for v in (self.label, self.weight, self.base_margin) if isinstance(v, str)}
            keep = [c for c in (self.columns or frame.columns) if c not in drop]
            X = frame[keep]
        elif isinstance(data, np.ndarray) or hasattr(data, "__array__"):
            X = np.asarray(data)
            if X.ndim != 2:
                raise ValueError(f"RayDMatrix needs 2-d data (rows x features), got an array of shape {X.shape}.")
            meta = {}
            for role in ("label", "weight", "base_margin"):
                value = getattr(self, role)
                if isinstance(value, str):
                    raise TypeError(f"{role}={value!r} is a column name, but the data is a numpy array without "
                                    f"column names. Pass the {role} as an array, or the data as a pandas DataFrame.")
                if value is not None:
                    meta[role] = np.asarray(value)
        else:
            raise TypeError(f"RayDMatrix cannot read {type(data).__name__}: pass a numpy array, a pandas DataFrame, "
                            f"parquet path(s) or a strato.data Dataset.")
        for role, values in meta.items():
            if len(values) != X.shape[0]:
                raise ValueError(f"The {role} has {len(values)} rows but the data has {X.shape[0]}.")
        return {"X": X, **meta}

    def _count_rows(self) -> int | None:
        if self.kind == "memory":
            return int(self.data["X"].shape[0])
        if self.kind == "parquet":
            import pyarrow.parquet as pq
            return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
        return None

    def shard_specs(self, num_actors: int, *, for_prediction: bool = False) -> list:
        """One small, picklable spec per rank, telling that actor what to load (cached per actor count)."""
        key = (num_actors, for_prediction)
        if key in self._cache:
            return self._cache[key]
        roles = self._tabular_roles()
        if self.kind == "memory":
            import strato
            positions = shard_positions(self.num_rows, num_actors, self.sharding)
            specs = []
            for where in positions:
                part = {name: _take(values, where) for name, values in self.data.items()}
                specs.append(("memory", strato.put(part), None))
        elif self.kind == "parquet":
            files = assign_files(len(self.files), num_actors, self.sharding)
            specs = [("parquet", [self.files[i] for i in idx], roles) for idx in files]
        else:
            # Split before the actors exist (no locality hints): splitting runs tasks (reading a lazy
            # dataset, cutting blocks at shard edges) that need CPUs the training actors would hold.
            if for_prediction:
                shards = self.data.split(num_actors)
            else:
                shards = self.data.split(num_actors, equal=True)
            specs = [("dataset", shard, roles) for shard in shards]
        self._cache = {key: specs}
        return specs

    def positions(self, num_actors: int) -> list:
        """Per rank, which items of the whole (rows for in-memory data, files for parquet) it holds."""
        if self.kind == "memory":
            return shard_positions(self.num_rows, num_actors, self.sharding)
        if self.kind == "parquet":
            return assign_files(len(self.files), num_actors, self.sharding)
        return [None] * num_actors

    def _tabular_roles(self) -> dict:
        return {"label": self.label, "weight": self.weight, "base_margin": self.base_margin,
                "columns": self.columns, "ignore": self.ignore}

    def __repr__(self) -> str:
        rows = "?" if self.num_rows is None else self.num_rows
        return f"RayDMatrix({self.kind}, rows={rows}, sharding={self.sharding.name})"


def _take(values, where: slice):
    if hasattr(values, "iloc"):
        return values.iloc[where]
    # An interleaved shard is a strided view: one contiguous copy here lets strato.put pass its buffer
    # out of band (a strided array would be copied into the pickle stream, then again into the store).
    return np.ascontiguousarray(values[where])


# ------------------------------------------------------------ actor side
def _from_frame(frame, roles: dict, piece_rows: list[int]) -> LocalShard:
    meta = {}
    for role in ("label", "weight", "base_margin"):
        name = roles.get(role)
        meta[role] = frame[name].to_numpy() if name is not None else None
    drop = set(roles.get("ignore") or []) | {roles[r] for r in ("label", "weight", "base_margin") if roles.get(r)}
    keep = [c for c in (roles.get("columns") or frame.columns) if c not in drop]   # columns= may name the label
    return LocalShard(frame[keep], piece_rows=piece_rows, **meta)


def load_shard(spec) -> LocalShard:
    """Runs in the actor: read this rank's rows as described by its spec."""
    kind, payload, roles = spec
    if kind == "memory":
        import strato
        part = strato.get(payload)
        X = part["X"]
        return LocalShard(X, part.get("label"), part.get("weight"), part.get("base_margin"),
                          piece_rows=[int(X.shape[0])])
    if kind == "parquet":
        import pandas as pd
        frames = [pd.read_parquet(path) for path in payload]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return _from_frame(frame, roles, [len(f) for f in frames])
    if kind == "dataset":
        frame = payload.to_pandas()
        return _from_frame(frame, roles, [len(frame)])
    raise ValueError(f"unknown shard kind {kind!r}")
