"""Opening the GCS's store from a storage URL (the forms are listed in storage.py's docstring).

Apart from storage.py so that the implementations (storage_sqlite.py,
storage_redis.py) can import the interface without an import cycle.
"""
from __future__ import annotations

import os

from strato.runtime.gcs.storage import (
    SQLITE_FILE,
    InMemoryStoreClient,
    StoreClient,
    check_url,
)


def open_store(url: str, session_dir: str) -> StoreClient:
    """The store a storage URL names (storage.py lists the forms). A Redis namespace defaults to the session
    folder's name, so a GCS restarted in the same session finds its tables and a new cluster starts empty."""
    url = check_url(url)
    if url == "memory":
        return InMemoryStoreClient()
    if url.startswith("sqlite"):
        from strato.runtime.gcs.storage_sqlite import SqliteStoreClient
        path = os.path.join(session_dir, SQLITE_FILE) if url == "sqlite" else url[len("sqlite://"):]
        return SqliteStoreClient(path)
    from strato.runtime.gcs.storage_redis import RedisStoreClient
    return RedisStoreClient.from_url(url, default_namespace=os.path.basename(os.path.normpath(session_dir)))
