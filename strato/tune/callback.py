"""tune.Callback: hooks the controller calls as a run goes (Ray's names and arguments).

    on_trial_start(iteration, trials, trial)         an actor was given the trial
    on_trial_result(iteration, trials, trial, result)
    on_trial_complete(iteration, trials, trial)      TERMINATED (returned, stopped, early-stopped)
    on_trial_error(iteration, trials, trial)         ERROR (no retries left)
    on_experiment_end(trials)
`iteration` counts the controller's loop turns. A callback raising is logged, not fatal.
"""
from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class Callback:
    def setup(self, **info) -> None:
        pass

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        pass

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        pass

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        pass

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        pass

    def on_experiment_end(self, trials: list, **info) -> None:
        pass


def call(callbacks, hook: str, *args, **kwargs) -> None:
    for cb in callbacks or ():
        try:
            getattr(cb, hook)(*args, **kwargs)
        except Exception:
            logger.exception("tune callback %s.%s failed", type(cb).__name__, hook)
