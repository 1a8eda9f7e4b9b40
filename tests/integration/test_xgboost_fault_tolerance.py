"""A training actor that dies mid-training is recreated and training resumes from the last checkpoint.

The callback below kills its own actor's process (`os._exit`) after round 5
of the first attempt only: a marker file says whether the crash already
happened. With checkpoints every 2 rounds, the next attempt starts after
round 4 and trains the remaining rounds, so the model has every round and
grows the same trees as a run without a crash.
"""
import os

import numpy as np
import pytest
import xgboost as xgb

import strato
from strato._testing import wait_for
from strato.xgboost import RayDMatrix, RayParams, RayXGBoostTrainingError, train

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]

PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 4, "eta": 0.3}
ROUNDS = 10


class DieOnce(xgb.callback.TrainingCallback):
    """Exit the process of rank `rank` after round `after` (1-based), the first time only."""

    def __init__(self, marker: str, rank: int, after: int):
        self.marker, self.rank, self.after = marker, rank, after

    def after_iteration(self, model, epoch, evals_log):
        from xgboost import collective
        if (collective.get_rank() == self.rank and model.num_boosted_rounds() == self.after
                and not os.path.exists(self.marker)):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(1)
        return False


def data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 5, size=(n, 6)).astype(np.float32)
    y = ((X[:, 0] + 2 * X[:, 1] - X[:, 2] + rng.normal(0, 1.5, n)) > 4).astype(np.float32)
    return X, y


@pytest.mark.parametrize("dying_rank", [0, 1])
def test_a_killed_actor_is_restarted_and_every_round_finishes(tmp_path, dying_rank):
    X, y = data()
    dtrain = RayDMatrix(X, label=y)
    marker = str(tmp_path / "crashed")
    evals_result, extra = {}, {}
    booster = train(PARAMS, dtrain, ROUNDS, evals=[(dtrain, "train")], evals_result=evals_result,
                    additional_results=extra, callbacks=[DieOnce(marker, dying_rank, after=5)],
                    ray_params=RayParams(num_actors=2, cpus_per_actor=1, max_actor_restarts=1,
                                         checkpoint_frequency=2))
    assert os.path.exists(marker), "the crash did not happen"
    assert extra["restarts"] == 1
    assert booster.num_boosted_rounds() == ROUNDS
    assert len(evals_result["train"]["logloss"]) == ROUNDS
    local = xgb.train({**PARAMS, "nthread": 1, "tree_method": "hist"}, xgb.DMatrix(X, label=y), ROUNDS)
    expected = local.predict(xgb.DMatrix(X))
    assert np.abs(booster.predict(xgb.DMatrix(X)) - expected).mean() < 1e-3
    local_log = {}
    xgb.train({**PARAMS, "nthread": 1}, xgb.DMatrix(X, label=y), ROUNDS,
              evals=[(xgb.DMatrix(X, label=y), "train")], evals_result=local_log, verbose_eval=False)
    assert np.allclose(evals_result["train"]["logloss"], local_log["train"]["logloss"], rtol=1e-3)


def test_without_restarts_a_dead_actor_fails_training_with_a_clear_error(tmp_path):
    X, y = data(n=1000)
    with pytest.raises(RayXGBoostTrainingError, match="max_actor_restarts"):
        train(PARAMS, RayDMatrix(X, label=y), 4, callbacks=[DieOnce(str(tmp_path / "m"), 1, after=2)],
              ray_params=RayParams(num_actors=2, cpus_per_actor=1, max_actor_restarts=0))
    # nothing is left behind: the actors and their placement group are gone, every CPU is free again
    assert wait_for(lambda: strato.available_resources().get("CPU") == 2, timeout=10), strato.available_resources()
