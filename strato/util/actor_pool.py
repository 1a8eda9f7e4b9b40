"""ActorPool: spread work over a fixed set of actors (Ray's ray.util.ActorPool API).

    pool = ActorPool([Worker.remote() for _ in range(4)])
    list(pool.map(lambda a, v: a.double.remote(v), range(10)))   # results in input order
    pool.submit(lambda a, v: a.double.remote(v), 3); pool.get_next()
"""
from __future__ import annotations

import collections

from strato import _context
from strato.exceptions import ActorDiedError, GetTimeoutError


def _wait_first(refs: list, timeout):
    """The first of `refs` to be ready (strato.wait with num_returns=1), or None on timeout."""
    found = _context.require_worker("wait").wait_objects(refs, 1, timeout, raise_timeout=False)
    return next((r for r in refs if r._id in found), None)


def _get(key):
    """The value of a call's ref, or the list of values of its refs (a method with num_returns > 1)."""
    if key.__class__ is tuple:
        return _context.require_worker("get").get(list(key), None)
    return _context.require_worker("get").get([key], None)[0]


def _key(future):
    """A call's entry in the pool: its ref, or the tuple of its refs (num_returns > 1)."""
    return tuple(future) if isinstance(future, list) else future


def _rep(key):
    """The ref that stands for a call when waiting (the returns of one call are ready together)."""
    return key[0] if key.__class__ is tuple else key


def _wait_first_key(keys, timeout):
    """The first of the calls `keys` to be done, or None on timeout."""
    reps = {_rep(k): k for k in keys}
    ref = _wait_first(list(reps), timeout)
    return None if ref is None else reps[ref]


class ActorPool:
    def __init__(self, actors: list):
        actors = list(actors)
        if not actors:
            raise ValueError("ActorPool needs at least one actor handle.")
        self._idle_actors = actors
        self._future_to_actor: dict = {}          # ref -> (index, actor)
        self._index_to_future: dict = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending_submits: collections.deque = collections.deque()   # (fn, value) waiting for an idle actor
        self._draining: dict = {}                # ref -> actor: calls dropped by map(), still running

    # ---------------------------------------------------------------- map
    def map(self, fn, values):
        """Apply fn(actor, value) -> ref to every value; returns an iterator of the results in the order
        of `values`. As in Ray, every value is submitted now (queued until an actor is free), and
        results of earlier submissions not yet collected are dropped first (unfinished ones too)."""
        self._drop_previous()
        for v in values:
            self.submit(fn, v)

        def results():
            while self.has_next():
                yield self.get_next()
        return results()

    def map_unordered(self, fn, values):
        """Like map, yielding each result as soon as it is ready."""
        self._drop_previous()
        for v in values:
            self.submit(fn, v)

        def results():
            while self.has_next():
                yield self.get_next_unordered()
        return results()

    def _drop_previous(self):
        """Forget what was submitted before (Ray's map does the same): queued work is dropped, the
        results of running calls are ignored, and their actors come back when those calls end."""
        self._pending_submits.clear()
        for ref, (_, actor) in list(self._future_to_actor.items()):
            if _wait_first([_rep(ref)], 0) is not None:
                self._idle_actors.append(actor)
            else:
                self._draining[ref] = actor
        self._future_to_actor.clear()
        self._index_to_future.clear()
        self._next_return_index = self._next_task_index

    def _start_queued(self, running, timeout) -> None:
        """Queued work waits for actors still busy with calls a map() dropped: wait for those to end
        (up to `timeout`) until `running()` says what the caller waits for has started."""
        self._reclaim()
        while self._pending_submits and self._idle_actors:
            fn, value = self._pending_submits.popleft()
            self.submit(fn, value)
        while not running() and self._pending_submits and self._draining:
            ref = _wait_first_key(list(self._draining), timeout)
            if ref is None:
                raise GetTimeoutError("Timed out waiting for an actor of the ActorPool to be free.")
            self._idle_actors.append(self._draining.pop(ref))
            while self._pending_submits and self._idle_actors:
                fn, value = self._pending_submits.popleft()
                self.submit(fn, value)

    def _reclaim(self):
        """Actors whose dropped calls have ended are idle again."""
        if self._draining:
            for ref in [r for r in self._draining if _wait_first([_rep(r)], 0) is not None]:
                self._idle_actors.append(self._draining.pop(ref))

    # ------------------------------------------------------------- submit
    def submit(self, fn, value) -> None:
        """Schedule fn(actor, value) on an idle actor, or queue it until one is free."""
        self._reclaim()
        if self._idle_actors:
            actor = self._idle_actors.pop()
            ref = _key(fn(actor, value))
            self._future_to_actor[ref] = (self._next_task_index, actor)
            self._index_to_future[self._next_task_index] = ref
            self._next_task_index += 1
        else:
            self._pending_submits.append((fn, value))

    def has_next(self) -> bool:
        return bool(self._future_to_actor) or bool(self._pending_submits)

    def has_free(self) -> bool:
        return bool(self._idle_actors) and not self._pending_submits

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False):
        """The next result in submission order."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        self._start_queued(lambda: self._next_return_index in self._index_to_future, timeout)
        if self._next_return_index not in self._index_to_future:
            if not self._future_to_actor:          # queued work, and no actor left to run it
                raise ValueError("ActorPool.get_next(): the queued work has no actor to run on (every actor "
                                 "of the pool died?). push() a live actor.")
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        ref = self._index_to_future[self._next_return_index]
        if timeout is not None and _wait_first([_rep(ref)], timeout) is None:
            if ignore_if_timedout:      # skip it: its actor comes back once the call has ended
                del self._index_to_future[self._next_return_index]
                self._next_return_index += 1
                _, actor = self._future_to_actor.pop(ref)
                self._draining[ref] = actor
                raise GetTimeoutError(f"Timed out waiting for the next result of the ActorPool; the call {ref!r} "
                                      f"is ignored from now on.")
            raise GetTimeoutError("Timed out waiting for the next result of the ActorPool.")
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(ref)
        return self._result(ref, actor)

    def get_next_unordered(self, timeout: float | None = None, ignore_if_timedout: bool = False):
        """Any next result, whichever finishes first."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        self._start_queued(lambda: bool(self._future_to_actor), timeout)
        if not self._future_to_actor:
            raise ValueError("ActorPool.get_next_unordered(): the queued work has no actor to run on (every "
                             "actor of the pool died?). push() a live actor.")
        ref = _wait_first_key(list(self._future_to_actor), timeout)
        if ref is None:
            raise GetTimeoutError("Timed out waiting for a result of the ActorPool.")
        index, actor = self._future_to_actor.pop(ref)
        self._index_to_future.pop(index, None)
        self._next_return_index = max(self._next_return_index, index + 1)
        return self._result(ref, actor)

    def _result(self, ref, actor):
        """The call's value; its actor goes back to the pool unless it died (then it stays out)."""
        alive = True
        try:
            return _get(ref)
        except ActorDiedError:
            alive = False
            raise
        finally:
            self._return_actor(actor, alive)

    def _return_actor(self, actor, alive: bool = True) -> None:
        if alive:
            self._idle_actors.append(actor)
        if self._pending_submits and self._idle_actors:
            fn, value = self._pending_submits.popleft()
            self.submit(fn, value)

    def pop_idle(self):
        """Take an idle actor out of the pool (None if all are busy)."""
        return self._idle_actors.pop() if self.has_free() else None

    def push(self, actor) -> None:
        """Add an actor to the pool."""
        busy = {a for _, a in self._future_to_actor.values()} | set(self._draining.values())
        if actor in busy or actor in self._idle_actors:
            raise ValueError("Actor already belongs to this pool.")
        self._return_actor(actor)
