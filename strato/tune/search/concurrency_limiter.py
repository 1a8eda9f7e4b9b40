"""ConcurrencyLimiter: at most `max_concurrent` live trials from a searcher; `batch` feeds results in groups.

    suggest: None while len(live) >= max_concurrent (the controller asks again later)
    batch=True: completions are held until every live trial of the batch has completed,
                then given to the wrapped searcher together
If the wrapped searcher limits concurrency itself (set_max_concurrency returns
True), calls pass straight through.
"""
from __future__ import annotations

from strato.tune.search.searcher import Searcher


class ConcurrencyLimiter(Searcher):
    def __init__(self, searcher: Searcher, max_concurrent: int, batch: bool = False):
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ValueError(f"max_concurrent must be an int >= 1, got {max_concurrent!r}.")
        super().__init__(searcher.metric, searcher.mode)
        self.searcher = searcher
        self.max_concurrent = max_concurrent
        self.batch = batch
        self.live: set[str] = set()
        self.cached: list[tuple] = []
        self._passthrough = bool(searcher.set_max_concurrency(max_concurrent))

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        ok = self.searcher.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = self.searcher.metric, self.searcher.mode
        return ok

    def suggest(self, trial_id):
        if self._passthrough:
            return self.searcher.suggest(trial_id)
        if len(self.live) >= self.max_concurrent:
            return None
        cfg = self.searcher.suggest(trial_id)
        if cfg is not None and cfg != Searcher.FINISHED:
            self.live.add(trial_id)
        return cfg

    def on_trial_result(self, trial_id, result):
        if self._passthrough or trial_id in self.live:
            self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id, result=None, error=False):
        if self._passthrough:
            return self.searcher.on_trial_complete(trial_id, result=result, error=error)
        if trial_id not in self.live:
            return
        if not self.batch:
            self.live.discard(trial_id)
            self.searcher.on_trial_complete(trial_id, result=result, error=error)
            return
        self.cached.append((trial_id, result, error))
        if len(self.cached) == len(self.live):
            for tid, res, err in self.cached:
                self.searcher.on_trial_complete(tid, result=res, error=err)
            self.live.clear()
            self.cached.clear()
