"""Where the GCS keeps its tables: a small interface and its in-memory form.

Tables are named ("nodes", "jobs", "kv:<namespace>", ...); keys and values
are bytes. SQLite and Redis implementations (a later issue) plug in behind
the same five methods.
"""
from __future__ import annotations

import abc


class StoreClient(abc.ABC):
    @abc.abstractmethod
    def put(self, table: str, key: bytes, value: bytes, overwrite: bool = True) -> bool:
        """Store value; returns False when the key existed and overwrite is False."""

    @abc.abstractmethod
    def get(self, table: str, key: bytes) -> bytes | None: ...

    @abc.abstractmethod
    def delete(self, table: str, key: bytes) -> bool: ...

    @abc.abstractmethod
    def keys(self, table: str, prefix: bytes = b"") -> list[bytes]: ...

    @abc.abstractmethod
    def items(self, table: str) -> list[tuple[bytes, bytes]]: ...


class InMemoryStoreClient(StoreClient):
    def __init__(self):
        self._tables: dict[str, dict[bytes, bytes]] = {}

    def put(self, table, key, value, overwrite=True):
        t = self._tables.setdefault(table, {})
        if not overwrite and key in t:
            return False
        t[key] = value
        return True

    def get(self, table, key):
        return self._tables.get(table, {}).get(key)

    def delete(self, table, key):
        return self._tables.get(table, {}).pop(key, None) is not None

    def keys(self, table, prefix=b""):
        return [k for k in self._tables.get(table, {}) if k.startswith(prefix)]

    def items(self, table):
        return list(self._tables.get(table, {}).items())
