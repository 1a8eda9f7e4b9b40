"""PopulationBasedTraining (asynchronous), as Ray's: exploit by cloning a better trial's checkpoint,
explore by perturbing its config.

    on a result with time t (time_attr), once t >= burn_in_period and
    t - last_perturbation_time >= perturbation_interval:
        score = metric (negated for mode="min"), remembered for the trial
        quantiles over unfinished trials with a score, sorted by score:
            n = ceil(len * quantile_fraction), at most floor(len / 2); lower = first n, upper = last n
            (both empty with <= 1 trial)
        trial in upper -> Decision.save: persist a checkpoint now (the clone source)
        trial in lower -> pick a random upper trial with a checkpoint; PAUSE with
            exploit = {"clone": its id, "config": explore(its config), "checkpoint": its checkpoint}:
            the controller restarts this trial from that checkpoint with the new config
        otherwise PAUSE if some trial waits (PENDING/PAUSED), else CONTINUE
    explore(config), per key of hyperparam_mutations:
        list/tuple:  resample with probability p, or if the value is not in it; else move the index by
                     -1 or +1 (clamped to the ends)
        domain / callable: resample with probability p; else multiply by a random perturbation factor
        values that were int (bool) stay int (bool); nested dicts recurse; custom_explore_fn runs last
    choose_trial_to_run: the PENDING/PAUSED trial that has trained least (last_train_time)
"""
from __future__ import annotations

import copy
import math
import random
from typing import Callable

from strato.tune.schedulers.trial_scheduler import CONTINUE, Decision, FIFOScheduler
from strato.tune.search.sample import Domain


def explore(config: dict, mutations: dict, resample_probability: float, perturbation_factors,
            custom_explore_fn: Callable | None, rng: random.Random) -> tuple[dict, dict]:
    """(new config, {key: operation}) after the explore rules above."""
    ops: dict = {}
    new = copy.deepcopy(config)
    for key, dist in mutations.items():
        if isinstance(dist, dict):
            new[key], ops[key] = explore(config[key], dist, resample_probability, perturbation_factors, None, rng)
        elif isinstance(dist, (list, tuple)):
            if rng.random() < resample_probability or config[key] not in dist:
                new[key] = rng.choice(list(dist))
                ops[key] = "resample"
            else:
                shift = rng.choice([-1, 1])
                old = list(dist).index(config[key])
                idx = min(max(old + shift, 0), len(dist) - 1)
                new[key] = dist[idx]
                ops[key] = f"shift {'left' if shift < 0 else 'right'}{' (noop)' if idx == old else ''}"
        elif isinstance(dist, Domain) or callable(dist):
            if rng.random() < resample_probability:
                if isinstance(dist, Domain):
                    import numpy as np
                    new[key] = dist.sample(np.random.default_rng(rng.getrandbits(32)))
                else:
                    new[key] = dist()
                ops[key] = "resample"
            else:
                factor = rng.choice(list(perturbation_factors))
                new[key] = config[key] * factor
                ops[key] = f"* {factor}"
            if isinstance(config[key], bool):
                new[key] = bool(new[key])
            elif isinstance(config[key], int):
                new[key] = int(round(new[key]))
        else:
            raise ValueError(f"hyperparam_mutations[{key!r}] must be a list, a tune domain, a callable or a "
                             f"dict of those; got {type(dist).__name__}.")
    if custom_explore_fn is not None:
        new = custom_explore_fn(new)
        if new is None:
            raise ValueError("custom_explore_fn returned None: it must return the new config.")
    return new, ops


def quantiles(scores: dict, quantile_fraction: float) -> tuple[list, list]:
    """(lower, upper) trial ids from {trial_id: score} (higher is better)."""
    ids = sorted(scores, key=lambda t: scores[t])
    if len(ids) <= 1:
        return [], []
    n = int(math.ceil(len(ids) * quantile_fraction))
    if n > len(ids) / 2:
        n = int(math.floor(len(ids) / 2))
    return ids[:n], ids[len(ids) - n:]


class _State:
    def __init__(self, time: float = 0.0):
        self.last_score = None
        self.last_perturbation_time = time
        self.last_train_time = time
        self.last_result = None


class PopulationBasedTraining(FIFOScheduler):
    def __init__(self, time_attr: str = "time_total_s", metric: str | None = None, mode: str | None = None,
                 perturbation_interval: float = 60.0, burn_in_period: float = 0.0,
                 hyperparam_mutations: dict | None = None, quantile_fraction: float = 0.25,
                 resample_probability: float = 0.25, perturbation_factors=(1.2, 0.8),
                 custom_explore_fn: Callable | None = None, log_config: bool = True, require_attrs: bool = True,
                 synch: bool = False, seed: int | None = None):
        super().__init__(metric, mode)
        if not hyperparam_mutations and not custom_explore_fn:
            raise ValueError("PopulationBasedTraining needs hyperparam_mutations or custom_explore_fn: "
                             "which hyperparameters should it explore?")
        if not 0 <= quantile_fraction <= 0.5:
            raise ValueError(f"quantile_fraction must be in [0, 0.5], got {quantile_fraction}.")
        if perturbation_interval <= 0:
            raise ValueError(f"perturbation_interval must be > 0, got {perturbation_interval}.")
        if synch:
            raise ValueError("PopulationBasedTraining(synch=True) is not supported by strato.tune yet; "
                             "use the asynchronous default (synch=False).")
        for key, dist in (hyperparam_mutations or {}).items():
            if not isinstance(dist, (list, tuple, dict, Domain)) and not callable(dist):
                raise ValueError(f"hyperparam_mutations[{key!r}] must be a list, a tune domain, a callable or a "
                                 f"dict of those; got {type(dist).__name__}.")
        self._time_attr = time_attr
        self._perturbation_interval = perturbation_interval
        self._burn_in_period = burn_in_period
        self._hyperparam_mutations = hyperparam_mutations or {}
        self._quantile_fraction = quantile_fraction
        self._resample_probability = resample_probability
        self._perturbation_factors = perturbation_factors
        self._custom_explore_fn = custom_explore_fn
        self._require_attrs = require_attrs
        self._trial_state: dict[str, _State] = {}
        self._rng = random.Random(seed)
        self._num_perturbations = 0
        self._num_checkpoints = 0

    def on_trial_add(self, controller, trial) -> None:
        self._require_metric()
        self._trial_state[trial.trial_id] = _State()
        import numpy as np
        for key, dist in self._hyperparam_mutations.items():
            if key in trial.config:
                continue
            if isinstance(dist, (list, tuple)):
                trial.config[key] = self._rng.choice(list(dist))
            elif isinstance(dist, Domain):
                trial.config[key] = dist.sample(np.random.default_rng(self._rng.getrandbits(32)))
            elif callable(dist):
                trial.config[key] = dist()

    def _finished(self, trial) -> bool:
        return trial.status in ("TERMINATED", "ERROR")

    def on_trial_result(self, controller, trial, result: dict) -> Decision:
        for attr in (self._time_attr, self._metric):
            if attr not in result and self._require_attrs:
                raise RuntimeError(f"PopulationBasedTraining: the result has no {attr!r} (keys: "
                                   f"{sorted(result)}); report it, or pass require_attrs=False.")
        if self._time_attr not in result or self._metric not in result:
            return CONTINUE
        t = result[self._time_attr]
        state = self._trial_state.setdefault(trial.trial_id, _State())
        if t < self._burn_in_period:
            return CONTINUE
        if t - state.last_perturbation_time < self._perturbation_interval:
            return CONTINUE
        state.last_score = self._metric_op * result[self._metric]
        state.last_train_time = t
        state.last_result = result
        state.last_perturbation_time = t

        trials = {x.trial_id: x for x in controller.get_trials()}
        scores = {tid: s.last_score for tid, s in self._trial_state.items()
                  if s.last_score is not None and not math.isnan(s.last_score)
                  and not (tid in trials and self._finished(trials[tid]))}
        lower, upper = quantiles(scores, self._quantile_fraction)
        waiting = any(x.status in ("PENDING", "PAUSED") for x in trials.values() if x.trial_id != trial.trial_id)
        if trial.trial_id in upper:
            self._num_checkpoints += 1
            return Decision("PAUSE" if waiting else "CONTINUE", "PBT: time-multiplexing" if waiting else "",
                            save=True)
        if trial.trial_id in lower:
            candidates = [tid for tid in upper if tid in trials and trials[tid].checkpoint is not None]
            if candidates:
                clone_id = self._rng.choice(candidates)
                clone = trials[clone_id]
                new_config, ops = explore(clone.config, self._hyperparam_mutations, self._resample_probability,
                                          self._perturbation_factors, self._custom_explore_fn, self._rng)
                cstate = self._trial_state[clone_id]
                state.last_perturbation_time = cstate.last_perturbation_time
                state.last_train_time = cstate.last_train_time
                self._num_perturbations += 1
                return Decision("PAUSE", f"PBT: exploit {clone_id} ({', '.join(f'{k}: {v}' for k, v in ops.items())})",
                                exploit={"clone": clone_id, "config": new_config, "checkpoint": clone.checkpoint,
                                         "operations": ops})
        if waiting:
            return Decision("PAUSE", "PBT: time-multiplexing")
        return CONTINUE

    def choose_trial_to_run(self, controller):
        candidates = [t for t in controller.get_trials() if t.status in ("PENDING", "PAUSED")]
        if not candidates:
            return None
        return min(candidates, key=lambda t: self._trial_state.get(t.trial_id, _State()).last_train_time)

    def debug_string(self) -> str:
        return f"PopulationBasedTraining: {self._num_checkpoints} checkpoints, {self._num_perturbations} perturbs"
