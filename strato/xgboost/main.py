"""`train` and `predict`: XGBoost-Ray's entry points.

    booster = train(params, dtrain, num_boost_round, evals=[(dtrain, "train")], evals_result=res,
                    additional_results=extra, ray_params=RayParams(num_actors=2))
    preds = predict(booster, RayDMatrix(X), ray_params=RayParams(num_actors=2))

`train` checks its inputs, then lets a Coordinator (coordinator.py) run
attempts until one finishes every round or the RestartPolicy (recovery.py)
gives up. `predict` runs one task per shard and puts the rows back in order.
"""
from __future__ import annotations

import os
import time

import numpy as np

import strato
from strato.xgboost.actor import predict_shard
from strato.xgboost.coordinator import AttemptFailed, Coordinator
from strato.xgboost.matrix import RayDMatrix
from strato.xgboost.params import RayParams, check_xgb_params
from strato.xgboost.recovery import GiveUp, RestartPolicy, TrainingCheckpoint
from strato.xgboost.tune import TuneReportCheckpointCallback, in_tune_session, split_callbacks


class RayXGBoostTrainingError(RuntimeError):
    """Distributed training failed and could not be resumed."""


def _ray_params(ray_params) -> RayParams:
    if ray_params is None:
        raise ValueError("Pass ray_params=RayParams(num_actors=N) to say how many actors should train.")
    if isinstance(ray_params, dict):
        ray_params = RayParams(**ray_params)
    if not isinstance(ray_params, RayParams):
        raise TypeError(f"ray_params must be a RayParams, got {type(ray_params).__name__}.")
    if not strato.is_initialized():
        strato.init()
    return ray_params.resolve(strato.cluster_resources().get("CPU", 1))


def _check_matrix(dtrain, what: str) -> None:
    if not isinstance(dtrain, RayDMatrix):
        raise TypeError(f"{what} must be a strato.xgboost.RayDMatrix, got {type(dtrain).__name__}: wrap the data, "
                        f"e.g. RayDMatrix(X, label=y).")


def _start_model(xgb_model) -> TrainingCheckpoint | None:
    """xgb_model= (a Booster, the path of a saved model, or its raw bytes) as the first resume point."""
    if xgb_model is None:
        return None
    import xgboost as xgb
    if isinstance(xgb_model, xgb.Booster):
        booster = xgb_model
    elif isinstance(xgb_model, (str, os.PathLike, bytes, bytearray)):
        source = bytearray(xgb_model) if isinstance(xgb_model, (bytes, bytearray)) else os.fspath(xgb_model)
        try:
            booster = xgb.Booster(model_file=source)
        except xgb.core.XGBoostError as exc:
            raise ValueError(f"xgb_model could not be loaded as an xgboost model: {exc}") from None
    else:
        raise TypeError(f"xgb_model must be an xgboost Booster, a saved model's path or its raw bytes, "
                        f"got {type(xgb_model).__name__}.")
    return TrainingCheckpoint(booster.num_boosted_rounds(), bytes(booster.save_raw()), {})


def train(params: dict, dtrain: RayDMatrix, num_boost_round: int = 10, *args, evals=(), evals_result=None,
          additional_results=None, ray_params: RayParams | dict | None = None, **kwargs):
    """Train an xgboost Booster on `ray_params.num_actors` actors, one data shard each.

    Same arguments as xgboost.train (further keyword arguments such as
    `callbacks`, `obj`, `custom_metric`, `early_stopping_rounds` go to it on
    every actor). `evals_result` gets the history of every round;
    `additional_results` gets total_n, training_time_s, total_time_s and
    restarts. A dead actor is recreated and training continues from the last
    checkpoint, up to `ray_params.max_actor_restarts` times. `xgb_model=` (a
    Booster, a saved model's path or raw bytes) continues that model for
    `num_boost_round` more rounds, as xgboost.train does. Tune callbacks
    (strato.xgboost.tune) in `callbacks` run here, in the driver; inside a Tune
    trial one is added if none is given.
    """
    started = time.perf_counter()
    if args:
        raise TypeError("train() takes evals, evals_result, ... as keyword arguments (as xgboost 3 does).")
    check_xgb_params(params)
    _check_matrix(dtrain, "dtrain")
    if not dtrain.has_label:
        raise ValueError("dtrain has no label: training needs one. Pass RayDMatrix(X, label=y), or for tabular "
                         "data the label column's name, RayDMatrix(df, label='target').")
    evals = list(evals or [])
    for pair in evals:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], str)):
            raise TypeError(f"evals must be a list of (RayDMatrix, name) pairs, got {pair!r}.")
        _check_matrix(pair[0], f"the eval set {pair[1]!r}")
    if isinstance(num_boost_round, bool) or not isinstance(num_boost_round, int) or num_boost_round < 0:
        raise ValueError(f"num_boost_round must be an int >= 0, got {num_boost_round!r}.")
    base = _start_model(kwargs.pop("xgb_model", None))
    ray_params = _ray_params(ray_params)
    for matrix in [dtrain] + [m for m, _ in evals]:
        matrix.positions(ray_params.num_actors)       # fails now if it cannot be cut (fewer files than actors)
    params = dict(params)
    params.setdefault("nthread", ray_params.nthread)
    in_trial = in_tune_session()
    kwargs["callbacks"], tune_callbacks = split_callbacks(kwargs.get("callbacks"))
    if in_trial and not tune_callbacks:
        tune_callbacks = [TuneReportCheckpointCallback()]

    def on_round(rounds_done, evals_so_far, model):
        for callback in tune_callbacks:
            callback.on_round(rounds_done, evals_so_far, model, last_round)

    model_frequencies = tuple(cb.frequency for cb in tune_callbacks if cb.frequency)
    # Rounds count in the model, as xgboost's callbacks see them: a continued model starts at its own.
    last_round = (base.rounds_done if base is not None else 0) + num_boost_round
    final_round = last_round if any(cb.checkpoint_at_end for cb in tune_callbacks) else None
    policy = RestartPolicy(last_round, ray_params.max_actor_restarts)
    coordinator = Coordinator(ray_params, dtrain, evals, on_round=on_round if tune_callbacks else None,
                              verbose=bool(ray_params.verbose), reserved_by_trial=in_trial)
    coordinator.checkpoint = base
    try:
        coordinator.start(range(ray_params.num_actors))
        while True:
            rounds = policy.rounds_left(coordinator.checkpoint)
            if rounds == 0 and coordinator.checkpoint is not None:    # died after the last round's checkpoint
                done = coordinator.checkpoint
                out = {"booster": done.model, "evals_result": done.evals_result,
                       "total_n": sum(coordinator.rows), "train_time_s": 0.0}
                break
            try:
                out = coordinator.run_attempt(params, rounds, kwargs, report_every_round=bool(tune_callbacks),
                                              model_frequencies=model_frequencies, final_round=final_round)
                break
            except AttemptFailed as failure:
                decision = policy.on_failure(failure.dead, failure.failed, coordinator.checkpoint)
                if isinstance(decision, GiveUp):
                    first = next(iter(failure.errors.values()))
                    if not failure.dead:
                        raise first
                    raise RayXGBoostTrainingError(f"Training failed: {decision.reason}. Allow more restarts with "
                                                  f"RayParams(max_actor_restarts=N).") from first
                if ray_params.verbose:
                    print(f"[strato.xgboost] {decision.reason}")
                coordinator.restart(decision.restart_ranks)
    finally:
        coordinator.shutdown()
    import xgboost as xgb

    booster = xgb.Booster(model_file=bytearray(out["booster"]))
    if evals_result is not None:
        evals_result.clear()
        evals_result.update(out["evals_result"])
    if additional_results is not None:
        additional_results.update(total_n=out["total_n"], training_time_s=out["train_time_s"],
                                  total_time_s=time.perf_counter() - started, restarts=policy.restarts,
                                  callback_returns=[])
    return booster


def predict(model, data: RayDMatrix, ray_params: RayParams | dict | None = None, **kwargs) -> np.ndarray:
    """Predict `data` with one task per shard (each loads its own shard); rows come back in their order.

    `model` is an xgboost Booster. Keyword arguments go to Booster.predict
    (e.g. output_margin=True, pred_contribs=True).
    """
    import xgboost as xgb

    _check_matrix(data, "data")
    if not isinstance(model, xgb.Booster):
        raise TypeError(f"model must be an xgboost.Booster, got {type(model).__name__}.")
    ray_params = _ray_params(ray_params)
    n = ray_params.num_actors
    model_ref = strato.put(bytes(model.save_raw()))
    specs = data.shard_specs(n, for_prediction=True)
    resources = {"num_cpus": 0} if in_tune_session() else ray_params.actor_resources()   # the trial holds them
    options = dict(resources, scheduling_strategy="SPREAD", max_retries=max(ray_params.max_actor_restarts, 0) + 3)
    refs = [predict_shard.options(**options).remote(spec, model_ref, ray_params.nthread, data.matrix_args, kwargs)
            for spec in specs]
    parts = strato.get(refs)
    return _combine_predictions(data, n, parts)


def _combine_predictions(data: RayDMatrix, n: int, parts: list) -> np.ndarray:
    from strato.xgboost.sharding import combine

    preds = [p for p, _ in parts]
    if data.kind == "memory":
        return combine(data.num_rows, preds, data.positions(n))
    if data.kind == "parquet":
        by_file: dict[int, np.ndarray] = {}
        for (pred, rows), files in zip(parts, data.positions(n)):
            offsets = np.cumsum([0] + rows)
            for i, file_index in enumerate(files):
                by_file[file_index] = pred[offsets[i]:offsets[i + 1]]
        return np.concatenate([by_file[i] for i in sorted(by_file)])
    return np.concatenate(preds)
