"""ASHA (asynchronous successive halving), in its "stopping" form, as Ray's AsyncHyperBandScheduler.

    brackets s = 0..brackets-1, each with rungs at grace * rf**(k+s),
        k = MAX_RUNGS-1 .. 0, MAX_RUNGS = int(log(max_t/grace)/log(rf) - s + 1)  (kept highest first)
    a new trial joins a bracket drawn with softmax(number of rungs)
    on each result with time t and reward r (= metric, negated for mode="min"):
        t >= max_t (stop_last_trials)        -> STOP (its course is run: no reason shown)
        else, the highest rung with t >= milestone that the trial has not reached before:
            cutoff = nanpercentile(rewards recorded at that rung so far, (1 - 1/rf) * 100)
            r < cutoff                       -> STOP ("ASHA: below rung <milestone> cutoff <metric value>")
            record r at that rung (whatever the decision)
There is no promotion: a trial continues unless it falls below the top 1/rf of
its rung at the moment it gets there.
"""
from __future__ import annotations

import math

import numpy as np

from strato.tune.schedulers.trial_scheduler import CONTINUE, Decision, FIFOScheduler


class Bracket:
    """The rungs of one ASHA bracket: [(milestone, {trial_id: reward})], highest milestone first."""

    def __init__(self, min_t: float, max_t: float, reduction_factor: float, s: int):
        self.rf = reduction_factor
        max_rungs = int(math.log(max_t / min_t) / math.log(reduction_factor) - s + 1)
        self.rungs = [(min_t * reduction_factor ** (k + s), {}) for k in reversed(range(max_rungs))]

    def cutoff(self, recorded: dict) -> float | None:
        if not recorded:
            return None
        return float(np.nanpercentile(list(recorded.values()), (1 - 1 / self.rf) * 100))

    def on_result(self, trial_id: str, cur_iter: float, reward: float | None) -> tuple[str, float | None, float | None]:
        """("CONTINUE" | "STOP", the milestone reached now or None, the cutoff used)."""
        for milestone, recorded in self.rungs:
            if cur_iter < milestone or trial_id in recorded:
                continue
            cutoff = self.cutoff(recorded)
            action = "CONTINUE"
            if cutoff is not None and reward is not None and reward < cutoff:
                action = "STOP"
            if reward is not None:
                recorded[trial_id] = reward
            return action, milestone, cutoff
        return "CONTINUE", None, None


class AsyncHyperBandScheduler(FIFOScheduler):
    def __init__(self, time_attr: str = "training_iteration", metric: str | None = None, mode: str | None = None,
                 max_t: float = 100, grace_period: float = 1, reduction_factor: float = 4, brackets: int = 1,
                 stop_last_trials: bool = True, seed: int | None = None):
        super().__init__(metric, mode)
        if grace_period <= 0:
            raise ValueError(f"grace_period must be > 0, got {grace_period}.")
        if max_t <= 0 or max_t < grace_period:
            raise ValueError(f"max_t must be >= grace_period > 0, got max_t={max_t}, grace_period={grace_period}.")
        if reduction_factor <= 1:
            raise ValueError(f"reduction_factor must be > 1, got {reduction_factor}.")
        if brackets < 1:
            raise ValueError(f"brackets must be >= 1, got {brackets}.")
        self._time_attr = time_attr
        self._max_t = max_t
        self._reduction_factor = reduction_factor
        self._stop_last_trials = stop_last_trials
        self._brackets = [Bracket(grace_period, max_t, reduction_factor, s) for s in range(brackets)]
        self._trial_info: dict[str, Bracket] = {}
        self._rng = np.random.default_rng(seed)
        self._num_stopped = 0

    def on_trial_add(self, controller, trial) -> None:
        self._require_metric()
        sizes = np.array([len(b.rungs) for b in self._brackets], dtype=float)
        probs = np.exp(sizes - sizes.max())
        idx = int(self._rng.choice(len(self._brackets), p=probs / probs.sum()))
        self._trial_info[trial.trial_id] = self._brackets[idx]

    def _metric_value(self, reward: float) -> float:
        return reward * self._metric_op      # reward -> the metric as the user reports it

    def on_trial_result(self, controller, trial, result: dict) -> Decision:
        if self._time_attr not in result or self._metric not in result:
            return CONTINUE
        t = result[self._time_attr]
        if self._stop_last_trials and t >= self._max_t:
            return Decision("STOP")          # ran its course: not an early stop, no reason shown
        bracket = self._trial_info.get(trial.trial_id)
        if bracket is None:
            return CONTINUE
        reward = self._metric_op * result[self._metric]
        action, milestone, cutoff = bracket.on_result(trial.trial_id, t, reward)
        if action == "STOP":
            self._num_stopped += 1
            return Decision("STOP", f"ASHA: below rung {milestone:g} cutoff {self._metric_value(cutoff):.4g}")
        return CONTINUE

    def on_trial_complete(self, controller, trial, result: dict) -> None:
        if not result or self._time_attr not in result or self._metric not in result:
            return
        bracket = self._trial_info.get(trial.trial_id)
        if bracket is not None:
            bracket.on_result(trial.trial_id, result[self._time_attr], self._metric_op * result[self._metric])

    def on_trial_remove(self, controller, trial) -> None:
        self._trial_info.pop(trial.trial_id, None)

    def debug_string(self) -> str:
        parts = []
        for i, b in enumerate(self._brackets):
            parts.append(f"Bracket {i}: " + ", ".join(f"rung {m:g}: {len(r)}" for m, r in b.rungs))
        return "Using AsyncHyperBand: num_stopped={}\n{}".format(self._num_stopped, "\n".join(parts))


ASHAScheduler = AsyncHyperBandScheduler
