"""HyperBand (synchronous), as Ray's HyperBandScheduler.

    s_max_1 = round(log(max_t) / log(eta)) + 1 brackets per band; bracket s (0, 1, ...) holds
        n0(s) = ceil(s_max_1 / (s + 1) * eta**s) trials, first run to r0(s) = int(max_t * eta**-s)
        (bracket 0: s_max_1 trials straight to max_t, no halving)
    new trials fill the current bracket; a full bracket opens the next (a new band after s_max_1)
    a trial that reaches its bracket's milestone (cumul_r) is PAUSEd until every live trial of
    the bracket is there; then the bracket keeps the best ceil(n / eta) (n shrinks), r *= eta
    (capped at max_t), the others are stopped ("HyperBand: not in the top k of bracket s"),
    the good ones resume (unpause_trial) and run to the new milestone.
    a bracket whose halvings are done stops its trials at max_t (stop_last_trials).
"""
from __future__ import annotations

import math

from strato.tune.schedulers.trial_scheduler import CONTINUE, Decision, FIFOScheduler


def bracket_sizes(max_t: int, eta: float) -> list[tuple[int, int]]:
    """[(n0, r0)] for s = 0 .. s_max_1 - 1 (brackets with r0 == 0 are skipped by the scheduler)."""
    s_max_1 = int(round(math.log(max_t) / math.log(eta)) + 1)
    return [(int(math.ceil(s_max_1 / (s + 1) * eta ** s)), int(max_t * eta ** -s)) for s in range(s_max_1)]


class HBBracket:
    def __init__(self, time_attr: str, n0: int, r0: int, max_t: int, eta: float, s: int, stop_last_trials: bool):
        self.time_attr = time_attr
        self.live: dict = {}                 # trial -> last result (None before any)
        self.all: list = []
        self.n = self.n0 = n0
        self.r = self.r0 = r0
        self.max_t = max_t
        self.cumul_r = r0
        self.eta = eta
        self.halves = s
        self.s = s
        self.stop_last_trials = stop_last_trials
        self.being_processed = False
        self.to_unpause: set = set()
        self.completed_progress = 0.0
        self.total_work = sum(math.ceil(n0 / eta ** i) * r0 * eta ** i for i in range(s + 1))

    def _time(self, result) -> float:
        return 0 if result is None else result[self.time_attr]

    def add(self, trial) -> None:
        self.live[trial] = None
        self.all.append(trial)

    def filled(self) -> bool:
        return len(self.live) == self.n

    def cur_iter_done(self) -> bool:
        return all(self._time(r) >= self.cumul_r for r in self.live.values())

    def finished(self) -> bool:
        return self.stop_last_trials and self.halves == 0 and self.cur_iter_done()

    def continue_trial(self, trial) -> bool:
        if not self.stop_last_trials and self.halves == 0:
            return True
        return self._time(self.live[trial]) < self.cumul_r

    def update(self, trial, result) -> None:
        delta = self._time(result) - self._time(self.live[trial])
        if delta > 0:
            self.completed_progress += delta
            self.live[trial] = result

    def completion(self) -> float:
        return self.completed_progress / self.total_work if self.total_work else 1.0

    def halve(self, metric: str, metric_op: float) -> tuple[list, list]:
        if self.halves == 0 and not self.stop_last_trials:
            return list(self.live), []
        self.halves -= 1
        self.n = int(math.ceil(self.n / self.eta))
        self.r = int(min(self.r * self.eta, self.max_t))
        self.cumul_r = self.r
        ranked = sorted(self.live, key=lambda t: metric_op * self.live[t][metric])
        return ranked[-self.n:], ranked[:-self.n]


class HyperBandScheduler(FIFOScheduler):
    def __init__(self, time_attr: str = "training_iteration", metric: str | None = None, mode: str | None = None,
                 max_t: int = 81, reduction_factor: float = 3, stop_last_trials: bool = True):
        super().__init__(metric, mode)
        if max_t <= 0 or reduction_factor <= 1:
            raise ValueError(f"HyperBand needs max_t > 0 and reduction_factor > 1, got {max_t}, {reduction_factor}.")
        self._time_attr = time_attr
        self._max_t = max_t
        self._eta = reduction_factor
        self._s_max_1 = int(round(math.log(max_t) / math.log(reduction_factor)) + 1)
        self._stop_last_trials = stop_last_trials
        self._bands: list[list] = [[]]
        self._bracket: HBBracket | None = None
        self._info: dict = {}                 # trial -> bracket
        self._num_stopped = 0

    def _n0(self, s):
        return int(math.ceil(self._s_max_1 / (s + 1) * self._eta ** s))

    def _r0(self, s):
        return int(self._max_t * self._eta ** -s)

    def on_trial_add(self, controller, trial) -> None:
        self._require_metric()
        if self._bracket is None or self._bracket.filled():
            while True:
                if len(self._bands[-1]) == self._s_max_1:
                    self._bands.append([])
                band = self._bands[-1]
                s = len(band)
                if self._r0(s) == 0:
                    band.append(None)
                    continue
                self._bracket = HBBracket(self._time_attr, self._n0(s), self._r0(s), self._max_t, self._eta, s,
                                          self._stop_last_trials)
                band.append(self._bracket)
                break
        self._bracket.add(trial)
        self._info[trial] = self._bracket

    def on_trial_result(self, controller, trial, result: dict) -> Decision:
        bracket = self._info.get(trial)
        if bracket is None or trial not in bracket.live:
            return CONTINUE
        bracket.update(trial, result)
        if bracket.continue_trial(trial):
            return CONTINUE
        return self._process(controller, bracket, trial)

    def _process(self, controller, bracket: HBBracket, current=None) -> Decision:
        action = Decision("PAUSE", f"HyperBand: waiting for bracket {bracket.s} to reach {bracket.cumul_r}")
        if not bracket.cur_iter_done():
            return action
        if bracket.finished():
            for t in list(bracket.live):
                del bracket.live[t]
                if t is not current:
                    controller.stop_trial(t, "")          # ran its course: not an early stop
            return Decision("STOP")
        bracket.being_processed = True
        good, bad = bracket.halve(self._metric, self._metric_op)
        reason = f"HyperBand: not in the top {len(good)} of bracket {bracket.s}"
        for t in bad:
            self._num_stopped += 1
            del bracket.live[t]
            if t is current:
                action = Decision("STOP", reason)
            else:
                controller.stop_trial(t, reason)
        for t in good:
            if bracket.continue_trial(t):
                if t is current:
                    action = CONTINUE
                elif t.status == "PAUSED":
                    bracket.to_unpause.add(t)
                    controller.unpause_trial(t)
            elif bracket.finished() and bracket.stop_last_trials:
                del bracket.live[t]
                if t is current:
                    action = Decision("STOP")
                else:
                    controller.stop_trial(t, "")
        bracket.being_processed = False
        return action

    def on_trial_remove(self, controller, trial) -> None:
        bracket = self._info.get(trial)
        if bracket is None or trial not in bracket.live:
            return
        del bracket.live[trial]
        if not bracket.finished() and not bracket.being_processed and bracket.live:
            self._process(controller, bracket)

    def on_trial_complete(self, controller, trial, result) -> None:
        self.on_trial_remove(controller, trial)

    def on_trial_error(self, controller, trial) -> None:
        self.on_trial_remove(controller, trial)

    def choose_trial_to_run(self, controller):
        for band in self._bands:
            for bracket in sorted((b for b in band if b is not None), key=lambda b: b.completion()):
                for t in bracket.live:
                    if t.status == "PENDING" or (t.status == "PAUSED" and t in bracket.to_unpause):
                        return t
        return None

    def debug_string(self) -> str:
        return f"Using HyperBand: num_stopped={self._num_stopped}, brackets={sum(len(b) for b in self._bands)}"
