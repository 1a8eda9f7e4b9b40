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
"""
from strato.tune.analysis import ExperimentAnalysis, run
from strato.tune.checkpoint import Checkpoint
from strato.tune.config import CheckpointConfig, FailureConfig, RunConfig, SyncConfig, TuneConfig
from strato.tune.controller import TuneError
from strato.tune.progress_reporter import CLIReporter, JupyterNotebookReporter, ProgressReporter
from strato.tune.resources import PlacementGroupFactory, with_parameters, with_resources
from strato.tune.result_grid import Result, ResultGrid
from strato.tune.search.sample import (choice, grid_search, lograndint, loguniform, qlograndint, qloguniform,
                                       qrandint, qrandn, quniform, randint, randn, sample_from, uniform)
from strato.tune.session import TuneContext, get_checkpoint, get_context, report
from strato.tune.stopper import Stopper
from strato.tune.trainable import Trainable
from strato.tune.trial import Trial
from strato.tune.tuner import Tuner
from strato.tune import schedulers, search  # noqa: F401
from strato.tune.schedulers import (ASHAScheduler, AsyncHyperBandScheduler, FIFOScheduler, HyperBandScheduler,
                                    MedianStoppingRule, PopulationBasedTraining)
from strato.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Repeater, Searcher

__all__ = [
    "ASHAScheduler", "AsyncHyperBandScheduler", "BasicVariantGenerator", "CLIReporter", "Checkpoint",
    "CheckpointConfig", "ConcurrencyLimiter", "ExperimentAnalysis", "FIFOScheduler", "FailureConfig",
    "HyperBandScheduler", "JupyterNotebookReporter", "MedianStoppingRule", "PlacementGroupFactory",
    "PopulationBasedTraining", "ProgressReporter", "Repeater", "Result", "ResultGrid", "RunConfig", "Searcher",
    "Stopper", "SyncConfig", "Trainable", "Trial", "TuneConfig", "TuneContext", "TuneError", "Tuner", "choice",
    "get_checkpoint", "get_context", "grid_search", "lograndint", "loguniform", "qlograndint", "qloguniform",
    "qrandint", "qrandn", "quniform", "randint", "randn", "report", "run", "sample_from", "schedulers", "search",
    "uniform", "with_parameters", "with_resources",
]
