"""strato.xgboost.train and predict on a real 2-CPU cluster, checked against single-process xgboost.

* On data with few distinct values per feature, the histogram cuts are
  exact, so 2 actors grow the same trees as one process: predictions agree
  to 1e-3 on average. On continuous data the distributed sketch differs a
  little; the log loss stays within 2 %.
* predict puts rows back in their original order, for both sharding modes.
* Bad input fails at once with an error that says what to do.
"""
import time

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from strato.xgboost import (InsufficientResourcesError, RayDMatrix, RayParams, RayShardingMode, predict,
                            train)

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]

PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 4, "eta": 0.3}
TWO = RayParams(num_actors=2, cpus_per_actor=1)


def discrete_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 5, size=(n, 6)).astype(np.float32)
    y = ((X[:, 0] + 2 * X[:, 1] - X[:, 2] + rng.normal(0, 1.5, n)) > 4).astype(np.float32)
    return X, y


def continuous_data(n=8000, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    y = ((X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + 0.3 * X[:, 3] ** 2 + rng.normal(0, 1.0, n)) > 0).astype(np.float32)
    return X, y


def single_process(X, y, rounds, params=PARAMS):
    return xgb.train({**params, "nthread": 1, "tree_method": "hist"}, xgb.DMatrix(X, label=y), rounds)


def logloss(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_few_distinct_values_grow_the_same_trees_as_one_process():
    X, y = discrete_data()
    dtrain = RayDMatrix(X, label=y)
    evals_result, extra = {}, {}
    booster = train(PARAMS, dtrain, 8, evals=[(dtrain, "train")], evals_result=evals_result,
                    additional_results=extra, ray_params=TWO)
    assert booster.num_boosted_rounds() == 8
    assert len(evals_result["train"]["logloss"]) == 8
    assert extra["total_n"] == len(X) and extra["restarts"] == 0
    local = single_process(X, y, 8)
    expected = local.predict(xgb.DMatrix(X))
    distributed = predict(booster, RayDMatrix(X), ray_params=TWO)
    assert np.abs(distributed - expected).mean() < 1e-3
    # the reported train metric is the global one (all-reduced over the shards)
    assert evals_result["train"]["logloss"][-1] == pytest.approx(logloss(y, expected), rel=1e-3)


def test_xgb_model_continues_a_model_as_xgboost_train_does(tmp_path):
    """xgb_model= (a Booster, a saved model's path, its raw bytes) adds num_boost_round rounds to it, and
    the trees match one process continuing the same model; evals_result covers only the new rounds."""
    X, y = discrete_data()
    dtrain = RayDMatrix(X, label=y)
    first = train(PARAMS, dtrain, 4, ray_params=TWO)
    local = xgb.train({**PARAMS, "nthread": 1, "tree_method": "hist"}, xgb.DMatrix(X, label=y), 3,
                      xgb_model=single_process(X, y, 4))
    expected = local.predict(xgb.DMatrix(X))
    path = tmp_path / "first.ubj"
    first.save_model(str(path))
    for start in (first, str(path), bytes(first.save_raw())):
        evals_result = {}
        booster = train(PARAMS, dtrain, 3, evals=[(dtrain, "train")], evals_result=evals_result,
                        ray_params=TWO, xgb_model=start)
        assert booster.num_boosted_rounds() == 7 and len(evals_result["train"]["logloss"]) == 3
        assert np.abs(booster.predict(xgb.DMatrix(X)) - expected).mean() < 1e-3
    assert train(PARAMS, dtrain, 0, ray_params=TWO, xgb_model=first).num_boosted_rounds() == 4
    with pytest.raises(TypeError, match="xgb_model must be an xgboost Booster"):
        train(PARAMS, dtrain, 2, ray_params=TWO, xgb_model=42)
    with pytest.raises(ValueError, match="xgb_model could not be loaded"):
        train(PARAMS, dtrain, 2, ray_params=TWO, xgb_model=str(tmp_path / "missing.ubj"))


def test_continuous_data_log_loss_within_two_percent_and_pandas_label_column():
    """Held-out log loss; the shards' merged quantile sketch gives slightly different cuts than one process's."""
    X, y = continuous_data()
    names = [f"f{i}" for i in range(X.shape[1])]
    train_frame = pd.DataFrame(X[:4000], columns=names).assign(target=y[:4000])
    test_frame = pd.DataFrame(X[4000:], columns=names)
    params = {**PARAMS, "max_depth": 3}
    booster = train(params, RayDMatrix(train_frame, label="target", sharding=RayShardingMode.BATCH), 20,
                    ray_params=TWO)
    assert booster.feature_names == names and booster.num_boosted_rounds() == 20
    distributed = booster.predict(xgb.DMatrix(test_frame))
    local = single_process(X[:4000], y[:4000], 20, params).predict(xgb.DMatrix(X[4000:]))
    assert logloss(y[4000:], distributed) == pytest.approx(logloss(y[4000:], local), rel=0.02)


@pytest.mark.parametrize("sharding", [RayShardingMode.INTERLEAVED, RayShardingMode.BATCH])
def test_predictions_keep_row_order(sharding):
    X, y = discrete_data(n=1001, seed=3)
    booster = single_process(X, y, 3)
    preds = predict(booster, RayDMatrix(X, sharding=sharding), ray_params=RayParams(num_actors=3, cpus_per_actor=0.5))
    assert np.array_equal(preds, booster.predict(xgb.DMatrix(X)))


def test_actors_skip_scikit_learn_at_import_yet_user_code_there_can_import_it():
    """The training actors import xgboost without scikit-learn (a second of CPU each); a custom metric
    that imports scikit-learn inside the actors still works, and agrees with xgboost's own log loss."""
    X, y = discrete_data(n=600)

    def sk_logloss(predt, dmatrix):
        from sklearn.metrics import log_loss
        return "sk_logloss", float(log_loss(dmatrix.get_label(), predt, labels=[0, 1]))

    evals_result = {}
    dtrain = RayDMatrix(X, label=y)
    train(PARAMS, dtrain, 3, evals=[(dtrain, "train")], evals_result=evals_result, custom_metric=sk_logloss,
          ray_params=TWO)
    # a custom metric sees each shard's rows; xgboost's own logloss is all-reduced over the shards
    assert len(evals_result["train"]["sk_logloss"]) == 3
    assert evals_result["train"]["sk_logloss"][-1] == pytest.approx(evals_result["train"]["logloss"][-1], rel=0.1)


def test_import_without_sklearn_hides_it_only_during_the_import():
    import subprocess
    import sys

    code = ("import sys; from strato.xgboost.actor import import_xgboost_without_sklearn as f; f(); "
            "import xgboost.compat as c; assert 'sklearn' not in sys.modules and not c.SKLEARN_INSTALLED; "
            "import sklearn.metrics; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_training_without_a_label_says_how_to_pass_one():
    X, _ = discrete_data(n=100)
    with pytest.raises(ValueError, match="no label"):
        train(PARAMS, RayDMatrix(X), 2, ray_params=TWO)
    with pytest.raises(ValueError, match="'nope' is not a column"):
        RayDMatrix(pd.DataFrame(X), label="nope")


def test_exact_tree_method_is_refused():
    X, y = discrete_data(n=100)
    with pytest.raises(ValueError, match='tree_method="exact"'):
        train({**PARAMS, "tree_method": "exact"}, RayDMatrix(X, label=y), 2, ray_params=TWO)


def test_more_actors_than_the_cluster_can_ever_place_fails_after_a_bounded_wait():
    X, y = discrete_data(n=100)
    started = time.monotonic()
    with pytest.raises(InsufficientResourcesError, match="can never place 3 training actors"):
        train(PARAMS, RayDMatrix(X, label=y), 2,
              ray_params=RayParams(num_actors=3, cpus_per_actor=1, placement_timeout_s=2))
    assert time.monotonic() - started < 15
