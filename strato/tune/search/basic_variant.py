"""BasicVariantGenerator: random search and grid search (Tune's default search algorithm).

`points_to_evaluate` come first (each filled in from the space where a key is
missing); then `num_samples` x every grid combination, domains sampled with
a seeded numpy Generator. `max_concurrent` > 0 holds back new trials while
that many are live.
"""
from __future__ import annotations

import numpy as np

from strato.tune.search.searcher import SearchAlgorithm, Searcher, merge
from strato.tune.search.variant_generator import count_grid, generate_variants, resolve


class BasicVariantGenerator(SearchAlgorithm):
    def __init__(self, points_to_evaluate: list[dict] | None = None, max_concurrent: int = 0,
                 constant_grid_search: bool = False, random_state=None):
        if points_to_evaluate is not None and not isinstance(points_to_evaluate, list):
            raise TypeError("points_to_evaluate must be a list of config dicts.")
        self.points = [dict(p) for p in (points_to_evaluate or [])]
        self.max_concurrent = max_concurrent
        self.constant_grid_search = constant_grid_search
        self.rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(
            random_state)
        self.space: dict = {}
        self.num_samples = 1
        self._variants = None
        self._live: set = set()
        self._created = 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        self.space = config or {}
        self.num_samples = spec.get("num_samples", 1)
        return True

    @property
    def total_samples(self):
        if self.num_samples < 0:
            return None
        return len(self.points) + self.num_samples * count_grid(self.space)

    def next_config(self, trial_id: str):
        if self.max_concurrent > 0 and len(self._live) >= self.max_concurrent:
            return None
        if self.points:
            point = self.points.pop(0)
            cfg = resolve(merge(self.space, point), self.rng)
        else:
            if self._variants is None:
                self._variants = generate_variants(self.space, self.num_samples, self.rng, self.constant_grid_search)
            cfg = next(self._variants, None)
            if cfg is None:
                return Searcher.FINISHED
        self._live.add(trial_id)
        self._created += 1
        return cfg

    def on_trial_complete(self, trial_id, result=None, error=False):
        self._live.discard(trial_id)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_variants"] = None        # a generator does not pickle: restore skips what was created
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._created:
            made, self._created = self._created, 0
            self._variants = generate_variants(self.space, self.num_samples, self.rng, self.constant_grid_search)
            for _ in range(max(0, made - len(self.points))):
                next(self._variants, None)
            self._created = made
