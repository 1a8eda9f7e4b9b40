"""Where the GCS keeps its tables: a small interface, its in-memory form, and how a storage URL is opened.

Tables are named; keys and values are bytes. What a table holds, and who
writes it (the GCS writes through on every change, and reads it all back
when it starts on storage that already has them, server.py: recover):

    nodes              node_id -> NodeInfo                                 (server.py)
    jobs               job_id -> JobInfo                                   (server.py)
    actors             actor_id -> actor_record(ActorInfo, creation spec)  (server.py, for actor_manager.py)
    kv:<namespace>     key -> value: function/class exports, user KV       (server.py)
    placement_groups   placement group id -> the group's record, bytes the placement-group manager
                       chooses (protobuf, never pickle: a store outside the GCS must not be able to make
                       it run code); it writes with `gcs.store.put(PLACEMENT_GROUPS, pg_id, blob)`,
                       deletes with `gcs.store.delete(...)`, and reads them all back with
                       `gcs.store.items(PLACEMENT_GROUPS)` when the GCS starts (GcsServer.recover calls
                       the manager's `recover()` if it has one).
    meta               bookkeeping of the GCS itself (the job counter)

Task events and the task table are not stored: they are rebuilt from what
core workers report after a restart.

Implementations, chosen by a storage URL (storage_url.open_store):

    memory                              InMemoryStoreClient: lost when the GCS exits (embedded clusters)
    sqlite                              storage_sqlite.py: <session dir>/gcs_store.sqlite, mode 0600
    sqlite:///ABS/PATH                  the same at a path of your choice
    redis://[:PASSWORD@]HOST:PORT[/DB][?namespace=NAME]   storage_redis.py (the `redis` extra);
                                        the password may instead be in STRATO_REDIS_PASSWORD
"""
from __future__ import annotations

import abc
import struct
import urllib.parse

NODES = "nodes"
JOBS = "jobs"
ACTORS = "actors"
PLACEMENT_GROUPS = "placement_groups"
META = "meta"
KV_PREFIX = "kv:"

SQLITE_FILE = "gcs_store.sqlite"
REDIS_PASSWORD_ENV = "STRATO_REDIS_PASSWORD"
STORAGE_ENV = "STRATO_GCS_STORAGE"     # the storage URL, from the starter (node.py) to the GCS; may hold a password


class StoreClient(abc.ABC):
    """Five table operations; every write is durable (as the implementation can make it) when it returns."""

    #: whether tables outlive the GCS process (a restarted GCS reloads them)
    durable = False

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

    def close(self) -> None:
        """Release the file or connection (the tables stay where they are)."""

    def describe(self) -> str:
        """Where the tables are, for logs (never with a password)."""
        return type(self).__name__


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

    def describe(self):
        return "memory"


# --------------------------------------------------------------- records
def actor_record(info: bytes, creation_spec: bytes) -> bytes:
    """An actor's stored form: its serialized ActorInfo and its creation spec, length-prefixed."""
    return struct.pack(">I", len(info)) + info + creation_spec


def parse_actor_record(blob: bytes) -> tuple[bytes, bytes]:
    """(serialized ActorInfo, creation spec) from actor_record's bytes; ValueError when malformed."""
    if len(blob) < 4:
        raise ValueError("actor record shorter than its header")
    (n,) = struct.unpack_from(">I", blob)
    if 4 + n > len(blob):
        raise ValueError(f"actor record says its info has {n} bytes, but only {len(blob) - 4} follow")
    return blob[4:4 + n], blob[4 + n:]


# ------------------------------------------------------------------ URLs
def check_url(url: str) -> str:
    """Normalise a storage URL (None/"" -> "memory"); ValueError saying what is accepted when it is not."""
    url = (url or "memory").strip()
    scheme = url.split(":", 1)[0].lower()
    if url in ("memory", "sqlite") or (scheme == "sqlite" and url.startswith("sqlite:///")):
        return url
    if scheme in ("redis", "rediss"):
        parts = urllib.parse.urlsplit(url)
        if not parts.hostname or parts.port is None:
            raise ValueError(f"GCS storage {redact(url)!r} has no host:port; use redis://HOST:PORT (e.g. "
                             f"redis://127.0.0.1:6379), the password in {REDIS_PASSWORD_ENV}")
        return url
    raise ValueError(f"unknown GCS storage {redact(url)!r}: use 'memory', 'sqlite' (a file in the session "
                     f"folder), 'sqlite:///ABSOLUTE/PATH' or 'redis://HOST:PORT[/DB][?namespace=NAME]'")


def redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
