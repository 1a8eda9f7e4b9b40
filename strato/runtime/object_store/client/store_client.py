"""The core worker's side of the node's store: write, read, release, free.

Requests go to the raylet's StoreServer over a Unix socket in the framed
format of transport.py, after the same token hello (protocol/handshake.py:
nothing is unpickled before both sides proved the token), synchronously from the calling thread (a get or a
put is a few tens of microseconds of messaging; no event-loop hop). The
bytes themselves never travel on the socket:

* writing: the arena file is mapped once per process (writable) and the
  layout is copied into the region the store reserved, then sealed (a
  one-way message: a reader of an unsealed object waits at the store);
* reading: the arena is also mapped once per process read-only, and each
  read hands out a view of the object's pages through a small numpy array
  of its own. The store counts this process as a reader of the region
  until that array is collected -- when the last numpy array or Arrow
  table viewing it goes -- so the store never reuses memory that someone
  still reads.

Reads are leases: after the last value of an object is gone the process
keeps reading rights on its region, so the next `get` of the same object
needs no request at all. The store revokes a lease (a message on the
flusher thread's connection) when the object is freed or the store needs
memory; the lease is then given back as soon as no value views it. A
value is therefore never read after its memory was reused: the region
stays counted as read until this process releases it, and it releases it
only once no view of it is left.

Releases and frees are one-way messages. They are queued (they may come
from a garbage collector's finalizer, where taking a lock is unsafe) and
sent with the next request, or by a small flusher thread woken through a
pipe. The flusher sends them on an idle pooled connection when there is
one, so that in a single-threaded process a free reaches the store before
the next request (the next put then reuses the freed region).
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import pickle
import select
import socket
import threading
import weakref

from strato import exceptions
from strato.runtime.object_store import arena
from strato.runtime.object_store.client import layout as lay
from strato.runtime.protocol import handshake
from strato.runtime.protocol import messages as m

_HEADER = 8
logger = logging.getLogger(__name__)


class _Lease:
    """This process's reading rights on one object's region (one reader at the store)."""
    __slots__ = ("oid", "offset", "size", "live", "revoked", "released", "__weakref__")

    def __init__(self, oid: bytes, offset: int, size: int, revoked: bool):
        self.oid, self.offset, self.size = oid, offset, size
        self.live = 0               # views handed out and not yet collected (as of the last _settle)
        self.revoked = revoked      # give it back once `live` reaches 0; no new views
        self.released = False


class _Conn:
    def __init__(self, path: str, token: str, client_id: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = bytearray()
        try:
            handshake.client_handshake_sync(self.sock, token)   # both sides prove the token before any pickle
        except handshake.WrongToken as exc:
            self.close()
            raise exceptions.AuthenticationError(f"the object store at {path}: {exc}") from None
        except handshake.HandshakeError:
            self.close()
            raise
        self.send([m.Hello({"client_id": client_id})])
        reply = self.recv()
        if not reply or type(reply[0]) is not m.Welcome:
            self.close()
            raise exceptions.AuthenticationError(f"the object store at {path} did not welcome this process")

    def send(self, msgs: list) -> None:
        data = pickle.dumps(m.encode(msgs), protocol=5)
        self.sock.sendall(len(data).to_bytes(_HEADER, "big") + data)

    def has_frame(self) -> bool:
        buf = self.buf
        return len(buf) >= _HEADER and len(buf) >= _HEADER + int.from_bytes(buf[:_HEADER], "big")

    def recv(self) -> list:
        buf = self.buf
        while True:
            if len(buf) >= _HEADER:
                size = int.from_bytes(buf[:_HEADER], "big")
                if len(buf) >= _HEADER + size:
                    frame = bytes(buf[_HEADER:_HEADER + size])
                    del buf[:_HEADER + size]
                    return m.decode(pickle.loads(frame))
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the object store closed the connection (its raylet exited?)")
            buf += chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _map_spilled(path: str, offset: int, size: int) -> memoryview:
    """A read-only view of an object in its spill file, when the store had no room to restore it for
    this get: mapped from the file (the page cache), outside the store. The mapping lives as long as
    the values read from it; the file may be deleted meanwhile."""
    import mmap
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), offset - start + max(size, 1), access=mmap.ACCESS_READ, offset=start)
    return memoryview(mapped)[offset - start:offset - start + size]


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
        self._ro = None                          # the arena mapped read-only: every read views it
        self._map_lock = threading.Lock()
        self._leases: dict[bytes, _Lease] = {}   # oid -> lease not revoked
        self._lease_lock = threading.Lock()
        self._gone: collections.deque = collections.deque()     # leases whose views were collected
        self._inflight: collections.Counter = collections.Counter()   # oid -> gets waiting for the store
        self._early: set = set()                 # revokes that came before their get's reply
        self._req_ids = itertools.count(1)
        self._pool: list[_Conn] = []
        self._all: list[_Conn] = []
        self._pool_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: collections.deque = collections.deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self._anchor = self._new_conn()          # kept open while this process lives
        self._pool.append(self._anchor)
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

    def call(self, cls, *fields):
        """Send the request cls(req_id, *fields) and wait for its reply's value."""
        if self._closed:
            raise exceptions.StratoError("the object store client is closed (strato.shutdown() was called)")
        conn = self._acquire()
        req_id = next(self._req_ids)
        try:
            with self._send_lock:
                msgs = self._drain()
                msgs.append(cls(req_id, *fields))
                conn.send(msgs)
            while True:
                for msg in conn.recv():
                    if type(msg) is m.Reply and msg.req_id == req_id:
                        result = msg.value
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
        listener = None
        try:
            listener = self._new_conn()
            listener.send([m.StoreListen()])    # the store may grant leases now: it can revoke them
        except Exception:
            listener = None
        while not self._closed:
            fds = [self._wake_r] if listener is None else [self._wake_r, listener.sock]
            try:
                ready, _, _ = select.select(fds, [], [])
            except (OSError, ValueError):
                return
            if self._closed:
                return
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    return
            if listener is not None and listener.sock in ready:
                try:
                    msgs = listener.recv()
                    while listener.has_frame():
                        msgs += listener.recv()
                except (OSError, ConnectionError):
                    listener = None
                    msgs = []
                for msg in msgs:
                    if type(msg) is m.StoreRevoke:
                        self._revoked(msg.offset, msg.oid)
            with self._lease_lock:
                self._settle()
            self._send_pending(listener)

    def _send_pending(self, listener) -> None:
        """Send the queued one-way messages on the anchor connection -- the one a single-threaded
        process makes its requests on, so they reach the store in order with them. They get no
        reply, so a request waiting on that connection meanwhile is not disturbed."""
        with self._send_lock:
            msgs = self._drain()
            if not msgs:
                return
            for conn in (self._anchor, listener):
                if conn is None:
                    continue
                try:
                    conn.send(msgs)
                    return
                except (OSError, ConnectionError):
                    continue

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
                    self._arena = arena.map_arena(self._fd, self.capacity)
                    self._populated = bytearray(self.capacity // arena.POPULATE_CHUNK + 1)
                    self._view = memoryview(self._arena)
        return self._view

    def create(self, oid: bytes, size: int, *, owner: str = "", call_site: str = "", primary: bool = True) -> int:
        return self.call(m.StoreCreate, oid, size, owner, call_site, primary)

    def put_layout(self, oid: bytes, layout: lay.Layout, *, owner: str = "", call_site: str = "",
                   replace: bool = False) -> bool:
        """Write and seal; False when an object of that id is already there. `replace` (a task's
        return): an earlier attempt's value of that id, which nobody was told of, is dropped first
        -- it may nest refs of a worker that died."""
        try:
            offset = self.create(oid, layout.size, owner=owner, call_site=call_site)
        except FileExistsError:
            if not replace:
                return False
            try:
                self.call(m.StoreDropStale, oid)
                offset = self.create(oid, layout.size, owner=owner, call_site=call_site)
            except FileExistsError:
                return False
        try:
            view = self._writable()
            arena.prefault(self._arena, offset, layout.size, self._populated)
            lay.write_layout(layout, view[offset:offset + layout.size])
        except BaseException:
            self._post(m.StoreAbort(oid))
            raise
        self._post(m.StoreSealed(oid))
        return True

    def put(self, oid: bytes, value, *, owner: str = "", call_site: str = "") -> lay.Layout:
        layout = lay.serialize_large(value)
        self.put_layout(oid, layout, owner=owner, call_site=call_site)
        return layout

    def seal(self, oid: bytes) -> None:
        self.call(m.StoreSeal, oid)

    def abort(self, oid: bytes) -> None:
        self._post(m.StoreAbort(oid))

    # ------------------------------------------------------------ reading
    def _readable(self):
        if self._ro is None:
            with self._map_lock:
                if self._ro is None:
                    self._ro = arena.map_arena_read_only(self._fd, self.capacity)
        return self._ro

    def read(self, oid: bytes, source: str = "") -> memoryview:
        """A read-only view of the object's bytes (pulled from `source`, a raylet address, if not here)."""
        ro = self._readable()
        with self._lease_lock:
            self._settle()
            lease = self._leases.get(oid)
            if lease is not None:
                lease.live += 1
            else:
                self._inflight[oid] += 1
        if lease is None:
            lease = self._lease(oid, source)
            if lease.__class__ is memoryview:           # on disk, the store being full: mapped from there
                return lease
        try:
            import numpy as np      # here, not at import: numpy costs every process ~0.1 s at start
            exporter = np.frombuffer(ro, dtype=np.uint8, count=max(lease.size, 1), offset=lease.offset)
            weakref.finalize(exporter, self._view_gone, lease)
        except BaseException:
            self._view_gone(lease)
            raise
        return memoryview(exporter)[:lease.size]

    def _lease(self, oid: bytes, source: str) -> _Lease:
        """Ask the store for the object; the lease comes back with one view counted."""
        try:
            reply = self.call(m.StoreGet, oid, source)
            if reply[0].__class__ is str:               # ("file", path, offset, size): see _map_spilled
                try:
                    view = _map_spilled(*reply[1:])
                except FileNotFoundError:               # restored (and its file gone) meanwhile: ask again
                    reply = self.call(m.StoreGet, oid, source)
                    view = _map_spilled(*reply[1:]) if reply[0].__class__ is str else None
                if view is not None:
                    with self._lease_lock:
                        self._done_waiting(oid)
                    return view
            offset, size, leased = reply
        except BaseException:
            with self._lease_lock:
                self._done_waiting(oid)
            raise
        lease = _Lease(oid, offset, size, revoked=not leased)
        lease.live = 1
        with self._lease_lock:
            if (offset, oid) in self._early:            # revoked before the reply reached us
                lease.revoked = True                    # (the mark stays for other gets in flight:
                                                        # one revoke covers all of them)
            self._done_waiting(oid)
            if not lease.revoked:
                if oid in self._leases:                 # another thread's get was quicker: keep that one
                    lease.revoked = True
                else:
                    self._leases[oid] = lease
        return lease

    def _done_waiting(self, oid: bytes) -> None:
        self._inflight[oid] -= 1
        if self._inflight[oid] <= 0:
            del self._inflight[oid]
            if self._early:
                self._early = {e for e in self._early if e[1] != oid}

    def _view_gone(self, lease: _Lease) -> None:
        """Finalizer of a view: no locks; counted at the next _settle."""
        self._gone.append(lease)
        if lease.revoked:
            self.flush()

    def _settle(self) -> None:
        """Count the views collected since last time; give back revoked leases nothing views. Holds _lease_lock."""
        gone = self._gone
        while gone:
            try:
                lease = gone.popleft()
            except IndexError:
                break
            lease.live -= 1
            if lease.revoked:
                self._give_back_lease(lease)

    def _give_back_lease(self, lease: _Lease) -> None:
        if lease.live <= 0 and not lease.released:
            lease.released = True
            self._post(m.StoreRelease(lease.offset))

    def _revoked(self, offset: int, oid: bytes) -> None:
        """The store wants the region back (its object was freed, or memory is short)."""
        with self._lease_lock:
            lease = self._leases.get(oid)
            if lease is not None and lease.offset == offset:
                del self._leases[oid]
                lease.revoked = True        # before _settle: a finalizer running after it sees the flag
                self._settle()
                self._give_back_lease(lease)
            elif oid in self._inflight:
                self._early.add((offset, oid))

    def get(self, oid: bytes, source: str = "", worker=None):
        return lay.loads_layout(self.read(oid, source), worker)

    # ------------------------------------------------------------ freeing, stats
    def free(self, items) -> None:
        """items: [(oid, raylet address of the primary copy or "")]; one-way.

        Leases on them are given back first when nothing views them, so the store can reuse the
        memory at once (no lock is waited for: this may run in a finalizer)."""
        items = list(items)
        if self._leases and self._lease_lock.acquire(blocking=False):
            try:
                for oid, _ in items:
                    lease = self._leases.pop(oid, None)
                    if lease is not None:
                        lease.revoked = True
                        self._settle()
                        self._give_back_lease(lease)
            finally:
                self._lease_lock.release()
        self._post(m.StoreFree(items))

    def stats(self) -> dict:
        return self.call(m.StoreStats)

    def flush(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
