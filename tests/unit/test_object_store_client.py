"""The store server and client in one process: real shared memory and sockets, no cluster."""
import asyncio
import gc
import hashlib
import os
import threading

import numpy as np
import pyarrow as pa
import pytest

from strato import exceptions
from strato._testing import wait_collected
from strato.runtime.object_store.client import layout as lay
from strato.runtime.object_store.client.store_client import StoreClient
from strato.runtime.object_store.server import files
from strato.runtime.object_store.server.store_server import StoreServer

MiB = 1 << 20


class Running:
    """A StoreServer on an event loop in a thread."""

    def __init__(self, tmp_path, capacity, **kw):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = StoreServer(node_id=os.urandom(16), capacity=capacity, session_dir=str(tmp_path),
                                  token="t", **kw)
        self.run(self.server.start())
        self.clients = []

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def client(self, client_id="me:1"):
        info = self.server.info()
        c = StoreClient(socket_path=info["socket"], arena_path=info["arena"], capacity=info["capacity"],
                        token="t", client_id=client_id)
        self.clients.append(c)
        return c

    def call(self, fn, *args):
        async def go():
            return fn(*args)
        return self.run(go())

    def stop(self):
        for c in self.clients:
            c.close()
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def store(tmp_path):
    s = Running(tmp_path, 64 * MiB, full_timeout_s=1.5)
    try:
        yield s
    finally:
        s.stop()
    assert not os.path.exists(s.server.arena_path)


def test_numpy_roundtrip_is_a_read_only_view(store):
    c = store.client()
    arr = np.arange(1_000_000, dtype=np.int64)
    c.put(b"a" * 20, arr, owner="me:1", call_site="test")
    back = c.get(b"a" * 20)
    assert np.array_equal(arr, back)
    assert not back.flags.writeable
    assert not back.flags.owndata              # a view of the shared memory
    with pytest.raises(ValueError):
        back[0] = 1
    st = c.stats()
    assert st["num_objects"] == 1 and st["primary_bytes"] >= arr.nbytes
    assert st["largest"][0]["call_site"] == "test"


def test_arrow_table_roundtrip(store):
    c = store.client()
    table = pa.table({"x": np.arange(200_000), "s": [str(i) for i in range(200_000)]})
    c.put(b"t" * 20, table)
    back = c.get(b"t" * 20)
    assert back.equals(table)


def test_reader_holds_region_after_free(store):
    c = store.client()
    c.put(b"a" * 20, np.ones(4 * MiB, dtype=np.uint8))
    view = c.get(b"a" * 20)
    c.free([(b"a" * 20, "")])
    c.put(b"b" * 20, np.zeros(4 * MiB, dtype=np.uint8))       # must not land on view's pages
    assert wait_collected(lambda: c.stats()["num_objects"] == 1)
    assert view.sum() == 4 * MiB
    del view
    assert wait_collected(lambda: c.stats()["released_but_read_bytes"] == 0)
    c.free([(b"b" * 20, "")])
    assert wait_collected(lambda: c.stats()["used"] == 0)


def test_freed_region_is_reused_by_the_next_put(store):
    c = store.client()
    offsets = []
    for i in range(5):
        layout = lay.serialize_large(np.ones(8 * MiB, dtype=np.uint8))
        offsets.append(c.create(bytes([i]) * 20, layout.size))
        c.seal(bytes([i]) * 20)
        c.free([(bytes([i]) * 20, "")])
    assert len(set(offsets)) == 1


def test_spills_when_full_and_restores_intact(store):
    c = store.client()
    digests = {}
    for i in range(12):                                        # 12 x 8 MiB into a 64 MiB store
        arr = np.random.default_rng(i).integers(0, 255, 8 * MiB, dtype=np.uint8)
        digests[i] = hashlib.sha256(arr).hexdigest()
        c.put(bytes([i]) * 20, arr)
    st = c.stats()
    assert st["num_spilled"] > 0 and st["used"] <= st["capacity"]
    for i in range(12):
        assert hashlib.sha256(c.get(bytes([i]) * 20)).hexdigest() == digests[i]
    gc.collect()
    c.free([(bytes([i]) * 20, "") for i in range(12)])
    assert wait_collected(lambda: c.stats()["num_objects"] == 0 and c.stats()["used"] == 0)
    assert wait_collected(lambda: not os.listdir(store.server.spill_dir) if os.path.exists(store.server.spill_dir)
                    else True)


def test_full_store_and_disk_raises_actionable_error(store):
    c = store.client()
    with pytest.raises(exceptions.ObjectStoreFullError, match="larger than this node's whole object store"):
        c.put(b"x" * 20, np.ones(65 * MiB, dtype=np.uint8))
    held = [c.put(bytes([i]) * 20, np.ones(20 * MiB, dtype=np.uint8)) for i in range(3)]
    views = [c.get(bytes([i]) * 20) for i in range(3)]        # read: cannot be spilled or evicted
    with pytest.raises(exceptions.ObjectStoreFullError, match="Delete refs you no longer need"):
        c.put(b"y" * 20, np.ones(20 * MiB, dtype=np.uint8))
    del views, held


def test_disconnect_aborts_unsealed_and_frees_owned(store):
    writer = store.client("worker:9")
    reader = store.client("driver:1")
    writer.put(b"r" * 20, np.ones(MiB), owner="driver:1")     # a task return: owned by the driver
    writer.put(b"w" * 20, np.ones(MiB), owner="worker:9")     # the worker's own put
    writer.create(b"p" * 20, MiB, owner="driver:1")            # crash mid-put: never sealed
    writer.close()
    assert wait_collected(lambda: reader.stats()["num_objects"] == 1)
    assert reader.get(b"r" * 20).sum() == MiB
    with pytest.raises(exceptions.ObjectLostError):
        reader.get(b"p" * 20)


def test_stale_arena_of_a_dead_raylet_is_removed(tmp_path):
    name = files.arena_name(b"\x01" * 16, pid=2 ** 22 + 12345)    # no such pid
    path = os.path.join(str(tmp_path), name)
    open(path, "w").close()
    live = os.path.join(str(tmp_path), files.arena_name(b"\x02" * 16))
    open(live, "w").close()
    assert files.remove_stale([str(tmp_path)]) == [path]
    assert os.path.exists(live)


def test_markers():
    m = lay.encode_marker(b"\x07" * 16, 12345, "127.0.0.1:999")
    assert lay.is_marker(m) and not lay.is_marker(b"\x80\x05abc")
    assert lay.decode_marker(m) == lay.Marker(b"\x07" * 16, 12345, "127.0.0.1:999")


def test_node_store_keeps_small_values_inline_and_large_ones_in_the_store(store):
    from strato.runtime.object_store.client.node_store import NodeStore
    ns = NodeStore(node_id=store.server.node_id, raylet_address="", owner_address="me:1",
                   max_inline_bytes=100 * 1024, client=store.client())
    small, refs = ns.serialize(np.arange(10), "v", b"s" * 20)
    assert not lay.is_marker(small) and refs == []
    assert np.array_equal(ns.deserialize(b"s" * 20, small, None), np.arange(10))
    big, _ = ns.serialize(np.arange(1_000_000), "v", b"b" * 20)
    assert lay.is_marker(big) and len(big) < 100
    back = ns.deserialize(b"b" * 20, big, None)
    assert np.array_equal(back, np.arange(1_000_000)) and not back.flags.writeable
    st = ns.stats()
    assert st["largest"][0]["call_site"].startswith("test_object_store_client.py:")
    del back
    ns.free([(b"b" * 20, big), (b"s" * 20, small)])
    assert wait_collected(lambda: ns.stats()["num_objects"] == 0)


def test_a_repeated_get_reuses_its_lease_until_the_store_revokes_it(store):
    owner = store.client("owner:1")
    reader = store.client("reader:2")
    owner.put(b"l" * 20, np.arange(MiB, dtype=np.int64))
    # the first reads may come before the reader's listening connection is set up: no lease yet
    assert wait_collected(lambda: reader.get(b"l" * 20) is not None and b"l" * 20 in reader._leases)
    reads = reader.stats()["counters"]["reads"]
    first = reader.get(b"l" * 20)
    for _ in range(5):
        assert reader.get(b"l" * 20)[-1] == MiB - 1             # no request: the lease is reused
    assert reader.stats()["counters"]["reads"] == reads
    owner.free([(b"l" * 20, "")])                                 # revoked; `first` still views it
    owner.put(b"m" * 20, np.full(MiB, -1, dtype=np.int64))        # must not land on first's pages
    assert wait_collected(lambda: not reader._leases)
    assert first[0] == 0 and first[-1] == MiB - 1 and int(first.sum()) == MiB * (MiB - 1) // 2
    del first
    gc.collect()
    owner.free([(b"m" * 20, "")])
    assert wait_collected(lambda: owner.stats()["used"] == 0)


def test_leases_are_given_back_when_memory_gets_short(store):
    c = store.client()
    for i in range(5):                                            # 5 x 8 MiB, each read once
        c.put(bytes([i]) * 20, np.full(8 * MiB, i, dtype=np.uint8))
        assert c.get(bytes([i]) * 20)[0] == i
    assert c._leases
    for i in range(5, 12):                                        # past the spill threshold
        c.put(bytes([i]) * 20, np.full(8 * MiB, i, dtype=np.uint8))
    st = c.stats()
    assert st["num_spilled"] > 0 and st["used"] <= st["capacity"]
    for i in range(12):
        assert c.get(bytes([i]) * 20)[-1] == i
