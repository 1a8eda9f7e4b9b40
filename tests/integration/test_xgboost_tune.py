"""strato.xgboost inside strato.tune trials: every round reported, checkpoints holding the model.

Each trial reserves its training actors' bundles (RayParams.get_tune_resources:
2 actors x 1 CPU, so on 2 CPUs the trials run one after the other) and runs
strato.xgboost.train; the report callback runs in the trial's own process.
"""
import numpy as np
import pytest

from strato import tune
from strato.xgboost import RayDMatrix, RayParams, train
from strato.xgboost.tune import TuneReportCheckpointCallback

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]

ROUNDS = 5
RAY_PARAMS = RayParams(num_actors=2, cpus_per_actor=1)


def trainable(config):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(1000, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 4).astype(np.float32)
    dtrain = RayDMatrix(X, label=y)
    callbacks = ([TuneReportCheckpointCallback(metrics={"loss": "train-logloss"}, frequency=2)]
                 if config["explicit"] else None)     # without one, train adds the default callback
    train({"objective": "binary:logistic", "eval_metric": "logloss", "eta": config["eta"]}, dtrain, ROUNDS,
          evals=[(dtrain, "train")], ray_params=RAY_PARAMS, callbacks=callbacks)


def test_trials_report_every_round_and_checkpoint_the_model(tmp_path):
    resources = RAY_PARAMS.get_tune_resources()
    assert resources.bundles == [{}, {"CPU": 1}, {"CPU": 1}]
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space={"explicit": tune.grid_search([True, False]), "eta": 0.3},
        run_config=tune.RunConfig(name="xgb", storage_path=str(tmp_path)))
    grid = tuner.fit()
    assert grid.num_errors == 0, [r.error for r in grid]
    by_mode = {r.config["explicit"]: r for r in grid}
    explicit, default = by_mode[True], by_mode[False]
    for result in (explicit, default):
        assert result.metrics["training_iteration"] == ROUNDS
        booster = TuneReportCheckpointCallback.get_model(result.checkpoint)
        assert booster.num_boosted_rounds() == ROUNDS
    history = explicit.metrics_dataframe
    assert list(history["training_iteration"]) == list(range(1, ROUNDS + 1))
    assert np.all(np.diff(history["loss"]) < 0)                     # the renamed metric, every round
    assert "train-logloss" in default.metrics                        # the default callback's names
    assert explicit.metrics["loss"] == pytest.approx(default.metrics["train-logloss"], rel=1e-6)
