"""strato.train: Ray Train's shape for the libraries that strato runs on its own actors.

    from strato.train import ScalingConfig, RunConfig, Checkpoint, Result
    from strato.train.xgboost import XGBoostTrainer
"""
from strato.train.config import Checkpoint, Result, RunConfig, ScalingConfig

__all__ = ["Checkpoint", "Result", "RunConfig", "ScalingConfig"]
