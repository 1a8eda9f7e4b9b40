"""strato.xgboost inside a strato.tune trial: per-round reports, checkpoints, the trial's resources.

    def trainable(config):
        train(config, dtrain, 50, evals=[(dtrain, "train")], ray_params=ray_params,
              callbacks=[TuneReportCheckpointCallback(metrics={"loss": "train-logloss"}, frequency=10)])

    tuner = tune.Tuner(tune.with_resources(trainable, ray_params.get_tune_resources()), ...)

The callbacks here never run in the training actors. `train` takes them out
of `callbacks=`, rank 0 ships each round's evaluation (and the model when a
checkpoint is due) to the driver, which is the trial's own process, and the
callback calls `tune.report` there -- as XGBoost-Ray does through its queue.
Inside a trial without such a callback, `train` adds
`TuneReportCheckpointCallback()` (every round reported, a checkpoint at the end).

Resources: `RayParams.get_tune_resources()` gives the trial one bundle per
actor (plus an empty head bundle). strato.tune reserves a trial's bundles as a
placement group (possibly across nodes), so inside a trial training actor r
takes the group's bundle for rank r (`trial_bundle`). A trial given plain
resources instead holds them itself; its training actors then reserve nothing
again (otherwise they would wait for CPUs the trial already holds).
"""
from __future__ import annotations

import os
import tempfile

MODEL_FILENAME = "model.ubj"


def in_tune_session() -> bool:
    """Whether this process is running a strato.tune trial right now."""
    try:
        from strato.tune import session
    except ImportError:
        return False
    return getattr(session, "_session", None) is not None


def trial_bundle(num_actors: int):
    """(placement group, index of rank 0's bundle) when this trial runs in a group made from its
    PlacementGroupFactory with a bundle per training actor after the head; else None."""
    from strato.tune import session
    from strato.tune.trial_actors import head_offset
    from strato.util.placement_group import get_current_placement_group

    current = getattr(session, "_session", None)
    pg = get_current_placement_group()
    if current is None or pg is None:      # not a trial, or one given plain resources
        return None
    bundles = current.context.get_trial_resources().bundles
    offset = head_offset(bundles)
    if len(bundles) - 1 < num_actors or pg.bundle_count < offset + num_actors:
        return None
    return pg, offset


def flatten(evals_result: dict, round_index: int = -1) -> dict:
    """{"<data>-<metric>": value of that round} (Tune's metric names for xgboost)."""
    return {f"{data}-{metric}": values[round_index]
            for data, by_metric in evals_result.items() for metric, values in by_metric.items() if values}


class TuneReportCheckpointCallback:
    """Report each round's metrics to the trial; save the model as a checkpoint every `frequency` rounds
    (0: never during training) and at the end when `checkpoint_at_end`.

    metrics: None (every "<data>-<metric>"), a list of those names, or a dict {reported name: xgboost name}.
    filename: the model file inside the checkpoint folder. results_postprocessing_fn(dict) -> dict.
    """

    def __init__(self, metrics=None, filename: str = MODEL_FILENAME, frequency: int = 0,
                 checkpoint_at_end: bool = True, results_postprocessing_fn=None):
        if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 0:
            raise ValueError(f"frequency must be an int >= 0 (rounds between checkpoints; 0: none during "
                             f"training), got {frequency!r}.")
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metrics = metrics
        self.filename = filename
        self.frequency = frequency
        self.checkpoint_at_end = checkpoint_at_end
        self.results_postprocessing_fn = results_postprocessing_fn
        self._last_reported = 0

    # -- what the actors must send
    def wants_model(self, rounds_done: int, final_round: int) -> bool:
        return bool((self.frequency and rounds_done % self.frequency == 0)
                    or (self.checkpoint_at_end and rounds_done == final_round))

    def _select(self, flat: dict) -> dict:
        if self.metrics is None:
            out = dict(flat)
        elif isinstance(self.metrics, dict):
            out = {name: flat[key] for name, key in self.metrics.items() if key in flat}
        else:
            out = {key: flat[key] for key in self.metrics if key in flat}
        return self.results_postprocessing_fn(out) if self.results_postprocessing_fn else out

    def on_round(self, rounds_done: int, evals_result: dict, model: bytes | None, final_round: int) -> None:
        """Runs in the driver (the trial's process) for each round rank 0 finished."""
        from strato import tune

        if rounds_done <= self._last_reported:      # replayed after a restart: reported already
            return
        self._last_reported = rounds_done
        metrics = self._select(flatten(evals_result))
        if model is None or not self.wants_model(rounds_done, final_round):
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="strato-xgboost-ckpt-") as folder:
            with open(os.path.join(folder, self.filename), "wb") as f:
                f.write(model)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    @staticmethod
    def get_model(checkpoint, filename: str = MODEL_FILENAME):
        """The xgboost Booster saved in a checkpoint by this callback."""
        import xgboost as xgb

        booster = xgb.Booster()
        with checkpoint.as_directory() as folder:
            booster.load_model(os.path.join(folder, filename))
        return booster


class TuneReportCallback(TuneReportCheckpointCallback):
    """Report each round's metrics to the trial, without checkpoints."""

    def __init__(self, metrics=None, results_postprocessing_fn=None):
        super().__init__(metrics, frequency=0, checkpoint_at_end=False,
                         results_postprocessing_fn=results_postprocessing_fn)


def split_callbacks(callbacks) -> tuple[list, list]:
    """(callbacks for the actors, Tune callbacks run in the driver)."""
    actor_side, driver_side = [], []
    for cb in callbacks or []:
        (driver_side if isinstance(cb, TuneReportCheckpointCallback) else actor_side).append(cb)
    return actor_side, driver_side


def get_tune_resources(ray_params):
    """The trial's bundles for these RayParams: an empty head bundle, then one bundle per actor."""
    from strato.tune import PlacementGroupFactory

    ray_params.validate()
    bundle = ray_params.bundle()
    if not bundle.get("CPU"):
        bundle["CPU"] = 1
    return PlacementGroupFactory([{}] + [dict(bundle) for _ in range(ray_params.num_actors)], strategy="PACK")
