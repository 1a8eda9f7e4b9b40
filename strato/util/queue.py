"""Queue: a FIFO queue shared by drivers, tasks and actors (Ray's ray.util.queue API).

The items live in an async actor; `put`/`get` block (with optional timeout)
in the caller. Handles to the queue can be passed to tasks and actors.
"""
from __future__ import annotations

import asyncio
import queue as std_queue

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

    def __len__(self) -> int:
        return self.size()

    def size(self) -> int:
        return _get(self.actor.qsize.remote())

    def qsize(self) -> int:
        return self.size()

    def empty(self) -> bool:
        return self.size() == 0

    def full(self) -> bool:
        return self.maxsize > 0 and self.size() >= self.maxsize

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        if not block:
            if not _get(self.actor.put_nowait.remote(item)):
                raise Full()
        elif not _get(self.actor.put.remote(item, timeout)):
            raise Full()

    def put_nowait(self, item) -> None:
        self.put(item, block=False)

    def put_nowait_batch(self, items) -> None:
        if not _get(self.actor.put_nowait_batch.remote(list(items))):
            raise Full(f"Cannot add {len(items)} items to a queue of maxsize {self.maxsize}.")

    def get(self, block: bool = True, timeout: float | None = None):
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        ok, item = _get(self.actor.get.remote(timeout) if block else self.actor.get_nowait.remote())
        if not ok:
            raise Empty()
        return item

    def get_nowait(self):
        return self.get(block=False)

    def get_nowait_batch(self, num_items: int) -> list:
        ok, items = _get(self.actor.get_nowait_batch.remote(num_items))
        if not ok:
            raise Empty(f"Cannot get {num_items} items from a queue holding fewer.")
        return items

    async def put_async(self, item, timeout: float | None = None) -> None:
        if not await self.actor.put.remote(item, timeout):
            raise Full()

    async def get_async(self, timeout: float | None = None):
        ok, item = await self.actor.get.remote(timeout)
        if not ok:
            raise Empty()
        return item

    def shutdown(self) -> None:
        if self.actor is not None:
            _context.require_worker("kill").kill_actor(self.actor._actor_id, True)
            self.actor = None
