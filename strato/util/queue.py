"""Queue: a FIFO queue shared by drivers, tasks and actors (Ray's ray.util.queue API).

The items live in an async actor; `put`/`get` block (with optional timeout)
in the caller, `put_async`/`get_async` await, the `*_nowait` forms raise
`Full`/`Empty` at once; `size()`, `empty()`, `full()`; `shutdown()` stops the
actor. Handles to the queue can be passed to tasks and actors.
"""
from __future__ import annotations

import asyncio
import queue as std_queue
from collections.abc import Iterable

from strato import _context
from strato.actor import ActorClass


def _get(ref):
    return _context.require_worker("get").get([ref], None)[0]


class Empty(std_queue.Empty):
    pass


class Full(std_queue.Full):
    pass


class _QueueActor:
    def __init__(self, maxsize: int):
        self.queue = asyncio.Queue(maxsize)

    async def qsize(self):
        return self.queue.qsize()

    async def put(self, item, timeout=None):
        try:
            await asyncio.wait_for(self.queue.put(item), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def put_nowait(self, item):
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False

    async def put_nowait_batch(self, items):
        if self.queue.maxsize > 0 and len(items) + self.queue.qsize() > self.queue.maxsize:
            return False
        for item in items:
            self.queue.put_nowait(item)
        return True

    async def get(self, timeout=None):
        try:
            return True, await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return False, None

    async def get_nowait(self):
        try:
            return True, self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return False, None

    async def get_nowait_batch(self, n):
        if n > self.queue.qsize():
            return False, None
        return True, [self.queue.get_nowait() for _ in range(n)]


class Queue:
    def __init__(self, maxsize: int = 0, actor_options: dict | None = None):
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be an int >= 0 (0: unbounded), got {maxsize!r}")
        self.maxsize = maxsize
        options = {"num_cpus": 0, **(actor_options or {})}
        self.actor = ActorClass(_QueueActor, {}).options(**options).remote(maxsize)

    def _live(self):
        if self.actor is None:
            raise RuntimeError("This Queue was shut down (Queue.shutdown()); make a new Queue to go on.")
        return self.actor

    def __len__(self) -> int:
        return self.size()

    def size(self) -> int:
        return _get(self._live().qsize.remote())

    def qsize(self) -> int:
        return self.size()

    def empty(self) -> bool:
        return self.size() == 0

    def full(self) -> bool:
        return self.maxsize > 0 and self.size() >= self.maxsize

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        _check_timeout(timeout)
        if not block:
            if not _get(self._live().put_nowait.remote(item)):
                raise Full()
        elif not _get(self._live().put.remote(item, timeout)):
            raise Full()

    def put_nowait(self, item) -> None:
        self.put(item, block=False)

    def put_nowait_batch(self, items) -> None:
        """Put all of `items` in order, or none of them (Full) if they do not all fit."""
        if not isinstance(items, Iterable) or isinstance(items, (str, bytes)):
            raise TypeError(f"put_nowait_batch() takes an iterable of items, got {type(items).__name__}")
        items = list(items)
        if not _get(self._live().put_nowait_batch.remote(items)):
            raise Full(f"Cannot add {len(items)} items to a queue of maxsize {self.maxsize}.")

    def get(self, block: bool = True, timeout: float | None = None):
        _check_timeout(timeout)
        ok, item = _get(self._live().get.remote(timeout) if block else self._live().get_nowait.remote())
        if not ok:
            raise Empty()
        return item

    def get_nowait(self):
        return self.get(block=False)

    def get_nowait_batch(self, num_items: int) -> list:
        """Take `num_items` items in order, or none (Empty) if the queue holds fewer."""
        if isinstance(num_items, bool) or not isinstance(num_items, int):
            raise TypeError(f"get_nowait_batch() takes an int number of items, got {num_items!r}")
        if num_items < 0:
            raise ValueError(f"get_nowait_batch(): the number of items must be >= 0, got {num_items}")
        ok, items = _get(self._live().get_nowait_batch.remote(num_items))
        if not ok:
            raise Empty(f"Cannot get {num_items} items from a queue holding fewer.")
        return items

    async def put_async(self, item, block: bool = True, timeout: float | None = None) -> None:
        _check_timeout(timeout)
        ok = await (self._live().put.remote(item, timeout) if block else self._live().put_nowait.remote(item))
        if not ok:
            raise Full()

    async def get_async(self, block: bool = True, timeout: float | None = None):
        _check_timeout(timeout)
        ok, item = await (self._live().get.remote(timeout) if block else self._live().get_nowait.remote())
        if not ok:
            raise Empty()
        return item

    def shutdown(self, force: bool = False, grace_period_s: float = 5) -> None:
        """Stop the queue's actor. Unless `force`, calls already sent to it finish first (for up to
        `grace_period_s` seconds); then it is killed. The queue cannot be used afterwards."""
        if self.actor is not None:
            if not force:
                _context.require_worker("wait").wait_objects([self.actor.qsize.remote()], 1, grace_period_s,
                                                             raise_timeout=False)
            _context.require_worker("kill").kill_actor(self.actor._actor_id, True)
            self.actor = None


def _check_timeout(timeout) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout != timeout or timeout < 0):
        raise ValueError(f"'timeout' must be None or a non-negative number of seconds, got {timeout!r}")
