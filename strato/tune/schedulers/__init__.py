"""Trial schedulers (pure classes): when to stop, pause or change a trial. See trial_scheduler.py."""
from strato.tune.schedulers.async_hyperband import ASHAScheduler, AsyncHyperBandScheduler
from strato.tune.schedulers.hyperband import HyperBandScheduler
from strato.tune.schedulers.median_stopping import MedianStoppingRule
from strato.tune.schedulers.pbt import PopulationBasedTraining
from strato.tune.schedulers.trial_scheduler import Decision, FIFOScheduler, TrialScheduler

__all__ = ["ASHAScheduler", "AsyncHyperBandScheduler", "Decision", "FIFOScheduler", "HyperBandScheduler",
           "MedianStoppingRule", "PopulationBasedTraining", "TrialScheduler"]
