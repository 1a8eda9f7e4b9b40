"""Repeater: each suggested config runs `repeat` times; the searcher sees one trial with the mean result.

    suggest(t1) -> searcher.suggest(group g) -> config c; trials t1..tR all get c
                   (with config["__trial_index__"] = 0..R-1 when set_index)
    on_trial_complete(ti): when all R trials of g are complete, searcher.on_trial_complete(g,
                   {metric: mean of the R final metrics}) (error if none reported it)
"""
from __future__ import annotations

import copy

import numpy as np

from strato.tune.search.searcher import Searcher

TRIAL_INDEX = "__trial_index__"


class Repeater(Searcher):
    def __init__(self, searcher: Searcher, repeat: int = 1, set_index: bool = True):
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"repeat must be an int >= 1, got {repeat!r}.")
        super().__init__(searcher.metric, searcher.mode)
        self.searcher = searcher
        self.repeat = repeat
        self.set_index = set_index
        self.groups: list[dict] = []            # {"id", "config", "trials": {tid: result|None}, "done"}
        self.trial_group: dict[str, dict] = {}
        self._current: dict | None = None

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        ok = self.searcher.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = self.searcher.metric, self.searcher.mode
        return ok

    def suggest(self, trial_id):
        if self._current is None or len(self._current["trials"]) >= self.repeat:
            gid = f"{trial_id}_group"
            cfg = self.searcher.suggest(gid)
            if cfg is None or cfg == Searcher.FINISHED:
                return cfg
            self._current = {"id": gid, "config": cfg, "trials": {}, "done": 0}
            self.groups.append(self._current)
        group = self._current
        cfg = copy.deepcopy(group["config"])
        if self.set_index:
            cfg[TRIAL_INDEX] = len(group["trials"])
        group["trials"][trial_id] = None
        self.trial_group[trial_id] = group
        return cfg

    def on_trial_complete(self, trial_id, result=None, error=False):
        group = self.trial_group.get(trial_id)
        if group is None:
            return
        group["trials"][trial_id] = result
        group["done"] += 1
        if group["done"] < self.repeat:
            return
        values = [r[self.metric] for r in group["trials"].values() if r and self.metric in r]
        if not values:
            self.searcher.on_trial_complete(group["id"], result=None, error=True)
        else:
            self.searcher.on_trial_complete(group["id"], result={self.metric: float(np.mean(values))})
