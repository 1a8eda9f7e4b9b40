"""The core worker's event loop, on a daemon thread of its own (drivers and workers alike).

A driver's loop never runs in the user's thread, so `strato.get` blocks only
its caller and a notebook's own event loop is never taken over; a worker's
main thread runs tasks while this loop does the network side.
"""
from __future__ import annotations

import asyncio
import threading


class EventLoopThread:
    """An asyncio loop (uvloop when installed) on a daemon thread."""

    def __init__(self, name: str):
        try:
            import uvloop
            self.loop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def ident(self):
        return self._thread.ident

    def run(self, coro, timeout: float | None = None):
        """Run a coroutine on the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        if self.loop.is_closed():
            return

        async def _cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(_cancel_all(), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()
