"""The Searcher API (Ray's): suggest a config per trial, learn from results.

    controller --suggest(trial_id)--> Searcher            -> config | None (ask later) | FINISHED
               --on_trial_result(trial_id, result)-->
               --on_trial_complete(trial_id, result, error)-->

`SearchGenerator` wraps a Searcher into what the controller asks for trials:
it stops after `num_samples` suggestions and merges each suggestion into the
param_space's constants. BasicVariantGenerator (random and grid search) is a
search algorithm of its own, as in Ray.
"""
from __future__ import annotations

import copy
import pickle

from strato.tune.search.sample import Domain
from strato.tune.search.variant_generator import find_domains, find_grid


class Searcher:
    """Base of OptunaSearch, HyperOptSearch, ConcurrencyLimiter, Repeater and user searchers."""

    FINISHED = "FINISHED"

    def __init__(self, metric: str | None = None, mode: str | None = None):
        if mode is not None and mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self._metric = metric
        self._mode = mode

    @property
    def metric(self):
        return self._metric

    @property
    def mode(self):
        return self._mode

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        """Take metric/mode (and a param_space) from TuneConfig; False if the searcher has a space already."""
        if metric and self._metric is None:
            self._metric = metric
        if mode and self._mode is None:
            self._mode = mode
        return False

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return False

    def suggest(self, trial_id: str):
        raise NotImplementedError

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values=None) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not take evaluated points")

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))

    def get_state(self) -> dict:
        return dict(self.__dict__)

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)


def check_searchable(space, who: str) -> None:
    """Searchers that model the space (Optuna, HyperOpt) cannot take grid_search or sample_from."""
    if find_grid(space):
        raise ValueError(f"{who} cannot take grid_search entries in the search space; use "
                         f"tune.choice(...) instead, or the default BasicVariantGenerator for grids.")
    for path, dom in find_domains(space):
        if dom.kind == "function":
            raise ValueError(f"{who} cannot take sample_from at {'/'.join(map(str, path))}; use a "
                             f"distribution (tune.uniform, tune.choice, ...) or BasicVariantGenerator.")


def merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def strip_domains(space):
    """The param_space's constants: domains removed (searcher suggestions fill them)."""
    if isinstance(space, dict):
        return {k: strip_domains(v) for k, v in space.items() if not isinstance(v, Domain)}
    return space


class SearchAlgorithm:
    """What the controller asks for new trials (BasicVariantGenerator, or SearchGenerator(searcher))."""

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def next_config(self, trial_id: str):
        """A config, None (nothing now: ask again later) or Searcher.FINISHED."""
        raise NotImplementedError

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    @property
    def total_samples(self) -> int | None:
        return None


class SearchGenerator(SearchAlgorithm):
    """A Searcher asked up to `num_samples` times (-1: until it says FINISHED)."""

    def __init__(self, searcher: Searcher):
        self.searcher = searcher
        self.num_samples = 1
        self.suggested = 0
        self.constants: dict = {}
        self.finished = False

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        self.num_samples = spec.get("num_samples", 1)
        if config:
            self.constants = strip_domains(config)
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def next_config(self, trial_id: str):
        if self.finished or (0 <= self.num_samples <= self.suggested):
            return Searcher.FINISHED
        cfg = self.searcher.suggest(trial_id)
        if cfg is Searcher.FINISHED or cfg == Searcher.FINISHED:
            self.finished = True
            return Searcher.FINISHED
        if cfg is None:
            return None
        self.suggested += 1
        return merge(self.constants, cfg)

    def on_trial_result(self, trial_id, result):
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    @property
    def total_samples(self):
        return self.num_samples if self.num_samples >= 0 else None
