"""RayDMatrix sources beyond in-memory arrays: parquet files (sharded by file) and strato.data Datasets.

Each actor reads only its own files, or its own split of the Dataset; the
trained model is checked against single-process xgboost on the same rows,
and predictions come back in the rows' original order.
"""
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import strato.data
from strato.xgboost import RayDMatrix, RayParams, RayShardingMode, predict, train

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]

PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 4, "eta": 0.3}
TWO = RayParams(num_actors=2, cpus_per_actor=1)
FEATURES = [f"f{i}" for i in range(5)]


def frame(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 5, size=(n, len(FEATURES))).astype(np.float32)
    y = ((X[:, 0] + 2 * X[:, 1] - X[:, 2] + rng.normal(0, 1.5, n)) > 4).astype(np.float32)
    return pd.DataFrame(X, columns=FEATURES).assign(label=y)


def chunks(df, k):
    bounds = np.linspace(0, len(df), k + 1).astype(int)
    return [df.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def single_process(df, rounds):
    return xgb.train({**PARAMS, "nthread": 1, "tree_method": "hist"},
                     xgb.DMatrix(df[FEATURES], label=df["label"]), rounds)


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("parquet")
    df = frame()
    for i, part in enumerate(chunks(df, 5)):     # 5 files of uneven use: 3 for rank 0, 2 for rank 1
        part.to_parquet(root / f"part-{i:02d}.parquet", index=False)
    return root, df


def test_parquet_files_are_sharded_by_file(parquet_dir):
    root, df = parquet_dir
    extra = {}
    booster = train(PARAMS, RayDMatrix(str(root), label="label"), 6, additional_results=extra, ray_params=TWO)
    assert extra["total_n"] == len(df)
    expected = single_process(df, 6).predict(xgb.DMatrix(df[FEATURES]))
    assert np.abs(booster.predict(xgb.DMatrix(df[FEATURES])) - expected).mean() < 1e-3


@pytest.mark.parametrize("sharding", [RayShardingMode.INTERLEAVED, RayShardingMode.BATCH])
def test_parquet_predictions_keep_file_order(parquet_dir, sharding):
    root, df = parquet_dir
    booster = single_process(df, 3)
    preds = predict(booster, RayDMatrix(str(root), ignore=["label"], sharding=sharding), ray_params=TWO)
    assert np.array_equal(preds, booster.predict(xgb.DMatrix(df[FEATURES])))


def test_fewer_parquet_files_than_actors_is_a_clear_error(tmp_path):
    frame(100).to_parquet(tmp_path / "only.parquet", index=False)
    with pytest.raises(ValueError, match="1 file\\(s\\) but 2 actors"):
        train(PARAMS, RayDMatrix(str(tmp_path), label="label"), 2, ray_params=TWO)
    with pytest.raises(ValueError, match="'target' is not a column"):
        RayDMatrix(str(tmp_path), label="target")


def test_a_strato_dataset_is_split_among_the_actors():
    df = frame(seed=1)
    ds = strato.data.from_pandas(chunks(df, 4))
    evals_result, extra = {}, {}
    dtrain = RayDMatrix(ds, label="label")
    booster = train(PARAMS, dtrain, 6, evals=[(dtrain, "train")], evals_result=evals_result,
                    additional_results=extra, ray_params=TWO)
    assert extra["total_n"] == len(df)            # 2000 rows split equally: nothing dropped
    assert len(evals_result["train"]["logloss"]) == 6
    expected = single_process(df, 6).predict(xgb.DMatrix(df[FEATURES]))
    preds = predict(booster, RayDMatrix(ds, ignore=["label"]), ray_params=TWO)
    assert np.abs(preds - expected).mean() < 1e-3
