"""RayXGBClassifier / RayXGBRegressor: xgboost's sklearn estimators, fitted and applied on strato actors."""
import numpy as np
import pytest
import xgboost as xgb

from strato.xgboost import RayParams
from strato.xgboost.sklearn import RayXGBClassifier, RayXGBRegressor

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]

TWO = RayParams(num_actors=2, cpus_per_actor=1)


def test_classifier_with_string_labels_three_classes_and_predict_proba():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(1500, 4)).astype(np.float32)
    classes = np.array(["cat", "dog", "emu"])
    y = classes[np.clip((X[:, 0] + X[:, 1]) // 2, 0, 2).astype(int)]
    clf = RayXGBClassifier(n_estimators=5, max_depth=3).fit(X, y, ray_params=TWO)
    assert list(clf.classes_) == ["cat", "dog", "emu"] and clf.n_classes_ == 3
    proba = clf.predict_proba(X, ray_params=TWO)
    assert proba.shape == (1500, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    local = xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1, tree_method="hist").fit(
        X, np.searchsorted(classes, y))
    assert np.abs(proba - local.predict_proba(X)).mean() < 1e-3
    assert (clf.predict(X, ray_params=TWO) == y).mean() > 0.9


def test_binary_classifier_and_regressor():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 5, size=(1200, 3)).astype(np.float32)
    y = (X[:, 0] > 2).astype(int)
    clf = RayXGBClassifier(n_estimators=3).fit(X, y, ray_params=TWO)
    proba = clf.predict_proba(X, ray_params=TWO)      # the positive class's probability, and its complement
    assert proba.shape == (1200, 2) and (np.argmax(proba, axis=1) == y).all()
    assert np.allclose(proba.sum(axis=1), 1)
    target = 2 * X[:, 0] - X[:, 1]
    reg = RayXGBRegressor(n_estimators=20, max_depth=3).fit(X, target, eval_set=[(X, target)], ray_params=TWO)
    assert len(reg.evals_result_["validation_0"]["rmse"]) == 20
    assert np.sqrt(np.mean((reg.predict(X, ray_params=TWO) - target) ** 2)) < 0.1
    more = RayXGBRegressor(n_estimators=10, max_depth=3).fit(X, target, xgb_model=reg, ray_params=TWO)
    assert more.get_booster().num_boosted_rounds() == 30          # continued from the fitted estimator
    assert np.sqrt(np.mean((more.predict(X, ray_params=TWO) - target) ** 2)) <= np.sqrt(
        np.mean((reg.predict(X, ray_params=TWO) - target) ** 2)) + 1e-6
