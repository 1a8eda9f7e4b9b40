"""strato.tune: Ray Tune's API on strato (`from strato import tune`, or `import strato as ray; ray.tune`).

    search/       search spaces (sample.py), variant generation, BasicVariantGenerator, Optuna, HyperOpt,
                  ConcurrencyLimiter, Repeater
    schedulers/   FIFO, ASHA, HyperBand, MedianStoppingRule, PBT: pure classes returning Decisions
    trial.py      the trial lifecycle (TrialStatus + transitions) and the Trial record
    controller.py the loop: trials as actors (trial_actor.py), results streamed, failures retried
    session.py    tune.report / get_checkpoint / get_context inside a trial
    storage.py    result.json, params.json, progress.csv, checkpoints (num_to_keep), experiment state
    tuner.py      Tuner, Tuner.restore; result_grid.py ResultGrid/Result; analysis.py tune.run
    progress_reporter.py  the terminal table; strato/widgets/tune_view.py the notebook view
    callback.py   tune.Callback hooks; publish.py the run's summary in the GCS KV (state API list_tune_runs)
"""
import importlib

# Names are imported on first use (PEP 562): a trial's worker process imports only what a trial needs
# (session.py, checkpoint.py), not the controller, the schedulers or numpy.
_EXPORTS = {
    "ExperimentAnalysis": "analysis", "run": "analysis",
    "Callback": "callback", "Checkpoint": "checkpoint",
    "CheckpointConfig": "config", "FailureConfig": "config", "RunConfig": "config", "SyncConfig": "config",
    "TuneConfig": "config",
    "TuneError": "controller",
    "CLIReporter": "progress_reporter", "JupyterNotebookReporter": "progress_reporter",
    "ProgressReporter": "progress_reporter",
    "PlacementGroupFactory": "resources", "with_parameters": "resources", "with_resources": "resources",
    "Result": "result_grid", "ResultGrid": "result_grid",
    "TuneContext": "session", "get_checkpoint": "session", "get_context": "session", "report": "session",
    "Stopper": "stopper", "Trainable": "trainable", "Trial": "trial", "Tuner": "tuner",
    "ASHAScheduler": "schedulers", "AsyncHyperBandScheduler": "schedulers", "FIFOScheduler": "schedulers",
    "HyperBandScheduler": "schedulers", "MedianStoppingRule": "schedulers", "PopulationBasedTraining": "schedulers",
    "BasicVariantGenerator": "search", "ConcurrencyLimiter": "search", "Repeater": "search", "Searcher": "search",
}
for _name in ("choice", "grid_search", "lograndint", "loguniform", "qlograndint", "qloguniform", "qrandint",
              "qrandn", "quniform", "randint", "randn", "sample_from", "uniform"):
    _EXPORTS[_name] = "search.sample"
_SUBMODULES = ("schedulers", "search")

__all__ = sorted(list(_EXPORTS) + list(_SUBMODULES))


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"strato.tune.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'strato.tune' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"strato.tune.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
