"""The core worker's side of the node's store: write, read, release, free.

Requests go to the raylet's StoreServer over a Unix socket in the framed
format of transport.py, synchronously from the calling thread (a get or a
put is a few tens of microseconds of messaging; no event-loop hop). The
bytes themselves never travel on the socket:

* writing: the arena file is mapped once per process (writable) and the
  layout is copied into the region the store reserved, then sealed;
* reading: each read maps just that object's pages (read-only); the
  mapping is released to the store when Python collects it -- when the
  last numpy array or Arrow table viewing it goes -- so the store never
  reuses memory that someone still reads.

Releases and frees are one-way messages. They are queued (they may come
from a garbage collector's finalizer, where taking a lock is unsafe) and
sent with the next request, or by a small flusher thread woken through a
pipe.
"""
from __future__ import annotations

import collections
import itertools
import os
import pickle
import socket
import threading
import weakref

from strato import exceptions
from strato.runtime.object_store import layout as lay
from strato.runtime.object_store import shm

_HEADER = 8


class _Conn:
    def __init__(self, path: str, token: str, client_id: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = bytearray()
        self.send([("hello", token, {"client_id": client_id})])
        reply = self.recv()
        if not reply or reply[0][0] != "welcome":
            raise exceptions.AuthenticationError("the object store refused this process: wrong cluster token")

    def send(self, msgs: list) -> None:
        data = pickle.dumps(msgs, protocol=5)
        self.sock.sendall(len(data).to_bytes(_HEADER, "big") + data)

    def recv(self) -> list:
        buf = self.buf
        while True:
            if len(buf) >= _HEADER:
                size = int.from_bytes(buf[:_HEADER], "big")
                if len(buf) >= _HEADER + size:
                    frame = bytes(buf[_HEADER:_HEADER + size])
                    del buf[:_HEADER + size]
                    return pickle.loads(frame)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the object store closed the connection (its raylet exited?)")
            buf += chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class StoreClient:
    def __init__(self, *, socket_path: str, arena_path: str, capacity: int, token: str, client_id: str):
        self.socket_path = socket_path
        self.arena_path = arena_path
        self.capacity = capacity
        self._token = token
        self.client_id = client_id
        self._fd = os.open(arena_path, os.O_RDWR)
        self._arena = None
        self._view = None
        self._map_lock = threading.Lock()
        self._req_ids = itertools.count(1)
        self._pool: list[_Conn] = []
        self._all: list[_Conn] = []
        self._pool_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: collections.deque = collections.deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self._pool.append(self._new_conn())      # the anchor: kept open while this process lives
        self._flusher = threading.Thread(target=self._flush_forever, name="strato-store-flush", daemon=True)
        self._flusher.start()

    # ------------------------------------------------------------ plumbing
    def _new_conn(self) -> _Conn:
        conn = _Conn(self.socket_path, self._token, self.client_id)
        with self._pool_lock:
            self._all.append(conn)
        return conn

    def _acquire(self) -> _Conn:
        with self._pool_lock:
            if self._pool:
                return self._pool.pop()
        return self._new_conn()

    def _give_back(self, conn: _Conn) -> None:
        with self._pool_lock:
            self._pool.append(conn)

    def _drain(self) -> list:
        out = []
        pending = self._pending
        while pending:
            try:
                out.append(pending.popleft())
            except IndexError:
                break
        return out

    def call(self, kind: str, *args):
        if self._closed:
            raise exceptions.StratoError("the object store client is closed (strato.shutdown() was called)")
        conn = self._acquire()
        req_id = next(self._req_ids)
        try:
            with self._send_lock:
                msgs = self._drain()
                msgs.append((kind, req_id, *args))
                conn.send(msgs)
            while True:
                for msg in conn.recv():
                    if msg[0] == "reply" and msg[1] == req_id:
                        result = msg[2]
                        break
                else:
                    continue
                break
        except (OSError, ConnectionError) as exc:
            conn.close()
            raise exceptions.ObjectLostError(
                f"Lost the connection to this node's object store ({exc}); its raylet has exited.") from None
        self._give_back(conn)
        if result[0] == "ok":
            return result[1]
        _, code, message = result
        if code == "full":
            raise exceptions.ObjectStoreFullError(message)
        if code == "lost":
            raise exceptions.ObjectLostError(message)
        if code == "exists":
            raise FileExistsError(message)
        raise exceptions.StratoError(f"object store error: {message}")

    def _post(self, msg: tuple) -> None:
        """Queue a one-way message; safe from finalizers (no locks taken)."""
        self._pending.append(msg)
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _flush_forever(self) -> None:
        conn = None
        while True:
            try:
                os.read(self._wake_r, 4096)
            except OSError:
                return
            if self._closed:
                return
            try:
                with self._send_lock:
                    msgs = self._drain()
                    if msgs:
                        if conn is None:
                            conn = self._new_conn()
                        conn.send(msgs)
            except (OSError, ConnectionError):
                conn = None

    def close(self) -> None:
        if self._closed:
            return
        try:
            with self._send_lock:
                msgs = self._drain()
                if msgs and self._pool:
                    self._pool[0].send(msgs)
        except (OSError, ConnectionError):
            pass
        self._closed = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        with self._pool_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._pool.clear()

    # ------------------------------------------------------------ writing
    def _writable(self) -> memoryview:
        if self._view is None:
            with self._map_lock:
                if self._view is None:
                    self._arena = shm.map_arena(self._fd, self.capacity)
                    self._populated = bytearray(self.capacity // shm.POPULATE_CHUNK + 1)
                    self._view = memoryview(self._arena)
        return self._view

    def create(self, oid: bytes, size: int, *, owner: str = "", call_site: str = "", primary: bool = True) -> int:
        return self.call("create", oid, size, owner, call_site, primary)

    def put_layout(self, oid: bytes, layout: lay.Layout, *, owner: str = "", call_site: str = "") -> bool:
        """Write and seal; False when an object of that id is already there (a retried task)."""
        try:
            offset = self.create(oid, layout.size, owner=owner, call_site=call_site)
        except FileExistsError:
            return False
        try:
            view = self._writable()
            shm.prefault(self._arena, offset, layout.size, self._populated)
            lay.write_layout(layout, view[offset:offset + layout.size])
        except BaseException:
            self._post(("abort", oid))
            raise
        self.call("seal", oid)
        return True

    def put(self, oid: bytes, value, *, owner: str = "", call_site: str = "") -> lay.Layout:
        layout = lay.serialize_large(value)
        self.put_layout(oid, layout, owner=owner, call_site=call_site)
        return layout

    def seal(self, oid: bytes) -> None:
        self.call("seal", oid)

    def abort(self, oid: bytes) -> None:
        self._post(("abort", oid))

    # ------------------------------------------------------------ reading
    def read(self, oid: bytes, source: str = "") -> memoryview:
        """A read-only view of the object's bytes (pulled from `source`, a raylet address, if not here)."""
        offset, size = self.call("get", oid, source)
        try:
            mm = shm.map_object(self._fd, offset, max(size, 1))
        except BaseException:
            self._post(("release", offset))
            raise
        weakref.finalize(mm, self._post, ("release", offset))
        return memoryview(mm)[:size]

    def get(self, oid: bytes, source: str = "", worker=None):
        return lay.loads_layout(self.read(oid, source), worker)

    # ------------------------------------------------------------ freeing, stats
    def free(self, items) -> None:
        """items: [(oid, raylet address of the primary copy or "")]; one-way."""
        self._post(("free", list(items)))

    def stats(self) -> dict:
        return self.call("stats")

    def flush(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
