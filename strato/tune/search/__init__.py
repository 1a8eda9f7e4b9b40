"""Search algorithms: BasicVariantGenerator (random/grid), Searchers (Optuna, HyperOpt), limiters.

`from strato.tune.search.optuna import OptunaSearch` and `...hyperopt import HyperOptSearch`
import the optional packages only when used.
"""
from strato.tune.search.basic_variant import BasicVariantGenerator
from strato.tune.search.concurrency_limiter import ConcurrencyLimiter
from strato.tune.search.repeater import Repeater
from strato.tune.search.searcher import SearchAlgorithm, SearchGenerator, Searcher

__all__ = ["BasicVariantGenerator", "ConcurrencyLimiter", "Repeater", "SearchAlgorithm", "SearchGenerator",
           "Searcher"]
