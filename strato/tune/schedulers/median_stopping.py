"""MedianStoppingRule, as Ray's: stop a trial whose best result is worse than the median of the
other trials' running means.

    at time t >= grace_period (time_attr), for trial T:
        others = every other trial whose last result is at t or beyond (stopped ones too)
        fewer than min_samples_required running means:
            PAUSE if trials wait (PENDING/PAUSED) and T ran min_time_slice since it last paused (strictly more),
            else CONTINUE
        median = median over others of mean(their results with time in [grace, t])
        best(T) (max for "max", min for "min", over its results so far) worse than median
            -> STOP ("Median stopping: best 0.3 < median 0.5 at t=...") (PAUSE if not hard_stop)
"""
from __future__ import annotations

import collections

import numpy as np

from strato.tune.schedulers.trial_scheduler import CONTINUE, PAUSE, Decision, FIFOScheduler


class MedianStoppingRule(FIFOScheduler):
    def __init__(self, time_attr: str = "time_total_s", metric: str | None = None, mode: str | None = None,
                 grace_period: float = 60.0, min_samples_required: int = 3, min_time_slice: float = 0,
                 hard_stop: bool = True):
        super().__init__(metric, mode)
        self._time_attr = time_attr
        self._grace_period = grace_period
        self._min_samples_required = min_samples_required
        self._min_time_slice = min_time_slice
        self._hard_stop = hard_stop
        self._stopped: set[str] = set()
        self._completed: set[str] = set()
        self._results: dict[str, list[dict]] = collections.defaultdict(list)
        self._last_pause: dict[str, float] = collections.defaultdict(lambda: float("-inf"))

    def on_trial_add(self, controller, trial) -> None:
        self._require_metric()

    def _running_mean(self, trial_id: str, t: float) -> float | None:
        values = [r[self._metric] for r in self._results[trial_id]
                  if self._grace_period <= r[self._time_attr] <= t]
        return float(np.mean(values)) if values else None

    def _best(self, trial_id: str) -> float:
        values = [r[self._metric] for r in self._results[trial_id]]
        return max(values) if self._mode == "max" else min(values)

    def on_trial_result(self, controller, trial, result: dict) -> Decision:
        if self._time_attr not in result or self._metric not in result:
            return CONTINUE
        tid = trial.trial_id
        if tid in self._stopped:
            return CONTINUE if not self._hard_stop else Decision("STOP", "Median stopping: stopped before")
        self._results[tid].append(result)
        t = result[self._time_attr]
        if t < self._grace_period:
            return CONTINUE
        others = [o for o, rs in self._results.items() if o != tid and rs and rs[-1][self._time_attr] >= t]
        means = [m for m in (self._running_mean(o, t) for o in others) if m is not None and np.isfinite(m)]
        if len(means) < self._min_samples_required:
            waiting = any(x.status in ("PENDING", "PAUSED") for x in controller.get_trials())
            if waiting and t - self._last_pause[tid] > self._min_time_slice:
                self._last_pause[tid] = t
                return Decision("PAUSE", "Median stopping: too few samples, yielding to waiting trials")
            return CONTINUE
        median = float(np.median(means))
        best = self._best(tid)
        worse = best < median if self._mode == "max" else best > median
        if not worse:
            return CONTINUE
        self._stopped.add(tid)
        reason = f"Median stopping: best {best:.4g} worse than median {median:.4g} at {self._time_attr}={t:g}"
        return Decision("STOP" if self._hard_stop else "PAUSE", reason)

    def on_trial_complete(self, controller, trial, result: dict) -> None:
        self._completed.add(trial.trial_id)
        if result and self._metric in result and self._time_attr in result:
            rs = self._results[trial.trial_id]
            if not rs or rs[-1] is not result:
                rs.append(result)
