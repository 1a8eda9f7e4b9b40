"""GCS tables in Redis (`strato start --head --gcs-storage redis://HOST:PORT`), for a GCS whose tables
must outlive its machine's disk.

Each table is one Redis hash, `<namespace>:<table>` (fields: keys, values:
bytes), so tables of several clusters can share one Redis under different
namespaces (`?namespace=NAME`; open_store defaults it to the session
folder's name). put with overwrite=False is HSETNX; nothing else needs a
transaction. Calls are synchronous with a 5 s socket timeout: a Redis on
the same network answers in well under a millisecond, and the GCS waits for
each write to be acknowledged before it answers the call that caused it.

Authentication: the password comes from the URL (`redis://:PASSWORD@...`;
it then shows in `ps` of whoever typed it) or, better, from the
STRATO_REDIS_PASSWORD environment variable. A Redis that wants a password
and gets none or a wrong one is refused at start with a message saying
so; the password never appears in logs (storage.redact). Durability across
a Redis restart is Redis's own (RDB/AOF settings); across a GCS restart the
tables are simply still there.

Requires the `redis` package: `pip install 'strato[redis]'`.
"""
from __future__ import annotations

import os
import urllib.parse

from strato.runtime.gcs.storage import REDIS_PASSWORD_ENV, StoreClient, redact

try:
    import redis
except ImportError:  # pragma: no cover - the extra is not installed
    redis = None


class RedisStoreClient(StoreClient):
    durable = True

    def __init__(self, client, namespace: str, where: str = "redis"):
        if not namespace:
            raise ValueError("GCS storage in Redis needs a namespace (the prefix of its keys)")
        self._r = client
        self.namespace = namespace
        self._where = where

    @classmethod
    def from_url(cls, url: str, default_namespace: str = "strato", password: str | None = None) -> RedisStoreClient:
        """Connect to the Redis a URL names and check that it answers (and accepts the password)."""
        if redis is None:
            raise ValueError("GCS storage in Redis needs the redis package: pip install 'strato[redis]'")
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        namespace = query.pop("namespace", [default_namespace])[0]
        bare = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, doseq=True)))
        password = password if password is not None else (parts.password or os.environ.get(REDIS_PASSWORD_ENV)
                                                          or None)
        where = redact(bare)
        client = redis.Redis.from_url(bare, password=password, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.ping()
        except redis.AuthenticationError as exc:
            client.close()
            what = "refused the password" if password else "wants a password"
            raise ValueError(f"GCS storage: Redis at {where} {what} ({exc}); put the right one in "
                             f"{REDIS_PASSWORD_ENV}") from None
        except redis.ResponseError as exc:
            client.close()
            if "NOAUTH" in str(exc) or "auth" in str(exc).lower():
                raise ValueError(f"GCS storage: Redis at {where} wants a password ({exc}); put it in "
                                 f"{REDIS_PASSWORD_ENV}") from None
            raise ValueError(f"GCS storage: Redis at {where} answered with an error: {exc}") from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            client.close()
            raise ValueError(f"GCS storage: cannot reach Redis at {where} ({exc}); start it, or check the "
                             f"address") from None
        return cls(client, namespace, where)

    def _key(self, table: str) -> str:
        return f"{self.namespace}:{table}"

    def put(self, table, key, value, overwrite=True):
        if overwrite:
            self._r.hset(self._key(table), bytes(key), bytes(value))
            return True
        return bool(self._r.hsetnx(self._key(table), bytes(key), bytes(value)))

    def get(self, table, key):
        value = self._r.hget(self._key(table), bytes(key))
        return None if value is None else bytes(value)

    def delete(self, table, key):
        return self._r.hdel(self._key(table), bytes(key)) > 0

    def keys(self, table, prefix=b""):
        prefix = bytes(prefix)
        return sorted(k for k in self._r.hkeys(self._key(table)) if k.startswith(prefix))

    def items(self, table):
        return sorted(self._r.hgetall(self._key(table)).items())

    def close(self):
        self._r.close()

    def describe(self):
        return f"redis {self._where} namespace {self.namespace!r}"
