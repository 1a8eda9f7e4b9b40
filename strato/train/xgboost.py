"""strato.train.xgboost.XGBoostTrainer: Ray Train's XGBoostTrainer shape over strato.xgboost's actors.

    trainer = XGBoostTrainer(params={"objective": "binary:logistic"}, label_column="y",
                             datasets={"train": ds, "valid": ds_valid},
                             scaling_config=ScalingConfig(num_workers=2), num_boost_round=50)
    result = trainer.fit()                 # Result(metrics={"train-logloss": ..., ...}, checkpoint=...)
    booster = XGBoostTrainer.get_model(result.checkpoint)

A thin layer: each dataset becomes a RayDMatrix, ScalingConfig becomes
RayParams, and strato.xgboost.train runs on the same training actors. The
checkpoint is a directory holding the booster as model.ubj (Ray's name).
"""
from __future__ import annotations

import os
import time

from strato.train.config import Checkpoint, Result, RunConfig, ScalingConfig

MODEL_FILENAME = "model.ubj"


class XGBoostTrainer:
    """Train an xgboost model on `scaling_config.num_workers` actors (the legacy Ray Train arguments)."""

    def __init__(self, train_loop_per_worker=None, *, params: dict | None = None, label_column: str | None = None,
                 datasets: dict | None = None, scaling_config: ScalingConfig | None = None,
                 num_boost_round: int = 10, run_config: RunConfig | None = None, dmatrix_params: dict | None = None,
                 max_actor_restarts: int = 0, checkpoint_frequency: int = 5, **train_kwargs):
        if train_loop_per_worker is not None:
            raise NotImplementedError(
                "strato.train.xgboost.XGBoostTrainer takes params=, label_column=, datasets= and num_boost_round= "
                "(the model is trained for you); a custom train_loop_per_worker is not supported.")
        if not isinstance(datasets, dict) or "train" not in datasets:
            raise ValueError("datasets= must be a dict with a 'train' entry (a strato.data Dataset or a pandas "
                             "DataFrame), e.g. datasets={'train': ds, 'valid': ds_valid}.")
        if not isinstance(label_column, str):
            raise ValueError("label_column= must name the label column of the datasets, e.g. label_column='y'.")
        self.params = dict(params or {})
        self.label_column = label_column
        self.datasets = datasets
        self.scaling_config = scaling_config or ScalingConfig(num_workers=1)
        self.num_boost_round = num_boost_round
        self.run_config = run_config or RunConfig()
        self.dmatrix_params = dict(dmatrix_params or {})
        self.max_actor_restarts = max_actor_restarts
        self.checkpoint_frequency = checkpoint_frequency
        self.train_kwargs = train_kwargs

    def _ray_params(self):
        from strato.xgboost import RayParams

        resources = dict(self.scaling_config.worker_resources)
        cpus = resources.pop("CPU")
        gpus = resources.pop("GPU", -1)
        return RayParams(num_actors=self.scaling_config.num_workers, cpus_per_actor=cpus, gpus_per_actor=gpus,
                         resources_per_actor=resources or None, max_actor_restarts=self.max_actor_restarts,
                         checkpoint_frequency=self.checkpoint_frequency)

    def _run_dir(self) -> str:
        root = self.run_config.storage_path or os.path.expanduser("~/strato_results")
        name = self.run_config.name or f"XGBoostTrainer_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
        path = os.path.join(root, name)
        os.makedirs(path, exist_ok=True)
        return path

    def fit(self) -> Result:
        """Train; returns a Result with the last round's metrics ("<dataset>-<metric>") and the model."""
        from strato.xgboost import RayDMatrix, train

        matrices = {name: RayDMatrix(data, label=self.label_column, **self.dmatrix_params)
                    for name, data in self.datasets.items()}
        evals_result: dict = {}
        extra: dict = {}
        booster = train(self.params, matrices["train"], self.num_boost_round,
                        evals=[(matrix, name) for name, matrix in matrices.items()], evals_result=evals_result,
                        additional_results=extra, ray_params=self._ray_params(), **self.train_kwargs)
        path = self._run_dir()
        checkpoint_dir = os.path.join(path, "checkpoint_000000")
        os.makedirs(checkpoint_dir, exist_ok=True)
        booster.save_model(os.path.join(checkpoint_dir, MODEL_FILENAME))
        metrics = {f"{data}-{metric}": values[-1]
                   for data, by_metric in evals_result.items() for metric, values in by_metric.items() if values}
        metrics.update(training_iteration=booster.num_boosted_rounds(), time_total_s=extra.get("total_time_s"))
        return Result(metrics=metrics, checkpoint=Checkpoint.from_directory(checkpoint_dir), path=path,
                      metrics_dataframe=_history_frame(evals_result))

    @staticmethod
    def get_model(checkpoint: Checkpoint):
        """The xgboost Booster stored in a checkpoint made by fit()."""
        import xgboost as xgb

        booster = xgb.Booster()
        with checkpoint.as_directory() as directory:
            booster.load_model(os.path.join(directory, MODEL_FILENAME))
        return booster


def _history_frame(evals_result: dict):
    import pandas as pd

    columns = {f"{data}-{metric}": values for data, by_metric in evals_result.items()
               for metric, values in by_metric.items()}
    frame = pd.DataFrame(columns)
    frame.insert(0, "training_iteration", range(1, len(frame) + 1))
    return frame
