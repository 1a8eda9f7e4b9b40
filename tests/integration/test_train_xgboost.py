"""strato.train.xgboost.XGBoostTrainer: Ray Train's legacy arguments over strato.xgboost's actors."""
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import strato.data
from strato.train import RunConfig, ScalingConfig
from strato.train.xgboost import XGBoostTrainer

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]


def frame(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 5, size=(n, 4)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] + rng.normal(0, 1, n)) > 4).astype(np.float32)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y)


def test_fit_returns_metrics_and_a_checkpoint_with_the_booster(tmp_path):
    train_df, valid_df = frame(2000, 0), frame(600, 1)
    trainer = XGBoostTrainer(
        params={"objective": "binary:logistic", "eval_metric": ["logloss", "error"], "max_depth": 3},
        label_column="y", num_boost_round=6,
        datasets={"train": strato.data.from_pandas(train_df), "valid": valid_df},
        scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
        run_config=RunConfig(name="run", storage_path=str(tmp_path)))
    result = trainer.fit()
    assert result.error is None and result.metrics["training_iteration"] == 6
    booster = XGBoostTrainer.get_model(result.checkpoint)
    assert booster.num_boosted_rounds() == 6
    assert result.checkpoint.path.startswith(str(tmp_path / "run"))
    features = xgb.DMatrix(valid_df[["a", "b", "c", "d"]])
    p = np.clip(booster.predict(features), 1e-7, 1 - 1e-7)
    y = valid_df["y"].to_numpy()
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert result.metrics["valid-logloss"] == pytest.approx(expected, rel=1e-3)
    assert set(result.metrics) >= {"train-logloss", "train-error", "valid-logloss", "valid-error"}
    assert list(result.metrics_dataframe["training_iteration"]) == list(range(1, 7))


def test_bad_arguments_say_what_to_pass():
    with pytest.raises(ValueError, match="'train' entry"):
        XGBoostTrainer(params={}, label_column="y", datasets={"valid": frame(10, 0)})
    with pytest.raises(ValueError, match="label_column"):
        XGBoostTrainer(params={}, datasets={"train": frame(10, 0)})
    with pytest.raises(ValueError, match="num_workers"):
        ScalingConfig(num_workers=0)
    with pytest.raises(NotImplementedError, match="train_loop_per_worker"):
        XGBoostTrainer(lambda config: None, label_column="y", datasets={"train": frame(10, 0)})
