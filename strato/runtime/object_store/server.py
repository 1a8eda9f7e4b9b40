"""The store's IO shell, run inside the raylet's event loop.

    core workers on this node                     this raylet
    ------------------------------                -----------------------------------------
    StoreClient --unix socket, framed--> StoreServer --> StoreAccounting (pure: which region,
      create / seal / get / release / free             what to evict, what to spill)
      (writes and reads the arena directly)      --> spill thread: arena <-> files on disk
                                                 --> other raylets: pull (gRPC stream,
                                                     5 MiB chunks), free their copies

Clients write and read the arena file themselves; the server only decides
which region an object gets and when a region may be reused. Every read
counts its client as a reader of the region until the client releases it.
A client with a listening connection keeps its reads as leases (it may read
the object again without asking); the server revokes them when the object
is freed or memory gets short (above the spill threshold, or requests
waiting), and the client releases each once no value of its views it. A client that
disconnects (its process exited) loses its readers and its unsealed
objects, and -- if it owned objects here -- those objects: their owner is
gone. Owners elsewhere are checked every few seconds. Requests that need
memory wait (up to `full_timeout_s`) while batches of primaries are spilled
or readers let go; only when neither memory nor disk can take the object
does the request fail with ObjectStoreFullError.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import os
import shutil
import time

from strato import exceptions
from strato.runtime import transport
from strato.runtime.object_store import shm
from strato.runtime.protocol import messages as m
from strato.runtime.object_store.accounting import (
    READABLE, DeleteSpillFile, ObjectExists, ObjectState, ObjectTooLarge, SpillBatch,
    StoreAccounting)

logger = logging.getLogger("strato.object_store")
CHUNK = 5 << 20
S = ObjectState


def default_capacity() -> int:
    import psutil
    return int(psutil.virtual_memory().total * 0.3)


class _Client:
    __slots__ = ("client_id", "conns", "readers", "writing", "listener")

    def __init__(self, client_id: str):
        self.client_id = client_id
        self.conns: set = set()
        self.readers: collections.Counter = collections.Counter()   # region offset -> count
        self.writing: set[bytes] = set()
        self.listener = None        # the connection that takes this client's revokes (no leases without one)


class _Waiter:
    __slots__ = ("kind", "oid", "size", "fut", "deadline", "kw")

    def __init__(self, kind, oid, size, fut, deadline, kw):
        self.kind, self.oid, self.size, self.fut, self.deadline, self.kw = kind, oid, size, fut, deadline, kw


class StoreServer:
    def __init__(self, *, node_id: bytes, capacity: int, session_dir: str, token: str, raylet_address: str = "",
                 full_timeout_s: float = 30.0, spill_threshold: float = 0.8, shm_dir: str | None = None,
                 spill_dir: str | None = None, open_pull_stream=None, send_free=None):
        self.node_id = node_id
        self.token = token
        self.raylet_address = raylet_address
        self.full_timeout_s = full_timeout_s
        self.acct = StoreAccounting(capacity, spill_threshold=spill_threshold,
                                    min_spill_batch=min(64 << 20, max(capacity // 10, 1 << 20)))
        self.capacity = self.acct.capacity
        self.session_dir = session_dir
        self.shm_dir = shm_dir
        self.spill_dir = spill_dir or os.path.join(session_dir, "spill", node_id.hex()[:12])
        self.socket_path = os.path.join(session_dir, "sockets", f"store-{os.getpid()}-{node_id.hex()[:8]}.sock")
        self.arena_path = ""
        self._fd = -1
        self._arena = None
        self._view = None
        self._server = None
        self._clients: dict[str, _Client] = {}
        self._ready: dict[bytes, asyncio.Future] = {}       # oid -> readable again (sealed / restored / pulled)
        self._waiting: collections.deque[_Waiter] = collections.deque()
        self._pulls: dict[bytes, asyncio.Task] = {}
        self._copies: dict[bytes, set[str]] = {}            # primaries here: raylets that pulled a copy
        self._leases: dict[int, dict[_Client, bytes]] = {}  # region offset -> clients leasing it -> oid
        self._free_on_seal: set[bytes] = set()              # freed while still being written
        self._open_pull_stream = open_pull_stream
        self._send_free = send_free
        self._io = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="strato-spill")
        self._spill_seq = itertools.count()
        self._disk_error = ""
        self._tasks: list[asyncio.Task] = []
        self._remote_owner_failures: collections.Counter = collections.Counter()
        self.closed = False
        self._handlers = self._dispatch_table()

    # ------------------------------------------------------------ life
    async def start(self) -> None:
        shm.remove_stale()
        directory = self.shm_dir or shm.choose_dir(self.capacity)
        self.arena_path, self._fd = shm.create_arena(directory, shm.arena_name(self.node_id), self.capacity)
        self._arena = shm.map_arena(self._fd, self.capacity)
        self._view = memoryview(self._arena)
        os.makedirs(os.path.dirname(self.socket_path), mode=0o700, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await transport.serve_unix(self.socket_path, self.token, {"node_id": self.node_id},
                                                  self._on_message, self._on_close)
        os.chmod(self.socket_path, 0o600)
        self._tasks.append(loop.create_task(self._tick_forever()))
        logger.info("object store: %.2f GiB at %s, socket %s", self.capacity / 2**30, self.arena_path,
                    self.socket_path)

    def info(self) -> dict:
        return {"socket": self.socket_path, "arena": self.arena_path, "capacity": self.capacity,
                "node_id": self.node_id}

    async def stop(self) -> None:
        if self.closed:
            return
        for t in self._tasks + list(self._pulls.values()):
            t.cancel()
        if self._server is not None:
            self._server.close()
        for client in list(self._clients.values()):
            for conn in list(client.conns):
                conn.close()
        self.cleanup()

    def cleanup(self) -> None:
        """Remove every file of this store; safe to call more than once, from any exit path."""
        if self.closed:
            return
        self.closed = True
        self._io.shutdown(wait=False, cancel_futures=True)
        for path in (self.arena_path, self.socket_path):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        shutil.rmtree(self.spill_dir, ignore_errors=True)
        try:
            if self._view is not None:
                self._view.release()
            if self._arena is not None:
                self._arena.close()
        except (BufferError, ValueError):
            pass  # a spill thread still holds a view; the mapping goes with the process
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                self._expire_waiters()
                self._revoke_detached()
                self._spill_if_needed()
                if int(time.monotonic()) % 5 == 0:
                    await self._check_remote_owners()
            except Exception:
                logger.exception("object store housekeeping failed")

    # ------------------------------------------------------------ messages
    def _on_message(self, conn: transport.Connection, msg) -> None:
        handler = self._handlers.get(type(msg))
        if handler is None:
            logger.error("object store: %s is not a store message; ignored", type(msg).__name__)
            return
        try:
            handler(conn, self._client_of(conn), msg)
        except Exception as exc:
            logger.exception("object store: %s failed", type(msg).__name__)
            if type(msg) in (m.StoreSeal, m.StoreStats, m.StoreInfo):
                conn.reply(msg.req_id, ("err", "internal", f"{type(exc).__name__}: {exc}"))

    def _dispatch_table(self) -> dict:
        """Store message class -> handler(conn, client, msg) (protocol/messages.py)."""
        return {
            m.StoreRelease: lambda conn, client, msg: self._release(client, msg.offset),
            m.StoreFree: lambda conn, client, msg: self.free(msg.items),
            m.StoreAbort: lambda conn, client, msg: self._abort(client, msg.oid),
            m.StoreCreate: self._on_create,
            m.StoreSeal: self._on_seal,
            m.StoreSealed: lambda conn, client, msg: self._seal(client, msg.oid),     # one-way seal
            m.StoreGet: self._on_get,
            m.StoreListen: self._on_listen,
            m.StoreDropStale: self._on_drop_stale,
            m.StoreStats: lambda conn, client, msg: conn.reply(msg.req_id, ("ok", self.stats())),
            m.StoreInfo: lambda conn, client, msg: conn.reply(msg.req_id, ("ok", self.info())),
            m.PeerHello: lambda conn, client, msg: None,
        }

    def _on_create(self, conn, client: _Client, msg: m.StoreCreate) -> None:
        args = (client, msg.oid, msg.size, msg.owner, msg.call_site, msg.primary)
        if not self._reply_now(conn, msg.req_id, self._create_now, *args):
            asyncio.get_running_loop().create_task(self._reply(conn, msg.req_id, self._create(*args)))

    def _on_seal(self, conn, client: _Client, msg: m.StoreSeal) -> None:
        self._seal(client, msg.oid)
        conn.reply(msg.req_id, ("ok", None))

    def _on_get(self, conn, client: _Client, msg: m.StoreGet) -> None:
        if not self._reply_now(conn, msg.req_id, self._get_now, client, msg.oid, msg.source):
            asyncio.get_running_loop().create_task(
                self._reply(conn, msg.req_id, self._get(client, msg.oid, msg.source)))

    def _on_listen(self, conn, client: _Client, msg: m.StoreListen) -> None:
        client.listener = conn

    def _on_drop_stale(self, conn, client: _Client, msg: m.StoreDropStale) -> None:
        """A retried task replaces an earlier attempt's return."""
        if self.acct.state(msg.oid) is S.ALLOCATED:
            conn.reply(msg.req_id, ("err", "exists", f"object {msg.oid.hex()} is still being written"))
        else:
            self.free([(msg.oid, "")])
            conn.reply(msg.req_id, ("ok", None))

    async def _reply(self, conn, req_id, coro) -> None:
        try:
            value = ("ok", await coro)
        except Exception as exc:
            value = self._error_reply(exc)
        conn.reply(req_id, value)

    def _reply_now(self, conn, req_id, fn, *args) -> bool:
        """Answer at once when `fn` can (it returns None when the request must wait); False otherwise."""
        try:
            result = fn(*args)
        except Exception as exc:
            conn.reply(req_id, self._error_reply(exc))
            return True
        if result is None:
            return False
        conn.reply(req_id, ("ok", result))
        return True

    @staticmethod
    def _error_reply(exc: Exception) -> tuple:
        if isinstance(exc, exceptions.ObjectStoreFullError):
            return ("err", "full", str(exc))
        if isinstance(exc, ObjectExists):
            return ("err", "exists", str(exc))
        if isinstance(exc, exceptions.ObjectLostError):
            return ("err", "lost", str(exc))
        logger.error("object store request failed", exc_info=exc)
        return ("err", "internal", f"{type(exc).__name__}: {exc}")

    def _client_of(self, conn) -> _Client:
        client_id = conn.peer_info.get("client_id", "")
        client = self._clients.get(client_id)
        if client is None:
            client = self._clients[client_id] = _Client(client_id)
        client.conns.add(conn)
        return client

    def _on_close(self, conn, exc) -> None:
        client_id = conn.peer_info.get("client_id", None)
        client = self._clients.get(client_id)
        if client is None:
            return
        client.conns.discard(conn)
        if client.listener is conn:
            client.listener = None
        if client.conns or self.closed:
            return
        del self._clients[client_id]
        for offset in list(client.readers):
            self._unregister_lease(client, offset)
        for offset, n in client.readers.items():
            for _ in range(n):
                self.acct.remove_reader(offset)
        for oid in list(client.writing):
            self._free_on_seal.discard(oid)
            if self.acct.state(oid) is S.ALLOCATED:
                self._apply(self.acct.abort(oid))
                self._lost(oid)
        owned = self.acct.objects_of_owner(client_id) if client_id else []
        if owned:
            logger.info("object store: owner %s went away; freeing its %d object(s)", client_id, len(owned))
            self.free([(oid, "") for oid in owned])
        self._retry_waiting()

    # ------------------------------------------------------------ create / seal
    def _create_now(self, client: _Client, oid: bytes, size: int, owner: str, call_site: str,
                    primary: bool = True) -> int | None:
        """The region's offset when memory is free right now; None when the request must wait."""
        if self.acct.state(oid) is not None:
            raise ObjectExists(oid.hex())
        region = self._try_reserve("create", oid, size, owner=owner, call_site=call_site, primary=primary)
        if region is None:
            return None
        client.writing.add(oid)
        return region.offset

    async def _create(self, client: _Client, oid: bytes, size: int, owner: str, call_site: str,
                      primary: bool = True) -> int:
        if self.acct.state(oid) is not None:
            raise ObjectExists(oid.hex())
        region = await self._reserve("create", oid, size, owner=owner, call_site=call_site, primary=primary)
        client.writing.add(oid)
        return region.offset

    async def _reserve(self, kind: str, oid: bytes, size: int, **kw):
        region = self._try_reserve(kind, oid, size, **kw)
        if region is not None:
            return region
        fut = asyncio.get_running_loop().create_future()
        waiter = _Waiter(kind, oid, size, fut, time.monotonic() + self.full_timeout_s, kw)
        self._waiting.append(waiter)
        self._spill_if_needed(size)
        self._fail_if_stuck()
        return await fut

    def _try_reserve(self, kind: str, oid: bytes, size: int, **kw):
        try:
            if kind == "create":
                return self.acct.create(oid, size, now=time.time(), **kw)
            return self.acct.restore_start(oid)
        except ObjectTooLarge:
            raise exceptions.ObjectStoreFullError(
                f"Object {oid.hex()} is {size / 2**20:.1f} MiB, larger than this node's whole object store "
                f"({self.capacity / 2**20:.1f} MiB). Start the cluster with a larger object_store_memory "
                f"(strato.init(object_store_memory=...) or `strato start --object-store-memory`), or split "
                f"the value into smaller objects.") from None

    def _seal(self, client: _Client, oid: bytes) -> None:
        client.writing.discard(oid)
        self.acct.seal(oid, time.time())
        self._wake(oid)
        if oid in self._free_on_seal:       # its owner let go of it while it was being written
            self._free_on_seal.discard(oid)
            self.free([(oid, "")])
        self._spill_if_needed()

    def _abort(self, client: _Client, oid: bytes) -> None:
        client.writing.discard(oid)
        self._free_on_seal.discard(oid)
        if self.acct.state(oid) is S.ALLOCATED:
            self._apply(self.acct.abort(oid))
            self._lost(oid)
            self._retry_waiting()

    def _lost(self, oid: bytes) -> None:
        fut = self._ready.pop(oid, None)
        if fut is not None and not fut.done():
            fut.set_exception(exceptions.ObjectLostError(
                f"object {oid.hex()} was freed, or its writer exited before finishing it"))
            fut.exception()

    def _wake(self, oid: bytes) -> None:
        fut = self._ready.pop(oid, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    # ------------------------------------------------------------ waiting for memory
    def _retry_waiting(self) -> None:
        if not self._waiting:
            return
        still = collections.deque()
        while self._waiting:
            w = self._waiting.popleft()
            if w.fut.done():
                continue
            try:
                if w.kind == "restore" and self.acct.state(w.oid) is not S.SPILLED:
                    w.fut.set_exception(exceptions.ObjectLostError(f"object {w.oid.hex()} was freed"))
                    continue
                region = self._try_reserve(w.kind, w.oid, w.size, **w.kw)
            except Exception as exc:
                w.fut.set_exception(exc)
                continue
            if region is None:
                still.append(w)
            else:
                w.fut.set_result(region)
        self._waiting = still
        if still:
            self._spill_if_needed(still[0].size)
            self._fail_if_stuck()

    def _fail_if_stuck(self) -> None:
        """Fail waiters at once when nothing can make room: memory and disk are both full."""
        if not self._waiting or not self._disk_error or self.acct.can_evict() or self.acct.spilling:
            return
        if any(r.readers for r in self.acct.regions.values()):
            return  # readers may still let go; the deadline decides
        self._fail_waiters(lambda w: True)

    def _expire_waiters(self) -> None:
        now = time.monotonic()
        self._fail_waiters(lambda w: w.deadline <= now)

    def _fail_waiters(self, pred) -> None:
        keep = collections.deque()
        for w in self._waiting:
            if w.fut.done():
                continue
            if pred(w):
                w.fut.set_exception(exceptions.ObjectStoreFullError(self._full_message(w.size)))
            else:
                keep.append(w)
        self._waiting = keep

    def _full_message(self, size: int) -> str:
        st = self.acct.stats(top=3)
        held = st["released_but_read_bytes"]
        read = sum(r.size for r in self.acct.regions.values() if r.readers)
        disk = (f"spilling to {self.spill_dir} failed ({self._disk_error})" if self._disk_error
                else f"nothing more could be spilled within {self.full_timeout_s:g} s")
        top = ", ".join(f"{o['size'] / 2**20:.0f} MiB from {o['call_site'] or '?'}" for o in st["largest"])
        return (f"The object store of node {self.node_id.hex()[:12]} is full: {size / 2**20:.1f} MiB requested, "
                f"{st['used'] / 2**20:.0f} of {self.capacity / 2**20:.0f} MiB in use ({read / 2**20:.0f} MiB "
                f"mapped by readers, {held / 2**20:.0f} MiB of it already freed), and {disk}. Delete refs you "
                f"no longer need (and values from strato.get that view them), free disk space, or raise "
                f"object_store_memory. Largest objects: {top or 'none'}.")

    # ------------------------------------------------------------ spilling
    def _spill_if_needed(self, need: int = 0) -> None:
        if self.closed:
            return
        if self._leases and (self._waiting or self.acct.alloc.used + need
                             > self.acct.capacity * self.acct.spill_threshold):
            self._revoke_leases(list(self._leases))     # leased objects could neither spill nor be evicted
        self._apply(self.acct.maybe_spill(need))

    def _apply(self, instructions) -> None:
        for ins in instructions:
            if isinstance(ins, SpillBatch):
                asyncio.get_running_loop().create_task(self._spill(ins))
            elif isinstance(ins, DeleteSpillFile):
                try:
                    os.unlink(ins.path)
                except OSError:
                    pass

    async def _spill(self, batch: SpillBatch) -> None:
        path = os.path.join(self.spill_dir, f"batch-{next(self._spill_seq)}.bin")
        loop = asyncio.get_running_loop()
        try:
            placed = await loop.run_in_executor(self._io, self._write_batch, path, batch.objects)
        except Exception as exc:
            self._disk_error = f"{type(exc).__name__}: {exc}"
            logger.error("object store: spilling %d object(s) failed: %s", len(batch.objects), exc)
            try:
                os.unlink(path)
            except OSError:
                pass
            self.acct.spill_failed([o[0] for o in batch.objects])
            self._fail_if_stuck()
            return
        self._disk_error = ""
        self._apply(self.acct.spill_done(path, placed))
        self._revoke_detached()         # read while being spilled: those regions wait for their readers
        self._retry_waiting()
        self._spill_if_needed()

    def _write_batch(self, path: str, objects) -> dict:
        os.makedirs(self.spill_dir, mode=0o700, exist_ok=True)
        placed = {}
        with open(path, "wb") as f:
            pos = 0
            for oid, offset, size in objects:
                f.write(self._view[offset:offset + size])
                placed[oid] = pos
                pos += size
            f.flush()
        return placed

    async def _restore(self, oid: bytes) -> None:
        fut = self._ready.get(oid)
        if fut is not None:
            await asyncio.shield(fut)
            return
        fut = self._ready[oid] = asyncio.get_running_loop().create_future()
        try:
            region = await self._reserve("restore", oid, self.acct.objects[oid].size)
            entry = self.acct.objects.get(oid)
            if entry is None:
                raise exceptions.ObjectLostError(f"object {oid.hex()} was freed while being restored")
            await asyncio.get_running_loop().run_in_executor(
                self._io, self._read_back, entry.spill_path, entry.spill_offset, region.offset, entry.size)
        except BaseException as exc:
            if self.acct.state(oid) is S.RESTORING:
                self.acct.restore_failed(oid)
            self._ready.pop(oid, None)
            if not fut.done():
                fut.set_exception(exc if isinstance(exc, Exception) else exceptions.ObjectLostError(str(exc)))
                fut.exception()
            raise
        self._apply(self.acct.restore_done(oid))
        self._wake(oid)
        self._spill_if_needed()

    def _read_back(self, path: str, file_offset: int, offset: int, size: int) -> None:
        with open(path, "rb") as f:
            f.seek(file_offset)
            view = self._view[offset:offset + size]
            got = 0
            while got < size:
                n = f.readinto(view[got:])
                if not n:
                    raise exceptions.ObjectLostError(f"spill file {path} is truncated")
                got += n

    # ------------------------------------------------------------ reads
    async def _ensure_readable(self, oid: bytes, source: str = "") -> None:
        while True:
            state = self.acct.state(oid)
            if state in READABLE:
                return
            if state in (S.ALLOCATED, S.RESTORING):
                fut = self._ready.get(oid)
                if fut is None:
                    fut = self._ready[oid] = asyncio.get_running_loop().create_future()
                await asyncio.shield(fut)
            elif state is S.SPILLED:
                await self._restore(oid)
            elif source and source != self.raylet_address and self._open_pull_stream is not None:
                await self._pull(oid, source)
            else:
                raise exceptions.ObjectLostError(
                    f"Object {oid.hex()} is not in the object store of node {self.node_id.hex()[:12]}: it was "
                    f"freed (no reference to it remained at its owner) or its owner exited.")

    def _get_now(self, client: _Client, oid: bytes, source: str = "") -> tuple[int, int, bool] | None:
        if self.acct.state(oid) not in READABLE:
            return None
        return self._add_reader(client, oid)

    async def _get(self, client: _Client, oid: bytes, source: str = "") -> tuple[int, int, bool]:
        await self._ensure_readable(oid, source)
        return self._add_reader(client, oid)

    def _add_reader(self, client: _Client, oid: bytes) -> tuple[int, int, bool]:
        """(offset, size, leased). A leased read may be kept by the client after its values are gone,
        to read the object again without asking; the client gives it back when revoked (`_revoke`)."""
        region = self.acct.add_reader(oid)
        client.readers[region.offset] += 1
        leased = client.listener is not None
        if leased:
            self._leases.setdefault(region.offset, {})[client] = oid
        return region.offset, self.acct.objects[oid].size, leased

    def _release(self, client: _Client, offset: int) -> None:
        if client.readers.get(offset, 0) <= 0:
            logger.warning("object store: release of a region this client does not read (%d)", offset)
            return
        client.readers[offset] -= 1
        if not client.readers[offset]:
            del client.readers[offset]
            self._unregister_lease(client, offset)
        self.acct.remove_reader(offset)
        self._retry_waiting()
        self._spill_if_needed()

    def _unregister_lease(self, client: _Client, offset: int) -> None:
        holders = self._leases.get(offset)
        if holders is not None:
            holders.pop(client, None)
            if not holders:
                del self._leases[offset]

    def _revoke_detached(self) -> None:
        """Revoke leases on regions whose object left them (spilled, freed): only readers hold those."""
        regions = self.acct.regions
        stale = [o for o in self._leases if (r := regions.get(o)) is None or r.oid is None]
        if stale:
            self._revoke_leases(stale)

    def _revoke_leases(self, offsets) -> None:
        """Ask the clients leasing these regions to release them once no value of theirs views them."""
        for offset in offsets:
            for client, oid in self._leases.pop(offset, {}).items():
                if client.listener is not None and not client.listener.closed:
                    client.listener.send(m.StoreRevoke(offset, oid))

    # ------------------------------------------------------------ free
    def free(self, items) -> None:
        """items: (oid, raylet address of its primary copy, or "" when here)."""
        forward: dict[str, list[bytes]] = collections.defaultdict(list)
        for oid, primary_at in items:
            if primary_at and primary_at != self.raylet_address:
                forward[primary_at].append(oid)
            for address in self._copies.pop(oid, ()):
                if address != self.raylet_address:
                    forward[address].append(oid)
            if self.acct.state(oid) is S.ALLOCATED:
                self._free_on_seal.add(oid)     # still being written: freed when its writer seals it
                continue
            entry = self.acct.objects.get(oid)
            if entry is not None and entry.region is not None and entry.region.offset in self._leases:
                self._revoke_leases([entry.region.offset])
            self._apply(self.acct.free(oid))
            self._lost(oid)
        if forward and self._send_free is not None:
            for address, oids in forward.items():
                asyncio.get_running_loop().create_task(self._send_free(address, oids))
        self._retry_waiting()

    # ------------------------------------------------------------ owners elsewhere
    async def _check_remote_owners(self) -> None:
        owners = {e.owner for e in self.acct.objects.values() if e.primary and e.owner} - set(self._clients)
        for owner in owners:
            host, _, port = owner.rpartition(":")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2)
                writer.close()
                self._remote_owner_failures.pop(owner, None)
            except (OSError, asyncio.TimeoutError, ValueError):
                self._remote_owner_failures[owner] += 1
                if self._remote_owner_failures[owner] >= 2:
                    del self._remote_owner_failures[owner]
                    owned = self.acct.objects_of_owner(owner)
                    logger.info("object store: owner %s is unreachable; freeing its %d object(s)", owner,
                                len(owned))
                    self.free([(oid, "") for oid in owned])

    # ------------------------------------------------------------ transfers between nodes
    async def _pull(self, oid: bytes, source: str) -> None:
        task = self._pulls.get(oid)
        if task is None:
            task = self._pulls[oid] = asyncio.get_running_loop().create_task(self._do_pull(oid, source))
            task.add_done_callback(lambda _t: self._pulls.pop(oid, None))
        await asyncio.shield(task)

    async def _do_pull(self, oid: bytes, source: str) -> None:
        created = False
        try:
            async for total, owner, call_site, pos, data in self._open_pull_stream(source, oid):
                if not created:
                    if self.acct.state(oid) is not None:
                        return  # arrived meanwhile (a put on this node of the same id cannot happen)
                    region = await self._reserve("create", oid, total, owner=owner, call_site=call_site,
                                                 primary=False)
                    created = True
                    base = region.offset
                self._view[base + pos:base + pos + len(data)] = data
            if not created:
                raise exceptions.ObjectLostError(f"node at {source} sent nothing for object {oid.hex()}")
            self.acct.seal(oid, time.time())
            self._wake(oid)
            if oid in self._free_on_seal:
                self._free_on_seal.discard(oid)
                self.free([(oid, "")])
        except BaseException:
            self._free_on_seal.discard(oid)
            if created and self.acct.state(oid) is S.ALLOCATED:
                self._apply(self.acct.abort(oid))
                self._lost(oid)
                self._retry_waiting()
            raise

    async def serve_pull(self, oid: bytes, requester: str):
        """Chunks of a local object for another raylet: (total, owner, call_site, offset, bytes)."""
        await self._ensure_readable(oid)
        region = self.acct.add_reader(oid)
        entry = self.acct.objects[oid]
        if entry.primary and requester:
            self._copies.setdefault(oid, set()).add(requester)
        try:
            size = entry.size
            for pos in range(0, max(size, 1), CHUNK):
                yield size, entry.owner, entry.call_site, pos, bytes(
                    self._view[region.offset + pos:region.offset + min(size, pos + CHUNK)])
        finally:
            self.acct.remove_reader(region.offset)
            self._retry_waiting()

    # ------------------------------------------------------------ stats
    def stats(self) -> dict:
        st = self.acct.stats()
        st.update(node_id=self.node_id.hex(), arena=self.arena_path, spill_dir=self.spill_dir,
                  waiting_requests=len(self._waiting), clients=len(self._clients))
        return st
