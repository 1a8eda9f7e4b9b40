"""sklearn-style estimators that train and predict on strato actors: RayXGBClassifier, RayXGBRegressor.

They are xgboost's own XGBClassifier / XGBRegressor (same constructor
parameters, same fitted attributes), with `fit`, `predict` and (for the
classifier) `predict_proba` running through strato.xgboost.train/predict.
`ray_params=` says how many actors; without it `n_jobs` gives the actor
count (XGBoost-Ray's convention), default 2. `ray_dmatrix_params=` is passed
to RayDMatrix (e.g. {"sharding": RayShardingMode.BATCH}).
"""
from __future__ import annotations

import numpy as np
import xgboost as xgb

from strato.xgboost.main import predict as ray_predict
from strato.xgboost.main import train as ray_train
from strato.xgboost.matrix import RayDMatrix
from strato.xgboost.params import RayParams


class _RayXGBMixin:
    def _ray_params(self, ray_params):
        if ray_params is not None:
            return ray_params
        return RayParams(num_actors=int(self.n_jobs) if self.n_jobs and self.n_jobs > 0 else 2)

    def _fit_booster(self, X, y, params: dict, *, sample_weight=None, eval_set=None, ray_params=None,
                     ray_dmatrix_params=None, xgb_model=None, encode=lambda labels: labels):
        dm_params = dict(ray_dmatrix_params or {})
        dtrain = RayDMatrix(X, label=encode(y), weight=sample_weight, **dm_params)
        evals = []
        for i, (X_eval, y_eval) in enumerate(eval_set or []):
            evals.append((RayDMatrix(X_eval, label=encode(y_eval), **dm_params), f"validation_{i}"))
        params = {k: v for k, v in params.items() if v is not None}
        params.pop("n_jobs", None)
        kwargs = {}
        if getattr(self, "early_stopping_rounds", None) is not None:
            kwargs["early_stopping_rounds"] = self.early_stopping_rounds
        if xgb_model is not None:       # continue a model: a Booster, a fitted estimator, a path or raw bytes
            kwargs["xgb_model"] = xgb_model.get_booster() if isinstance(xgb_model, xgb.XGBModel) else xgb_model
        evals_result: dict = {}
        self._Booster = ray_train(params, dtrain, self.get_num_boosting_rounds(), evals=evals,
                                  evals_result=evals_result, ray_params=self._ray_params(ray_params), **kwargs)
        self.evals_result_ = evals_result
        return self

    def _predict_raw(self, X, ray_params=None, ray_dmatrix_params=None, **kwargs):
        return ray_predict(self.get_booster(), RayDMatrix(X, **dict(ray_dmatrix_params or {})),
                           ray_params=self._ray_params(ray_params), **kwargs)


class RayXGBRegressor(_RayXGBMixin, xgb.XGBRegressor):
    """xgboost's XGBRegressor, trained and applied on strato actors."""

    def fit(self, X, y, *, sample_weight=None, eval_set=None, verbose=False, xgb_model=None, ray_params=None,
            ray_dmatrix_params=None, **unused):
        if unused:
            raise TypeError(f"RayXGBRegressor.fit() does not support {sorted(unused)}.")
        params = self.get_xgb_params()
        return self._fit_booster(X, y, params, sample_weight=sample_weight, eval_set=eval_set,
                                 ray_params=ray_params, ray_dmatrix_params=ray_dmatrix_params, xgb_model=xgb_model)

    def predict(self, X, output_margin=False, validate_features=True, base_margin=None, iteration_range=None,
                ray_params=None, ray_dmatrix_params=None):
        return self._predict_raw(X, ray_params, ray_dmatrix_params, output_margin=output_margin)


class RayXGBClassifier(_RayXGBMixin, xgb.XGBClassifier):
    """xgboost's XGBClassifier, trained and applied on strato actors (labels may be any sortable values)."""

    def fit(self, X, y, *, sample_weight=None, eval_set=None, verbose=False, xgb_model=None, ray_params=None,
            ray_dmatrix_params=None, **unused):
        if unused:
            raise TypeError(f"RayXGBClassifier.fit() does not support {sorted(unused)}.")
        self._labels = np.unique(np.asarray(y))
        self.n_classes_ = len(self._labels)
        if self.n_classes_ < 2:
            raise ValueError(f"RayXGBClassifier needs at least 2 classes in y, got {list(self._labels)}.")
        params = self.get_xgb_params()
        if self.n_classes_ > 2:
            params["objective"] = "multi:softprob"
            params["num_class"] = self.n_classes_
        elif params.get("objective") in (None, "multi:softprob", "multi:softmax"):
            params["objective"] = "binary:logistic"
        index = {c: i for i, c in enumerate(self._labels)}

        def encode(labels):
            return np.array([index[v] for v in np.asarray(labels)], dtype=np.float32)

        return self._fit_booster(X, y, params, sample_weight=sample_weight, eval_set=eval_set,
                                 ray_params=ray_params, ray_dmatrix_params=ray_dmatrix_params, xgb_model=xgb_model,
                                 encode=encode)

    @property
    def classes_(self) -> np.ndarray:
        """The distinct labels seen by fit, sorted (predict returns these)."""
        return self._labels

    def predict_proba(self, X, validate_features=True, base_margin=None, iteration_range=None, ray_params=None,
                      ray_dmatrix_params=None):
        raw = np.asarray(self._predict_raw(X, ray_params, ray_dmatrix_params))
        if raw.ndim == 1:      # binary: the probability of class 1
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, X, output_margin=False, validate_features=True, base_margin=None, iteration_range=None,
                ray_params=None, ray_dmatrix_params=None):
        if output_margin:
            return self._predict_raw(X, ray_params, ray_dmatrix_params, output_margin=True)
        proba = self.predict_proba(X, ray_params=ray_params, ray_dmatrix_params=ray_dmatrix_params)
        return self.classes_[np.argmax(proba, axis=1)]
