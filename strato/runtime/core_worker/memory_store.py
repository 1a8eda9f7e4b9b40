"""The in-process memory store: serialized values by object id, with waiters.

Owned results, puts and fetched copies of borrowed objects live here as
(bytes, is_error). A reader that finds nothing registers a callback that
runs, exactly once, when the value arrives. Thread-safe: the user's thread
reads and puts, the event-loop thread stores task results.
"""
from __future__ import annotations

import threading
from typing import Callable


class StoredObject:
    __slots__ = ("data", "is_error")

    def __init__(self, data: bytes, is_error: bool = False):
        self.data = data
        self.is_error = is_error

    def __repr__(self):
        return f"StoredObject({len(self.data)} bytes{', error' if self.is_error else ''})"


Callback = Callable[[bytes, StoredObject], None]


class MemoryStore:
    def __init__(self, lock: threading.RLock | None = None):
        self._lock = lock or threading.RLock()
        self._objects: dict[bytes, StoredObject] = {}
        self._waiters: dict[bytes, list[Callback]] = {}

    def put(self, oid: bytes, obj: StoredObject) -> None:
        with self._lock:
            self._objects[oid] = obj
            callbacks = self._waiters.pop(oid, None)
        if callbacks:
            for cb in callbacks:
                cb(oid, obj)

    def get(self, oid: bytes) -> StoredObject | None:
        return self._objects.get(oid)

    def get_or_wait(self, oid: bytes, callback: Callback) -> StoredObject | None:
        """The value if present; otherwise None and `callback` runs when it arrives."""
        with self._lock:
            obj = self._objects.get(oid)
            if obj is None:
                self._waiters.setdefault(oid, []).append(callback)
            return obj

    def remove_waiter(self, oid: bytes, callback: Callback) -> None:
        with self._lock:
            waiters = self._waiters.get(oid)
            if waiters and callback in waiters:
                waiters.remove(callback)
                if not waiters:
                    del self._waiters[oid]

    def delete(self, oids) -> None:
        with self._lock:
            for oid in oids:
                self._objects.pop(oid, None)

    def __contains__(self, oid: bytes) -> bool:
        return oid in self._objects

    def __len__(self) -> int:
        return len(self._objects)
