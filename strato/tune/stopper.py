"""Stop criteria (RunConfig.stop): a dict of bounds, a function, or a Stopper.

    {"training_iteration": 10, "mean_accuracy": 0.98}   stop a trial when any key reaches its bound (>=)
    lambda trial_id, result: result["loss"] < 0.01      stop a trial when it returns True
    Stopper subclass: __call__(trial_id, result) per trial, stop_all() for the whole run
"""
from __future__ import annotations

from collections.abc import Mapping


class Stopper:
    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return False


class FunctionStopper(Stopper):
    def __init__(self, fn):
        self._fn = fn

    def __call__(self, trial_id, result):
        return bool(self._fn(trial_id, result))


class DictStopper(Stopper):
    def __init__(self, criteria: Mapping):
        for k, v in criteria.items():
            if not isinstance(v, (int, float)):
                raise ValueError(f"stop criteria must map result keys to numbers (stop when result[key] >= "
                                 f"value); {k!r} maps to {v!r}.")
        self.criteria = dict(criteria)

    def __call__(self, trial_id, result):
        return any(k in result and result[k] >= v for k, v in self.criteria.items())


class MaximumIterationStopper(Stopper):
    def __init__(self, max_iter: int):
        self._max_iter = max_iter

    def __call__(self, trial_id, result):
        return result.get("training_iteration", 0) >= self._max_iter


class CombinedStopper(Stopper):
    def __init__(self, *stoppers: Stopper):
        self._stoppers = stoppers

    def __call__(self, trial_id, result):
        return any(s(trial_id, result) for s in self._stoppers)

    def stop_all(self):
        return any(s.stop_all() for s in self._stoppers)


def make_stopper(stop) -> Stopper | None:
    if stop is None:
        return None
    if isinstance(stop, Stopper):
        return stop
    if isinstance(stop, Mapping):
        return DictStopper(stop)
    if callable(stop):
        return FunctionStopper(stop)
    raise TypeError(f"RunConfig(stop=...) takes a dict, a function (trial_id, result) -> bool or a Stopper; "
                    f"got {type(stop).__name__}.")
