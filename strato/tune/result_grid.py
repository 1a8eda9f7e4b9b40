"""ResultGrid and Result (what Tuner.fit returns), built from the trials and their folders."""
from __future__ import annotations

import math
import os

from strato.tune.checkpoint import Checkpoint
from strato.tune.storage import read_results
from strato.tune.trial import Trial

SCOPES = ("all", "last", "avg", "last-5-avg", "last-10-avg")


class TrialError(Exception):
    """A trial's failure as it appears in ResultGrid.errors (its traceback is the message)."""


class Result:
    def __init__(self, metrics: dict, config: dict, checkpoint: Checkpoint | None, error: Exception | None,
                 path: str, best_checkpoints: list | None = None, trial: Trial | None = None):
        self.metrics = metrics
        self.config = config
        self.checkpoint = checkpoint
        self.error = error
        self.path = path
        self.best_checkpoints = best_checkpoints or []
        self._trial = trial

    @property
    def metrics_dataframe(self):
        import pandas as pd
        rows = read_results(self.path)
        return pd.DataFrame([{k: v for k, v in r.items() if k != "config"} for r in rows])

    @property
    def stop_reason(self) -> str | None:
        return self._trial.stop_reason if self._trial else None

    @property
    def status(self) -> str | None:
        return str(self._trial.status) if self._trial else None

    def __repr__(self):
        shown = {k: v for k, v in self.metrics.items() if k not in ("config", "date", "hostname", "node_ip", "pid")}
        return f"Result(metrics={shown}, path={self.path!r}, checkpoint={self.checkpoint!r}, error={self.error!r})"


def result_of(trial: Trial) -> Result:
    error = TrialError(trial.error_msg) if str(trial.status) == "ERROR" else None
    return Result(dict(trial.last_result), trial.config, trial.latest_checkpoint, error, trial.local_path,
                  [(c, m) for c, m in trial.checkpoints], trial)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))


def scoped_value(trial_results: list[dict], metric: str, mode: str, scope: str, filter_nan_and_inf: bool = True):
    """The value of `metric` a trial is ranked by under `scope` (None: it has none)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}.")
    values = [r[metric] for r in trial_results if metric in r and isinstance(r[metric], (int, float))]
    if filter_nan_and_inf:
        values = [v for v in values if _finite(v)]
    if not values:
        return None
    if scope == "last":
        return values[-1]
    if scope == "all":
        return max(values) if mode == "max" else min(values)
    n = {"avg": len(values), "last-5-avg": 5, "last-10-avg": 10}[scope]
    tail = values[-n:]
    return sum(tail) / len(tail)


class ResultGrid:
    def __init__(self, trials: list[Trial], experiment_path: str, metric: str | None = None,
                 mode: str | None = None):
        self._trials = list(trials)
        self._results = [result_of(t) for t in self._trials]
        self.experiment_path = experiment_path
        self._metric, self._mode = metric, mode

    def __len__(self):
        return len(self._results)

    def __getitem__(self, i) -> Result:
        return self._results[i]

    def __iter__(self):
        return iter(self._results)

    @property
    def errors(self) -> list[Exception]:
        return [r.error for r in self._results if r.error is not None]

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    @property
    def num_terminated(self) -> int:
        return sum(1 for t in self._trials if str(t.status) == "TERMINATED")

    @property
    def filesystem(self):
        return None

    def _history(self, trial: Trial, metric: str) -> list[dict]:
        rows = read_results(trial.local_path)
        return rows or ([trial.last_result] if trial.last_result else [])

    def get_best_result(self, metric: str | None = None, mode: str | None = None, scope: str = "last",
                        filter_nan_and_inf: bool = True) -> Result:
        metric = metric or self._metric
        mode = mode or self._mode
        if not metric or not mode:
            raise ValueError("get_best_result needs metric and mode: pass them here or to TuneConfig.")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        best, best_v = None, None
        for t, r in zip(self._trials, self._results):
            v = scoped_value(self._history(t, metric) if scope != "last" else [t.last_result], metric, mode, scope,
                             filter_nan_and_inf)
            if v is None:
                continue
            if best_v is None or (v > best_v if mode == "max" else v < best_v):
                best, best_v = r, v
        if best is None:
            raise RuntimeError(f"No trial reported {metric!r} (with a finite value); check the metric name. "
                               f"Reported keys: {sorted(self._results[0].metrics) if self._results else []}")
        return best

    def get_dataframe(self, filter_metric: str | None = None, filter_mode: str | None = None):
        import pandas as pd
        from strato.tune.search.variant_generator import flatten
        rows = []
        for t in self._trials:
            chosen = t.last_result
            if filter_metric:
                mode = filter_mode or self._mode or "max"
                hist = [r for r in self._history(t, filter_metric) if filter_metric in r]
                if hist:
                    chosen = (max if mode == "max" else min)(hist, key=lambda r: r[filter_metric])
            row = {k: v for k, v in (chosen or {}).items() if k != "config"}
            row.update({f"config/{k}": v for k, v in flatten(t.config).items()})
            row["logdir"] = t.local_path
            row["trial_id"] = t.trial_id
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self):
        return f"ResultGrid<{len(self)} results, {self.num_errors} errors, path={self.experiment_path!r}>"
