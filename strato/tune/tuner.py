"""Tuner: Ray Tune's entry point. fit() runs the experiment; Tuner.restore continues an interrupted one.

    Tuner(trainable, param_space=..., tune_config=TuneConfig(...), run_config=RunConfig(...)).fit()
        -> search algorithm and scheduler set up with metric/mode/param_space
        -> <storage_path>/<name>/tuner.pkl written (what restore needs besides the trainable)
        -> TuneController(...).run() in this thread; a TuneView in a notebook, else the terminal table
        -> ResultGrid

    Tuner.restore(path, trainable, resume_errored=False, restart_errored=False)
        finished trials stay finished; unfinished ones resume from their latest checkpoint;
        errored ones stay errored, resume from their checkpoint (resume_errored) or start
        over (restart_errored); the search continues where it stopped.
"""
from __future__ import annotations

import inspect
import os
import time

from strato.tune.config import RunConfig, TuneConfig, default_storage_path
from strato.tune.controller import TuneController
from strato.tune.progress_reporter import CLIReporter
from strato.tune.result_grid import ResultGrid
from strato.tune.schedulers.pbt import PopulationBasedTraining
from strato.tune.schedulers.trial_scheduler import FIFOScheduler
from strato.tune.search.basic_variant import BasicVariantGenerator
from strato.tune.search.sample import Domain
from strato.tune.search.searcher import SearchAlgorithm, SearchGenerator, Searcher
from strato.tune.search.variant_generator import find_domains, find_grid
from strato.tune import storage
from strato.tune.trial import TrialStatus as S


def _check_trainable(trainable):
    from strato.tune.trainable import Trainable
    if trainable is None:
        raise ValueError("Tuner needs a trainable: a function f(config) that calls tune.report, or a "
                         "tune.Trainable subclass.")
    if inspect.isclass(trainable):
        if not issubclass(trainable, Trainable):
            raise TypeError(f"a class trainable must subclass tune.Trainable; {trainable.__name__} does not.")
        return
    if not callable(trainable):
        raise TypeError(f"the trainable must be a function of the config or a tune.Trainable subclass, got "
                        f"{type(trainable).__name__}.")
    if isinstance(trainable, str):
        raise TypeError("strato.tune does not look trainables up by name; pass the function or class itself.")


def _name_of(trainable) -> str:
    return getattr(trainable, "__name__", type(trainable).__name__)


def _metric_mode(tune_config: TuneConfig, scheduler, searcher):
    metric, mode = tune_config.metric, tune_config.mode
    for obj in (scheduler, searcher):
        if obj is None:
            continue
        metric = metric or getattr(obj, "_metric", None)
        mode = mode or getattr(obj, "_mode", None)
    return metric, mode


def setup_search(tune_config: TuneConfig, param_space: dict | None):
    """(search algorithm, scheduler), told metric, mode, the space and num_samples."""
    alg = tune_config.search_alg
    scheduler = tune_config.scheduler or FIFOScheduler()
    space = param_space or {}
    if alg is None:
        alg = BasicVariantGenerator()
    searcher = None
    if isinstance(alg, Searcher):
        searcher = alg
        alg = SearchGenerator(alg)
    elif not isinstance(alg, SearchAlgorithm):
        raise TypeError(f"search_alg must be a Searcher (OptunaSearch, HyperOptSearch, ...) or "
                        f"BasicVariantGenerator; got {type(alg).__name__}.")
    if isinstance(scheduler, PopulationBasedTraining) and searcher is not None:
        raise ValueError("PopulationBasedTraining cannot be combined with a Searcher (it changes configs "
                         "itself); use the default search algorithm.")
    metric, mode = _metric_mode(tune_config, scheduler, searcher)
    tune_config.metric, tune_config.mode = metric, mode
    took_space = alg.set_search_properties(metric, mode, space, num_samples=tune_config.num_samples)
    if searcher is not None and not took_space and (find_domains(space) or find_grid(space)):
        raise ValueError(f"{type(searcher).__name__} was created with its own search space and param_space also "
                         f"has search domains: give the space in one place only.")
    if not scheduler.set_search_properties(metric, mode):
        raise ValueError(f"{type(scheduler).__name__} was created with metric/mode different from TuneConfig's "
                         f"({metric}, {mode}); set them in one place only.")
    return alg, scheduler


class Tuner:
    def __init__(self, trainable=None, *, param_space: dict | None = None, tune_config: TuneConfig | None = None,
                 run_config: RunConfig | None = None, _restored: dict | None = None):
        _check_trainable(trainable)
        if param_space is not None and not isinstance(param_space, dict):
            raise TypeError(f"param_space must be a dict, got {type(param_space).__name__}.")
        self.trainable = trainable
        self.param_space = param_space or {}
        self.tune_config = tune_config or TuneConfig()
        self.run_config = run_config or RunConfig()
        self._restored = _restored
        self._controller: TuneController | None = None
        self._results: ResultGrid | None = None
        self.view = None                  # the TuneView fit() showed (in a notebook)
        if _restored is None:
            name = self.run_config.name or f"{_name_of(trainable)}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
            root = os.path.expanduser(self.run_config.storage_path or default_storage_path())
            self.experiment_dir = os.path.join(os.path.abspath(root), name)
            self.name = name
        else:
            self.experiment_dir = _restored["experiment_dir"]
            self.name = _restored["name"]

    # ------------------------------------------------------------ fit
    def fit(self) -> ResultGrid:
        import strato
        if not strato.is_initialized():
            strato.init()
        os.makedirs(self.experiment_dir, exist_ok=True)
        if self._restored is None:
            search_alg, scheduler = setup_search(self.tune_config, self.param_space)
            storage.save_tuner(self.experiment_dir, self._tuner_state())
            controller = TuneController(trainable=self.trainable, experiment_dir=self.experiment_dir, name=self.name,
                                        search_alg=search_alg, scheduler=scheduler, tune_config=self.tune_config,
                                        run_config=self.run_config)
        else:
            controller = self._restored_controller()
        self._controller = controller
        view = self.view = self._attach_progress(controller)
        try:
            controller.run()
        finally:
            if view is not None:
                view.finish()
        self._results = ResultGrid(controller.trials, self.experiment_dir, controller.metric, controller.mode)
        return self._results

    def get_results(self) -> ResultGrid:
        if self._results is None:
            if not storage.can_restore(self.experiment_dir):
                raise RuntimeError("no results yet: call fit() first.")
            state = storage.load_state(self.experiment_dir)
            return ResultGrid(state["trials"], self.experiment_dir, self.tune_config.metric, self.tune_config.mode)
        return self._results

    def _tuner_state(self) -> dict:
        tc = TuneConfig(**{k: getattr(self.tune_config, k) for k in self.tune_config.__dataclass_fields__})
        tc.search_alg = tc.scheduler = None              # live in experiment_state.pkl with their state
        rc_fields = {k: getattr(self.run_config, k) for k in self.run_config.__dataclass_fields__}
        rc_fields["progress_reporter"] = None
        rc_fields["callbacks"] = None
        return {"param_space": self.param_space, "tune_config": tc, "run_config": RunConfig(**rc_fields),
                "name": self.name, "trainable_name": _name_of(self.trainable)}

    def _attach_progress(self, controller):
        from strato.widgets._base import in_notebook
        verbose = self.run_config.verbose
        if in_notebook() and verbose != 0 and self.run_config.progress_reporter is None:
            try:
                from strato.widgets.tune_view import TuneView
                view = TuneView(controller)
                view.display()
                return view
            except ImportError:
                pass
        reporter = self.run_config.progress_reporter
        if reporter is None and verbose != 0:
            reporter = CLIReporter()
        if reporter is not None:
            controller.listeners.append(reporter)
        return None

    # ------------------------------------------------------------ restore
    @classmethod
    def can_restore(cls, path: str | os.PathLike, storage_filesystem=None) -> bool:
        return storage.can_restore(os.fspath(path))

    @classmethod
    def restore(cls, path: str | os.PathLike, trainable, resume_unfinished: bool = True,
                resume_errored: bool = False, restart_errored: bool = False, param_space: dict | None = None,
                storage_filesystem=None, _resume_config=None) -> "Tuner":
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not storage.can_restore(path):
            raise ValueError(f"{path} holds no Tune experiment to restore (no {storage.STATE_FILE}); pass the "
                             f"experiment folder, <storage_path>/<name>.")
        saved = storage.load_tuner(path)
        tuner = cls(trainable, param_space=param_space or saved["param_space"], tune_config=saved["tune_config"],
                    run_config=saved["run_config"],
                    _restored={"experiment_dir": path, "name": saved["name"], "resume_unfinished": resume_unfinished,
                               "resume_errored": resume_errored, "restart_errored": restart_errored})
        return tuner

    def _restored_controller(self) -> TuneController:
        opts = self._restored
        state = storage.load_state(self.experiment_dir)
        trials = state["trials"]
        for t in trials:
            if t.status in (S.RUNNING, S.PAUSED, S.PENDING):
                if opts["resume_unfinished"]:
                    _resume_from_latest(t)
                    if t.status != S.PENDING:
                        t.set_status(S.PENDING)
                else:
                    t.set_status(S.TERMINATED)
            elif t.status == S.ERROR:
                if opts["restart_errored"]:
                    t.checkpoints, t.latest_checkpoint, t.restore_from = [], None, None
                    t.start_iteration, t.start_time_total, t.num_failures = 0, 0.0, 0
                    t.last_result, t.metric_history, t.error_msg = {}, [], None
                    t.set_status(S.PENDING)
                elif opts["resume_errored"]:
                    _resume_from_latest(t)
                    t.num_failures, t.error_msg = 0, None
                    t.set_status(S.PENDING)
        search_alg = state["search_alg"]
        finished = state["search_finished"]
        if search_alg is None:
            finished = True
            search_alg = BasicVariantGenerator()
        scheduler = state["scheduler"] or FIFOScheduler()
        tc = self.tune_config
        tc.metric, tc.mode = _metric_mode(tc, scheduler, getattr(search_alg, "searcher", None))
        return TuneController(trainable=self.trainable, experiment_dir=self.experiment_dir, name=self.name,
                              search_alg=search_alg, scheduler=scheduler, tune_config=tc, run_config=self.run_config,
                              trials=trials, uid=state["uid"], next_index=state["next_index"],
                              search_finished=finished)


def _resume_from_latest(trial) -> None:
    ckpt = trial.latest_checkpoint
    trial.restore_from = ckpt
    metrics = next((m for c, m in reversed(trial.checkpoints) if c == ckpt), {}) if ckpt else {}
    trial.start_iteration = metrics.get("training_iteration", 0)
    trial.start_time_total = metrics.get("time_total_s", 0.0)
