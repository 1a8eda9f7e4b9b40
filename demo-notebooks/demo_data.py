"""The talk's data set for the demo notebooks: N rows x 40 float features, two classes, several parquet files.

    folder = make(n_rows)            # written once per size, reused by 03, 04 and 05
    train_files, test_files = split_files(folder)     # 75 % / 25 % of the files, as in the talk

Each file holds `row_id` (int64, the row's number in the whole set), `f0`..`f39`
(float32) and `label` (0/1). The labels come from a fixed random linear rule
plus noise, so a model can learn them but not perfectly. The folder is
$STRATO_DEMO_DATA/<n_rows>-rows (default: <temp dir>/strato-demo-data/...).
"""
from __future__ import annotations

import glob
import json
import os
import tempfile

import numpy as np

N_FEATURES = 40
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
LABEL = "label"


def default_folder(n_rows: int) -> str:
    root = os.environ.get("STRATO_DEMO_DATA") or os.path.join(tempfile.gettempdir(), "strato-demo-data")
    return os.path.join(root, f"{n_rows}-rows")


def make(n_rows: int, n_files: int = 8, folder: str | None = None, seed: int = 0) -> str:
    """Write the data set (unless this folder already has it at this size); returns the folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if n_rows < n_files:
        raise ValueError(f"n_rows ({n_rows}) must be at least n_files ({n_files}): every file needs rows.")
    folder = folder or default_folder(n_rows)
    marker = os.path.join(folder, "_done.json")
    want = {"n_rows": n_rows, "n_files": n_files, "seed": seed, "n_features": N_FEATURES}
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f) == want:
                return folder
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, "part-*.parquet")):
        os.remove(old)
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=N_FEATURES).astype(np.float32)
    bounds = np.linspace(0, n_rows, n_files + 1).astype(np.int64)
    for i in range(n_files):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        x = rng.normal(size=(hi - lo, N_FEATURES)).astype(np.float32)
        # a linear rule with one interaction, and noise: learnable, not separable
        score = x @ weights + 1.5 * x[:, 0] * x[:, 1] + rng.normal(scale=2.0, size=hi - lo)
        cols = {"row_id": pa.array(np.arange(lo, hi, dtype=np.int64))}
        cols.update({name: pa.array(x[:, j]) for j, name in enumerate(FEATURES)})
        cols[LABEL] = pa.array((score > 0).astype(np.int32))
        pq.write_table(pa.table(cols), os.path.join(folder, f"part-{i:03d}.parquet"), row_group_size=64_000)
    with open(marker, "w") as f:
        json.dump(want, f)
    return folder


def files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "part-*.parquet")))


def split_files(folder: str, train_fraction: float = 0.75) -> tuple[list[str], list[str]]:
    """(train files, test files): the first 75 % of the files train, the rest test."""
    paths = files(folder)
    cut = max(1, min(len(paths) - 1, round(len(paths) * train_fraction)))
    return paths[:cut], paths[cut:]


def size_on_disk(folder: str) -> int:
    return sum(os.path.getsize(p) for p in files(folder))
