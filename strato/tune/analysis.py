"""The legacy entry point: tune.run(...) -> ExperimentAnalysis (best_trial, best_config, best_result, ...)."""
from __future__ import annotations

from strato.tune.config import CheckpointConfig, FailureConfig, RunConfig, TuneConfig
from strato.tune.controller import TuneError
from strato.tune.resources import with_resources
from strato.tune.result_grid import scoped_value
from strato.tune.storage import read_results
from strato.tune.trial import Trial


class ExperimentAnalysis:
    def __init__(self, trials: list[Trial], experiment_path: str, default_metric: str | None = None,
                 default_mode: str | None = None):
        self.trials = list(trials)
        self.experiment_path = experiment_path
        self.default_metric = default_metric
        self.default_mode = default_mode

    def _mm(self, metric, mode):
        metric, mode = metric or self.default_metric, mode or self.default_mode
        if not metric or not mode:
            raise ValueError("pass metric and mode (or give them to tune.run) to pick the best trial.")
        return metric, mode

    def get_best_trial(self, metric: str | None = None, mode: str | None = None, scope: str = "last",
                       filter_nan_and_inf: bool = True) -> Trial | None:
        metric, mode = self._mm(metric, mode)
        best, best_v = None, None
        for t in self.trials:
            rows = [t.last_result] if scope == "last" else read_results(t.local_path)
            v = scoped_value(rows, metric, mode, scope, filter_nan_and_inf)
            if v is not None and (best_v is None or (v > best_v if mode == "max" else v < best_v)):
                best, best_v = t, v
        return best

    def get_best_config(self, metric=None, mode=None, scope="last"):
        t = self.get_best_trial(metric, mode, scope)
        return t.config if t else None

    def get_best_checkpoint(self, trial: Trial, metric=None, mode=None):
        metric, mode = self._mm(metric, mode)
        scored = [(c, m[metric]) for c, m in trial.checkpoints if metric in m]
        if not scored:
            return trial.latest_checkpoint
        return (max if mode == "max" else min)(scored, key=lambda x: x[1])[0]

    @property
    def best_trial(self) -> Trial | None:
        return self.get_best_trial()

    @property
    def best_config(self) -> dict | None:
        return self.get_best_config()

    @property
    def best_result(self) -> dict | None:
        t = self.best_trial
        return t.last_result if t else None

    @property
    def best_checkpoint(self):
        t = self.best_trial
        return self.get_best_checkpoint(t) if t else None

    @property
    def best_logdir(self) -> str | None:
        t = self.best_trial
        return t.local_path if t else None

    @property
    def results(self) -> dict:
        return {t.trial_id: t.last_result for t in self.trials}

    def dataframe(self, metric=None, mode=None):
        from strato.tune.result_grid import ResultGrid
        return ResultGrid(self.trials, self.experiment_path, self.default_metric, self.default_mode).get_dataframe(
            metric, mode)

    @property
    def results_df(self):
        return self.dataframe()

    @property
    def trial_dataframes(self) -> dict:
        import pandas as pd
        return {t.local_path: pd.DataFrame([{k: v for k, v in r.items() if k != "config"}
                                            for r in read_results(t.local_path)]) for t in self.trials}


def run(run_or_experiment, *, name: str | None = None, metric: str | None = None, mode: str | None = None,
        stop=None, time_budget_s: float | None = None, config: dict | None = None, resources_per_trial=None,
        num_samples: int = 1, storage_path: str | None = None, search_alg=None, scheduler=None,
        checkpoint_config: CheckpointConfig | None = None, verbose: int = 1, progress_reporter=None,
        max_failures: int = 0, fail_fast: bool | str = False, restore: str | None = None, resume=False,
        reuse_actors: bool = False, raise_on_failed_trial: bool = True, callbacks=None,
        max_concurrent_trials: int | None = None, keep_checkpoints_num: int | None = None,
        checkpoint_score_attr: str | None = None, checkpoint_freq: int = 0, checkpoint_at_end: bool = False,
        trial_name_creator=None, trial_dirname_creator=None, **unsupported) -> ExperimentAnalysis:
    """Ray Tune's legacy function API, run through a Tuner."""
    from strato.tune.tuner import Tuner
    if unsupported:
        raise TypeError(f"tune.run() got arguments strato.tune does not support: {sorted(unsupported)}.")
    if restore is not None:
        raise ValueError("tune.run(restore=...) restores a single trial, which strato.tune does not support; "
                         "use tune.Tuner.restore(experiment_path, trainable).")
    trainable = run_or_experiment
    if resources_per_trial is not None:
        trainable = with_resources(trainable, resources_per_trial)
    if checkpoint_config is None:
        score_attr, order = checkpoint_score_attr, "max"
        if score_attr and score_attr.startswith("min-"):
            score_attr, order = score_attr[4:], "min"
        checkpoint_config = CheckpointConfig(num_to_keep=keep_checkpoints_num, checkpoint_score_attribute=score_attr,
                                             checkpoint_score_order=order, checkpoint_frequency=checkpoint_freq,
                                             checkpoint_at_end=checkpoint_at_end or None)
    tune_config = TuneConfig(metric=metric, mode=mode, search_alg=search_alg, scheduler=scheduler,
                             num_samples=num_samples, max_concurrent_trials=max_concurrent_trials,
                             time_budget_s=time_budget_s, reuse_actors=reuse_actors,
                             trial_name_creator=trial_name_creator, trial_dirname_creator=trial_dirname_creator)
    run_config = RunConfig(name=name, storage_path=storage_path, stop=stop, verbose=verbose,
                           progress_reporter=progress_reporter, callbacks=callbacks,
                           checkpoint_config=checkpoint_config,
                           failure_config=FailureConfig(max_failures=max_failures, fail_fast=fail_fast))
    if resume and name and Tuner.can_restore(_path(storage_path, name)):
        tuner = Tuner.restore(_path(storage_path, name), trainable, resume_errored=resume == "ERRORED_ONLY")
    else:
        tuner = Tuner(trainable, param_space=config or {}, tune_config=tune_config, run_config=run_config)
    grid = tuner.fit()
    trials = tuner._controller.trials
    failed = [t for t in trials if str(t.status) == "ERROR"]
    if failed and raise_on_failed_trial:
        raise TuneError(f"Trials did not complete: {[t.trial_name for t in failed]}\n{failed[0].error_msg}")
    return ExperimentAnalysis(trials, grid.experiment_path, tune_config.metric, tune_config.mode)


def _path(storage_path, name):
    import os
    from strato.tune.config import default_storage_path
    return os.path.join(os.path.expanduser(storage_path or default_storage_path()), name)
