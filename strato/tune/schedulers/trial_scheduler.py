"""What every scheduler shares: the decisions, and the narrow view of the controller it may use.

A scheduler is a pure class: the controller hands it events (trial added,
result, completed, errored) and it answers with a Decision:

    CONTINUE            keep the trial running
    PAUSE               give its resources back; it resumes later from its latest checkpoint
    STOP                end it now (early stopping); the Decision's `reason` says why, e.g.
                        "ASHA: below rung 3 cutoff 0.71", and is shown in the table and TuneView

A Decision is a `str` ("CONTINUE"/"PAUSE"/"STOP"), so Ray-style code that
compares `decision == TrialScheduler.STOP` works. It may carry instructions
the controller applies (PBT: `exploit` = clone another trial's checkpoint
with a new config; `save` = persist a checkpoint now). Schedulers that act
on other trials (HyperBand) call `controller.stop_trial(trial, reason)` and
`controller.unpause_trial(trial)`; they read trials with
`controller.get_trials()`. Unit tests pass a small fake with those three.
"""
from __future__ import annotations


class Decision(str):
    """CONTINUE / PAUSE / STOP with a reason and optional instructions."""

    def __new__(cls, value: str, reason: str = "", *, exploit: dict | None = None, save: bool = False):
        obj = super().__new__(cls, value)
        obj.reason = reason
        obj.exploit = exploit
        obj.save = save
        return obj

    def __repr__(self):
        extra = f", {self.reason!r}" if self.reason else ""
        return f"Decision({str(self)!r}{extra})"


CONTINUE = Decision("CONTINUE")
PAUSE = Decision("PAUSE")
STOP = Decision("STOP")


class TrialScheduler:
    CONTINUE = CONTINUE
    PAUSE = PAUSE
    STOP = STOP
    NOOP = "NOOP"

    _metric: str | None = None
    _mode: str | None = None
    _supports_buffered_results = True

    def __init__(self, metric: str | None = None, mode: str | None = None):
        if mode is not None and mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self._metric = metric
        self._mode = mode

    @property
    def metric(self):
        return self._metric

    @property
    def _metric_op(self) -> float:
        return 1.0 if self._mode == "max" else -1.0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if self._metric and metric and self._metric != metric:
            return False
        if self._mode and mode and self._mode != mode:
            return False
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def _require_metric(self) -> None:
        if not self._metric or not self._mode:
            raise ValueError(f"{type(self).__name__} needs `metric` and `mode`: pass them to the scheduler "
                             f"or to tune.TuneConfig(metric=..., mode=...).")

    def on_trial_add(self, controller, trial) -> None:
        pass

    def on_trial_error(self, controller, trial) -> None:
        pass

    def on_trial_result(self, controller, trial, result: dict) -> Decision:
        return CONTINUE

    def on_trial_complete(self, controller, trial, result: dict) -> None:
        pass

    def on_trial_remove(self, controller, trial) -> None:
        pass

    def choose_trial_to_run(self, controller):
        """The PENDING trial (or PAUSED one to resume) to start next, or None."""
        for trial in controller.get_trials():
            if trial.status == "PENDING":
                return trial
        for trial in controller.get_trials():
            if trial.status == "PAUSED":
                return trial
        return None

    def debug_string(self) -> str:
        return f"Using {type(self).__name__}."


class FIFOScheduler(TrialScheduler):
    """Runs trials in the order they were added, never stops one early."""
