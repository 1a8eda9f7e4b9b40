"""The store's IO shell, run inside the raylet's event loop.

    core workers on this node                     this raylet
    ------------------------------                -----------------------------------------
    StoreClient --unix socket, framed--> StoreServer --> MemoryPolicy (pure: which read leases
      create / seal / get / release / free             to revoke, which waiting request gets memory)
      (writes and reads the arena directly)      --> StoreAccounting (pure: which region, what to
                                                     evict, what to spill)
                                                 --> spill threads (files.py): arena <-> disk
                                                 --> other raylets: pull copies and serve them
                                                     (transfer.py), free their copies

Clients write and read the arena file themselves; the server only decides
which region an object gets and when a region may be reused. Every read
counts its client as a reader of the region until the client releases it.
A client with a listening connection keeps its reads as leases (it may read
the object again without asking), and releases a revoked one once no value
of its views it. A client that disconnects (its process exited) loses its
readers and its unsealed objects, and -- if it owned objects here -- those
objects: their owner is gone. Owners elsewhere are checked every few
seconds. Requests that need memory wait (up to `full_timeout_s`) while
batches of primaries are spilled or readers let go; only when neither
memory nor disk can take the object does the request fail with
ObjectStoreFullError.

When a lease is revoked and which waiting request gets memory are decided
by MemoryPolicy (memory_policy.py, pure); this class reports events to it
and carries out its instructions (`_apply`).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import concurrent.futures
import itertools
import logging
import os
import shutil
import time

from strato import exceptions
from strato.runtime import transport
from strato.runtime.object_store import arena
from strato.runtime.object_store.server import files, transfer
from strato.runtime.object_store.server.accounting import (
    READABLE, DeleteSpillFile, ObjectExists, ObjectState, SpillBatch, StoreAccounting)
from strato.runtime.object_store.server.memory_policy import Admit, Fail, MemoryPolicy, NotAReader, Revoke
from strato.runtime.protocol import messages as m

logger = logging.getLogger("strato.object_store")
S = ObjectState


def default_capacity() -> int:
    import psutil
    return int(psutil.virtual_memory().total * 0.3)


class _Client:
    """One client process (its reads and leases are counted by MemoryPolicy, keyed by this object)."""
    __slots__ = ("client_id", "conns", "writing", "listener")

    def __init__(self, client_id: str):
        self.client_id = client_id
        self.conns: set = set()
        self.writing: set[bytes] = set()
        self.listener = None        # the connection that takes this client's revokes (no leases without one)


class StoreServer:
    def __init__(self, *, node_id: bytes, capacity: int, session_dir: str, token: str, raylet_address: str = "",
                 full_timeout_s: float = 30.0, spill_threshold: float = 0.8, shm_dir: str | None = None,
                 spill_dir: str | None = None, open_pull_stream=None, send_free=None, open_direct=None):
        self.node_id = node_id
        self.token = token
        self.raylet_address = raylet_address
        self.full_timeout_s = full_timeout_s
        self.fallback_after_s = min(1.0, full_timeout_s)   # a get of a spilled object reads its file after this
        self.acct = StoreAccounting(capacity, spill_threshold=spill_threshold,
                                    min_spill_batch=min(64 << 20, max(capacity // 10, 1 << 20)))
        self.capacity = self.acct.capacity
        self.session_dir = session_dir
        self.shm_dir = shm_dir
        self.spill_dir = spill_dir or os.path.join(session_dir, "spill", node_id.hex()[:12])
        self.policy = MemoryPolicy(self.acct, full_timeout_s=full_timeout_s, node=node_id.hex()[:12],
                                   spill_dir=self.spill_dir)
        self.socket_path = os.path.join(session_dir, "sockets", f"store-{os.getpid()}-{node_id.hex()[:8]}.sock")
        self.arena_path = ""
        self._fd = -1
        self._arena = None
        self._view = None
        self._server = None
        self._clients: dict[str, _Client] = {}
        self._ready: dict[bytes, asyncio.Future] = {}       # oid -> readable again (sealed / restored / pulled)
        self._pulls: dict[bytes, asyncio.Task] = {}
        self._copies: dict[bytes, set[str]] = {}            # primaries here: raylets that pulled a copy
        self._free_on_seal: set[bytes] = set()              # freed while still being written
        self._open_pull_stream = open_pull_stream
        self._populated = bytearray()         # 2 MiB chunks of the arena already prefaulted (arena.prefault)
        self._open_direct = open_direct       # source raylet -> (host, data port) of its TransferServer, or None
        self._send_free = send_free
        self._io = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="strato-spill")
        self._spill_seq = itertools.count()
        self._tasks: list[asyncio.Task] = []
        self._remote_owner_failures: collections.Counter = collections.Counter()
        self.closed = False
        self._handlers = self._dispatch_table()

    # ------------------------------------------------------------ life
    async def start(self) -> None:
        files.remove_stale()
        directory = self.shm_dir or files.choose_dir(self.capacity)
        self.arena_path, self._fd = files.create_arena(directory, files.arena_name(self.node_id), self.capacity)
        self._arena = arena.map_arena(self._fd, self.capacity)
        self._view = memoryview(self._arena)
        self._populated = bytearray(self.capacity // arena.POPULATE_CHUNK + 1)
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
        self.policy.stop()
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
                self._apply(self.policy.expire(time.monotonic()))
                self._apply(self.policy.revoke_detached())
                self._apply(self.policy.relieve())
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
            m.StoreRelease: self._on_release,
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

    def _on_release(self, conn, client: _Client, msg: m.StoreRelease) -> None:
        try:
            instructions = self.policy.release(client, msg.offset)
        except NotAReader as exc:
            logger.warning("object store: %s", exc)
            return
        self._apply(instructions)

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
        self.policy.client_gone(client)
        for oid in list(client.writing):
            self._free_on_seal.discard(oid)
            if self.acct.state(oid) is S.ALLOCATED:
                self._apply(self.acct.abort(oid))
                self._lost(oid)
        owned = self.acct.objects_of_owner(client_id) if client_id else []
        if owned:
            logger.info("object store: owner %s went away; freeing its %d object(s)", client_id, len(owned))
            self.free([(oid, "") for oid in owned])
        self._apply(self.policy.retry())

    # ------------------------------------------------------------ create / seal
    def _create_now(self, client: _Client, oid: bytes, size: int, owner: str, call_site: str,
                    primary: bool = True) -> int | None:
        """The region's offset when memory is free right now; None when the request must wait."""
        if self.acct.state(oid) is not None:
            raise ObjectExists(oid.hex())
        region = self.policy.reserve("create", oid, size, owner=owner, call_site=call_site, primary=primary,
                                     now=time.time())
        if region is None:
            return None
        client.writing.add(oid)
        return region.offset

    async def _create(self, client: _Client, oid: bytes, size: int, owner: str, call_site: str,
                      primary: bool = True) -> int:
        if self.acct.state(oid) is not None:
            raise ObjectExists(oid.hex())
        region = await self._reserve("create", oid, size, owner=owner, call_site=call_site, primary=primary,
                                     now=time.time())
        client.writing.add(oid)
        return region.offset

    async def _reserve(self, kind: str, oid: bytes, size: int, **kw):
        """A region for a create or a restore, waiting for memory when there is none now (MemoryPolicy)."""
        region = self.policy.reserve(kind, oid, size, **kw)
        if region is not None:
            return region
        fut = asyncio.get_running_loop().create_future()
        waiter, instructions = self.policy.wait(kind, oid, size, kw, now=time.monotonic(), token=fut)
        self._apply(instructions)
        try:
            return await fut
        except asyncio.CancelledError:
            self.policy.cancel(waiter)
            raise

    def _seal(self, client: _Client, oid: bytes) -> None:
        client.writing.discard(oid)
        self.acct.seal(oid, time.time())
        self._wake(oid)
        if oid in self._free_on_seal:       # its owner let go of it while it was being written
            self._free_on_seal.discard(oid)
            self.free([(oid, "")])
        self._relieve()

    def _abort(self, client: _Client, oid: bytes) -> None:
        client.writing.discard(oid)
        self._free_on_seal.discard(oid)
        if self.acct.state(oid) is S.ALLOCATED:
            self._apply(self.acct.abort(oid))
            self._lost(oid)
            self._apply(self.policy.retry())

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

    # ------------------------------------------------------------ spilling
    def _relieve(self) -> None:
        """Revoke leases and spill when memory is short (MemoryPolicy.relieve)."""
        if not self.closed:
            self._apply(self.policy.relieve())

    def _apply(self, instructions) -> None:
        """Carry out the accounting's and the memory policy's instructions, in order."""
        for ins in instructions:
            kind = type(ins)
            if kind is Revoke:
                listener = ins.client.listener
                if listener is not None and not listener.closed:
                    listener.send(m.StoreRevoke(ins.offset, ins.oid))
            elif kind is Admit:
                if not ins.waiter.token.done():
                    ins.waiter.token.set_result(ins.region)
            elif kind is Fail:
                if not ins.waiter.token.done():
                    ins.waiter.token.set_exception(ins.error)
            elif kind is SpillBatch:
                asyncio.get_running_loop().create_task(self._spill(ins))
            elif kind is DeleteSpillFile:
                try:
                    os.unlink(ins.path)
                except OSError:
                    pass

    async def _spill(self, batch: SpillBatch) -> None:
        path = os.path.join(self.spill_dir, f"batch-{next(self._spill_seq)}.bin")
        loop = asyncio.get_running_loop()
        try:
            placed = await loop.run_in_executor(self._io, files.write_spill_batch, self._view, self.spill_dir, path,
                                                batch.objects)
        except Exception as exc:
            logger.error("object store: spilling %d object(s) failed: %s", len(batch.objects), exc)
            try:
                os.unlink(path)
            except OSError:
                pass
            self._apply(self.policy.spill_failed([o[0] for o in batch.objects], f"{type(exc).__name__}: {exc}"))
            return
        self._apply(self.policy.spill_done(path, placed))

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
                self._io, files.read_back, self._view, entry.spill_path, entry.spill_offset, region.offset,
                entry.size)
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
        self._relieve()

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

    async def _get(self, client: _Client, oid: bytes, source: str = ""):
        if self.acct.state(oid) in (S.SPILLED, S.RESTORING):
            on_disk = await self._restore_or_locate(oid)
            if on_disk is not None:
                return on_disk
        await self._ensure_readable(oid, source)
        return self._add_reader(client, oid)

    async def _restore_or_locate(self, oid: bytes):
        """A spilled object is restored to be read. When no memory comes free for it within
        fallback_after_s (readers map the whole store, say), the reader is told where it lies on disk and
        maps that file region itself -- memory outside the store, like Ray's fallback allocations -- while
        the restore goes on. -> ("file", path, offset, size), or None once it is restored."""
        restore = asyncio.ensure_future(self._restore(oid))
        done, _ = await asyncio.wait({restore}, timeout=self.fallback_after_s)
        if done:
            restore.result()                   # restored (or its error)
            return None
        restore.add_done_callback(lambda t: t.cancelled() or t.exception())    # finishes on its own
        entry = self.acct.objects.get(oid)
        if entry is None or not entry.spill_path:
            await restore
            return None
        return ("file", entry.spill_path, entry.spill_offset, entry.size)

    def _add_reader(self, client: _Client, oid: bytes) -> tuple[int, int, bool]:
        """(offset, size, leased). A leased read may be kept by the client after its values are gone,
        to read the object again without asking; the client gives it back when revoked."""
        region, leased = self.policy.read(client, oid, listening=client.listener is not None)
        return region.offset, self.acct.objects[oid].size, leased

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
            self._apply(self.policy.freeing(oid))
            self._apply(self.acct.free(oid))
            self._lost(oid)
        if forward and self._send_free is not None:
            for address, oids in forward.items():
                asyncio.get_running_loop().create_task(self._send_free(address, oids))
        self._apply(self.policy.retry())

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
            task = self._pulls[oid] = asyncio.get_running_loop().create_task(transfer.pull_object(self, oid, source))
            task.add_done_callback(lambda _t: self._pulls.pop(oid, None))
        await asyncio.shield(task)

    @contextlib.asynccontextmanager
    async def reading(self, oid: bytes, requester: str = ""):
        """Pin a local object while another raylet reads it: yields (entry, region). A primary's copy at
        `requester` is noted, to be freed there with it. Raises ObjectLostError when it is not here."""
        await self._ensure_readable(oid)
        region = self.acct.add_reader(oid)
        entry = self.acct.objects[oid]
        if entry.primary and requester:
            self._copies.setdefault(oid, set()).add(requester)
        try:
            yield entry, region
        finally:
            self.acct.remove_reader(region.offset)
            self._apply(self.policy.retry())

    async def reserve_copy(self, oid: bytes, size: int, owner: str, call_site: str) -> int | None:
        """A region for a copy being pulled here (prefaulted), or None when the object arrived meanwhile."""
        if self.acct.state(oid) is not None:
            return None     # a put on this node of the same id cannot happen
        region = await self._reserve("create", oid, size, owner=owner, call_site=call_site, primary=False,
                                     now=time.time())
        arena.prefault(self._arena, region.offset, size, self._populated)   # one call, not a fault a page
        return region.offset

    def copy_arrived(self, oid: bytes) -> None:
        self.acct.seal(oid, time.time())
        self._wake(oid)
        if oid in self._free_on_seal:
            self._free_on_seal.discard(oid)
            self.free([(oid, "")])

    def copy_failed(self, oid: bytes) -> None:
        self._free_on_seal.discard(oid)
        if self.acct.state(oid) is S.ALLOCATED:
            self._apply(self.acct.abort(oid))
            self._lost(oid)
            self._apply(self.policy.retry())

    # ------------------------------------------------------------ stats
    def stats(self) -> dict:
        st = self.acct.stats()
        st.update(node_id=self.node_id.hex(), arena=self.arena_path, spill_dir=self.spill_dir,
                  waiting_requests=len(self.policy.waiting), clients=len(self._clients))
        return st
