"""ActorPool: spread work over a fixed set of actors (Ray's ray.util.ActorPool API).

    pool = ActorPool([Worker.remote() for _ in range(4)])
    list(pool.map(lambda a, v: a.double.remote(v), range(10)))   # results in input order
    pool.submit(lambda a, v: a.double.remote(v), 3); pool.get_next()
"""
from __future__ import annotations

import collections

from strato import _context
from strato.exceptions import GetTimeoutError


def _wait_first(refs: list, timeout):
    """The first of `refs` to be ready (strato.wait with num_returns=1), or None on timeout."""
    found = _context.require_worker("wait").wait_objects(refs, 1, timeout, raise_timeout=False)
    return next((r for r in refs if r._id in found), None)


def _get(ref):
    return _context.require_worker("get").get([ref], None)[0]


class ActorPool:
    def __init__(self, actors: list):
        actors = list(actors)
        if not actors:
            raise ValueError("ActorPool needs at least one actor handle.")
        self._idle = actors
        self._future_to_actor: dict = {}          # ref -> (index, actor)
        self._index_to_future: dict = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending: collections.deque = collections.deque()   # (fn, value) waiting for an idle actor

    # ---------------------------------------------------------------- map
    def map(self, fn, values):
        """Apply fn(actor, value) -> ref to every value; yield results in the order of `values`."""
        self._drain_previous()
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next()

    def map_unordered(self, fn, values):
        """Like map, yielding each result as soon as it is ready."""
        self._drain_previous()
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next_unordered()

    def _drain_previous(self):
        while self.has_next():
            self.get_next_unordered()

    # ------------------------------------------------------------- submit
    def submit(self, fn, value) -> None:
        """Schedule fn(actor, value) on an idle actor, or queue it until one is free."""
        if self._idle:
            actor = self._idle.pop()
            ref = fn(actor, value)
            self._future_to_actor[ref] = (self._next_task_index, actor)
            self._index_to_future[self._next_task_index] = ref
            self._next_task_index += 1
        else:
            self._pending.append((fn, value))

    def has_next(self) -> bool:
        return bool(self._future_to_actor) or bool(self._pending)

    def has_free(self) -> bool:
        return bool(self._idle) and not self._pending

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False):
        """The next result in submission order."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        ref = self._index_to_future[self._next_return_index]
        if _wait_first([ref], timeout) is None:
            if ignore_if_timedout:
                self._next_return_index += 1
                self._index_to_future.pop(self._next_return_index - 1, None)
            raise GetTimeoutError("Timed out waiting for the next result of the ActorPool.")
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(ref)
        self._return_actor(actor)
        return _get(ref)

    def get_next_unordered(self, timeout: float | None = None, ignore_if_timedout: bool = False):
        """Any next result, whichever finishes first."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        ref = _wait_first(list(self._future_to_actor), timeout)
        if ref is None:
            raise GetTimeoutError("Timed out waiting for a result of the ActorPool.")
        index, actor = self._future_to_actor.pop(ref)
        self._index_to_future.pop(index, None)
        if index == self._next_return_index:
            self._next_return_index += 1
            while self._next_return_index < self._next_task_index and \
                    self._next_return_index not in self._index_to_future:
                self._next_return_index += 1
        self._return_actor(actor)
        return _get(ref)

    def _return_actor(self, actor) -> None:
        self._idle.append(actor)
        if self._pending:
            fn, value = self._pending.popleft()
            self.submit(fn, value)

    def pop_idle(self):
        """Take an idle actor out of the pool (None if all are busy)."""
        return self._idle.pop() if self.has_free() else None

    def push(self, actor) -> None:
        """Add an actor to the pool."""
        busy = {a for _, a in self._future_to_actor.values()}
        if actor in busy or actor in self._idle:
            raise ValueError("Actor already belongs to this pool.")
        self._return_actor(actor)
