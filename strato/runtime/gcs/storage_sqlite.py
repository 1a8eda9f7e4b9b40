"""GCS tables in one SQLite file: the default for `strato start --head` (<session dir>/gcs_store.sqlite).

One table of rows (table name, key, value). The file is created with mode
0600 before SQLite opens it (the session folder is 0700), and SQLite's own
journal files take the same mode. Write-ahead logging with synchronous=NORMAL
makes each write durable against the GCS process dying (the case a GCS
restart recovers from) without an fsync per write; a power cut may lose the
last writes, not the file. Every statement commits on its own (autocommit),
so a write has reached the file when put() returns.

A store is used by one process at a time: the GCS. Opening a file another
live GCS holds is not prevented beyond SQLite's own locking.
"""
from __future__ import annotations

import os
import sqlite3
import threading

from strato.runtime.gcs.storage import StoreClient

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gcs_rows (
    tbl TEXT NOT NULL,
    k   BLOB NOT NULL,
    v   BLOB NOT NULL,
    PRIMARY KEY (tbl, k)
) WITHOUT ROWID
"""


class SqliteStoreClient(StoreClient):
    durable = True

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise ValueError(f"GCS storage: the folder of {self.path} does not exist; create it or give "
                             f"another sqlite:///PATH")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)    # before SQLite: never world-readable
        os.close(fd)
        os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ValueError(f"GCS storage: {self.path} is not a usable SQLite file ({exc}); move it away or "
                             f"give another path") from None

    def put(self, table, key, value, overwrite=True):
        verb = "INSERT OR REPLACE" if overwrite else "INSERT OR IGNORE"
        with self._lock:
            cur = self._db.execute(f"{verb} INTO gcs_rows (tbl, k, v) VALUES (?, ?, ?)",
                                   (table, bytes(key), bytes(value)))
            return cur.rowcount > 0

    def get(self, table, key):
        with self._lock:
            row = self._db.execute("SELECT v FROM gcs_rows WHERE tbl = ? AND k = ?", (table, bytes(key))).fetchone()
        return None if row is None else bytes(row[0])

    def delete(self, table, key):
        with self._lock:
            return self._db.execute("DELETE FROM gcs_rows WHERE tbl = ? AND k = ?", (table, bytes(key))).rowcount > 0

    def keys(self, table, prefix=b""):
        with self._lock:
            rows = self._db.execute("SELECT k FROM gcs_rows WHERE tbl = ? ORDER BY k", (table,)).fetchall()
        prefix = bytes(prefix)
        return [bytes(k) for (k,) in rows if bytes(k).startswith(prefix)]

    def items(self, table):
        with self._lock:
            rows = self._db.execute("SELECT k, v FROM gcs_rows WHERE tbl = ? ORDER BY k", (table,)).fetchall()
        return [(bytes(k), bytes(v)) for k, v in rows]

    def close(self):
        with self._lock:
            self._db.close()

    def describe(self):
        return f"sqlite file {self.path}"
