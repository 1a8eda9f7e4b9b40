"""The GCS's storage (gcs/storage*.py): one contract, three implementations -- in memory, a SQLite file, and
a real redis-server (started here on a free loopback port with a password, stopped afterwards) -- plus what
only the durable ones promise: the tables are there when the store is opened again."""
import os
import stat

import pytest

from strato._testing import RedisServer
from strato.runtime.gcs import storage
from strato.runtime.gcs.storage import (
    InMemoryStoreClient,
    actor_record,
    parse_actor_record,
)
from strato.runtime.gcs.storage_redis import RedisStoreClient
from strato.runtime.gcs.storage_sqlite import SqliteStoreClient
from strato.runtime.gcs.storage_url import open_store


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(str(tmp_path_factory.mktemp("redis"))) as server:
        yield server


def open_kind(kind, folder, redis_server, namespace="t"):
    if kind == "memory":
        return InMemoryStoreClient()
    if kind == "sqlite":
        return SqliteStoreClient(os.path.join(folder, "gcs.sqlite"))
    return RedisStoreClient.from_url(f"{redis_server.url}?namespace={namespace}", password=redis_server.password)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path):
    redis = request.getfixturevalue("redis_server") if request.param == "redis" else None
    s = open_kind(request.param, str(tmp_path), redis, namespace=f"t{id(request)}")
    yield s
    s.close()


# ------------------------------------------------------------------ the contract
def test_put_get_overwrite_and_delete(store):
    assert store.get("jobs", b"\0\0\0\1") is None
    assert store.put("jobs", b"\0\0\0\1", b"first") is True
    assert store.get("jobs", b"\0\0\0\1") == b"first"
    assert store.put("jobs", b"\0\0\0\1", b"second") is True                      # overwrite by default
    assert store.put("jobs", b"\0\0\0\1", b"third", overwrite=False) is False     # refused, value kept
    assert store.get("jobs", b"\0\0\0\1") == b"second"
    assert store.put("jobs", b"\0\0\0\2", b"other", overwrite=False) is True
    assert store.delete("jobs", b"\0\0\0\1") is True
    assert store.delete("jobs", b"\0\0\0\1") is False
    assert store.get("jobs", b"\0\0\0\1") is None
    assert store.items("jobs") == [(b"\0\0\0\2", b"other")]


def test_tables_are_separate_and_keys_filter_by_prefix(store):
    store.put("kv:fn", b"fn:a", b"1")
    store.put("kv:fn", b"fn:b", b"2")
    store.put("kv:fn", b"cls:c", b"3")
    store.put("kv:other", b"fn:a", b"other namespace")
    assert sorted(store.keys("kv:fn")) == [b"cls:c", b"fn:a", b"fn:b"]
    assert sorted(store.keys("kv:fn", b"fn:")) == [b"fn:a", b"fn:b"]
    assert store.keys("kv:fn", b"zzz") == []
    assert store.get("kv:other", b"fn:a") == b"other namespace"
    assert sorted(store.items("kv:fn")) == [(b"cls:c", b"3"), (b"fn:a", b"1"), (b"fn:b", b"2")]
    assert store.items("never written") == [] and store.keys("never written") == []


def test_binary_keys_and_large_values_round_trip(store):
    key = bytes(range(256))                       # every byte value, NULs included
    value = os.urandom(3 << 20)                   # 3 MiB: a big pickled function
    store.put("kv:fn", key, value)
    assert store.get("kv:fn", key) == value
    assert store.keys("kv:fn", key[:10]) == [key]
    assert store.put("kv:fn", b"empty", b"") and store.get("kv:fn", b"empty") == b""   # empty is not missing


# ------------------------------------------------------------------ durability
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_durable_store_opened_again_has_every_table(kind, tmp_path, redis_server):
    first = open_kind(kind, str(tmp_path), redis_server, namespace=f"reopen-{kind}")
    assert first.durable
    first.put(storage.NODES, b"n1", b"node one")
    first.put(storage.ACTORS, b"a1", actor_record(b"info", b"spec"))
    first.put("kv:fn", b"f", b"pickled")
    first.put(storage.PLACEMENT_GROUPS, b"pg1", b"bundles")
    first.put("kv:fn", b"gone", b"x")
    first.delete("kv:fn", b"gone")                # a deletion is as durable as a write
    first.close()
    again = open_kind(kind, str(tmp_path), redis_server, namespace=f"reopen-{kind}")
    assert again.items(storage.NODES) == [(b"n1", b"node one")]
    assert parse_actor_record(again.get(storage.ACTORS, b"a1")) == (b"info", b"spec")
    assert again.items("kv:fn") == [(b"f", b"pickled")]
    assert again.get(storage.PLACEMENT_GROUPS, b"pg1") == b"bundles"
    again.close()
    if kind == "redis":   # another namespace on the same Redis sees none of it
        other = open_kind(kind, str(tmp_path), redis_server, namespace="another-cluster")
        assert other.items(storage.NODES) == []
        other.close()


def test_the_sqlite_file_and_its_journal_are_private(tmp_path):
    os.chmod(tmp_path, 0o700)
    old = os.umask(0o022)        # a permissive umask must not leak into the files' modes
    try:
        s = SqliteStoreClient(str(tmp_path / "gcs.sqlite"))
        s.put("kv:x", b"k", b"secret")
        files = sorted(p for p in os.listdir(tmp_path) if p.startswith("gcs.sqlite"))
        assert "gcs.sqlite" in files and "gcs.sqlite-wal" in files, files     # write-ahead log in use
        for name in files:
            mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
            assert mode == 0o600, f"{name} has mode {oct(mode)}"
        s.close()
    finally:
        os.umask(old)


def test_a_file_that_is_not_sqlite_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "gcs.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a usable SQLite file"):
        SqliteStoreClient(str(path))
    with pytest.raises(ValueError, match="does not exist"):
        SqliteStoreClient(str(tmp_path / "missing" / "gcs.sqlite"))


# ------------------------------------------------------------------ Redis authentication
def test_redis_without_or_with_a_wrong_password_is_refused(redis_server, monkeypatch):
    monkeypatch.delenv(storage.REDIS_PASSWORD_ENV, raising=False)
    with pytest.raises(ValueError, match="wants a password") as missing:
        RedisStoreClient.from_url(redis_server.url)
    with pytest.raises(ValueError, match="refused the password") as wrong:
        RedisStoreClient.from_url(redis_server.url, password="not-" + redis_server.password)
    for err in (missing, wrong):
        assert redis_server.password not in str(err.value)
    monkeypatch.setenv(storage.REDIS_PASSWORD_ENV, redis_server.password)      # the way the GCS gets it
    s = RedisStoreClient.from_url(redis_server.url + "?namespace=env")
    assert s.put("jobs", b"j", b"v") and s.get("jobs", b"j") == b"v"
    assert "env" in s.describe() and redis_server.password not in s.describe()
    s.close()


def test_an_unreachable_redis_is_refused_with_its_address():
    from strato._testing import free_port
    url = f"redis://127.0.0.1:{free_port()}"
    with pytest.raises(ValueError, match="cannot reach Redis at " + url):
        RedisStoreClient.from_url(url)


# ------------------------------------------------------------------ URLs and records
def test_storage_urls_open_the_right_store(tmp_path, redis_server, monkeypatch):
    assert isinstance(open_store("", str(tmp_path)), InMemoryStoreClient)
    assert isinstance(open_store("memory", str(tmp_path)), InMemoryStoreClient)
    s = open_store("sqlite", str(tmp_path))
    assert isinstance(s, SqliteStoreClient) and s.path == str(tmp_path / storage.SQLITE_FILE)
    s.close()
    s = open_store(f"sqlite://{tmp_path}/elsewhere.db", str(tmp_path))
    assert s.path == str(tmp_path / "elsewhere.db")
    s.close()
    monkeypatch.setenv(storage.REDIS_PASSWORD_ENV, redis_server.password)
    s = open_store(redis_server.url, str(tmp_path / "session_2026_x"))
    assert isinstance(s, RedisStoreClient) and s.namespace == "session_2026_x"    # the session's name
    s.close()


@pytest.mark.parametrize("url,message", [
    ("postgres://db:5432", "unknown GCS storage"),
    ("sqlite:relative.db", "unknown GCS storage"),
    ("redis://nohost", "has no host:port"),
])
def test_bad_storage_urls_say_what_is_accepted(url, message):
    with pytest.raises(ValueError, match=message):
        storage.check_url(url)


def test_a_password_in_a_url_is_redacted():
    assert storage.redact("redis://:hunter2@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert storage.redact("redis://10.0.0.5:6379") == "redis://10.0.0.5:6379"
    with pytest.raises(ValueError) as err:
        storage.check_url("mysql://:hunter2@x:1")
    assert "hunter2" not in str(err.value)


def test_actor_records_round_trip_and_malformed_ones_are_refused():
    assert parse_actor_record(actor_record(b"info bytes", b"spec bytes")) == (b"info bytes", b"spec bytes")
    assert parse_actor_record(actor_record(b"", b"")) == (b"", b"")
    with pytest.raises(ValueError, match="shorter than its header"):
        parse_actor_record(b"\0\0")
    with pytest.raises(ValueError, match="only 3 follow"):
        parse_actor_record(b"\0\0\0\x09abc")
