"""strato.xgboost: XGBoost-Ray's API on xgboost 3's own collective.

    from strato.xgboost import RayDMatrix, RayParams, train, predict

    dtrain = RayDMatrix(df, label="target")                  # numpy, pandas, parquet paths, strato.data
    booster = train({"objective": "binary:logistic"}, dtrain, 50,
                    evals=[(dtrain, "train")], ray_params=RayParams(num_actors=2))
    preds = predict(booster, RayDMatrix(df_test), ray_params=RayParams(num_actors=2))

Modules, one concern each:

    matrix.py      RayDMatrix: the data, and what each actor loads (its shard)
    sharding.py    which rows/files go to which rank, and putting predictions back in order (pure)
    params.py      RayParams and the checks on xgboost parameters
    placement.py   whether the cluster can ever hold the actors (pure)
    recovery.py    RestartPolicy: what to do after a failed attempt (pure)
    actor.py       the training actor (one xgboost worker) and the prediction task
    coordinator.py the driver side: tracker, actors, attempts, checkpoints
    main.py        train() and predict()
    sklearn.py     RayXGBClassifier, RayXGBRegressor (also importable from here)
    tune.py        Tune callbacks (reports and checkpoints from the driver) and get_tune_resources
"""
from strato.xgboost.coordinator import InsufficientResourcesError
from strato.xgboost.main import RayXGBoostTrainingError, predict, train
from strato.xgboost.matrix import RayDMatrix
from strato.xgboost.params import RayParams
from strato.xgboost.sharding import RayShardingMode

__all__ = ["InsufficientResourcesError", "RayDMatrix", "RayParams", "RayShardingMode", "RayXGBClassifier",
           "RayXGBRegressor", "RayXGBoostTrainingError", "predict", "train"]


def __getattr__(name: str):
    # The estimators subclass xgboost's own, so importing them imports xgboost (about a second): on first use.
    if name in ("RayXGBClassifier", "RayXGBRegressor"):
        from strato.xgboost import sklearn
        return getattr(sklearn, name)
    raise AttributeError(f"module 'strato.xgboost' has no attribute {name!r}")
