"""Objects between raylets over plain sockets: the token hello first, then raw bytes arena to arena.

    destination raylet (pull)                      source raylet (TransferServer, one port)
      connect; token hello (handshake.py) ------>  nothing is read before the client's proof
      INFO oid requester                  ------>  OK size owner call_site (or LOST)
      reserve the region in its own arena
      up to STREAMS connections in parallel:
      RANGE oid offset length             ------>  OK length, then the bytes, written straight
      recv_into(its arena region)                  from the arena (no message framing, no copy
                                                   into a protobuf, none out of one)
      seal

`pull_object` is the destination's whole pull, by either path; `serve_chunks` is the source's
side of the gRPC stream (service.py's PullObject), the path on TLS clusters, where the bytes must
be encrypted: this path carries them in clear and is used only when the cluster's
links are plain TCP (loopback, or a network the user declared trusted). Limits:
MAX_CONNECTIONS at once per raylet, a HELLO_DEADLINE_S for the hello, IO_TIMEOUT_S between
requests, object ids of at most MAX_ID bytes; anything else closes the connection.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct

from strato import exceptions
from strato.runtime.protocol import handshake

logger = logging.getLogger("strato.object_store")

MAX_CONNECTIONS = 64
MAX_ID = 64
MAX_ADDRESS = 256
HELLO_DEADLINE_S = handshake.HELLO_DEADLINE_S
IO_TIMEOUT_S = 60.0                 # a silent peer (cut off) fails the pull after this long
STREAMS = 4                         # parallel connections for one large object
MIN_RANGE = 16 << 20                # ranges below this are not split further
SEND_CHUNK = 8 << 20
GRPC_CHUNK = 5 << 20                # chunks of the gRPC path (TLS clusters)

OP_INFO, OP_RANGE = 1, 2
OK, LOST = 0, 1
_REQUEST = struct.Struct("!BHHQQ")     # op, id length, requester length, offset, length; then id, requester
_STATUS = struct.Struct("!BQ")         # status, size (INFO: the object's; RANGE: the bytes that follow)
_INFO_TAIL = struct.Struct("!HH")      # owner length, call-site length; then both


class TransferServer:
    """The source side, on the raylet's event loop; `store` is its StoreServer."""

    def __init__(self, store, token: str, host: str):
        self.store = store
        self.token = token
        self.host = host
        self.port = 0
        self._server = None
        self._open: set = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._open) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._open.add(writer)
        try:
            hs = handshake.ServerHandshake(self.token)
            async with asyncio.timeout(HELLO_DEADLINE_S):
                while hs.phase is not handshake.Phase.OPEN:
                    writer.write(hs.step(await reader.readexactly(hs.need)))
                await writer.drain()
            while True:         # an authenticated peer still gets IO_TIMEOUT_S between requests
                head = await asyncio.wait_for(reader.readexactly(_REQUEST.size), IO_TIMEOUT_S)
                op, n_id, n_req, offset, length = _REQUEST.unpack(head)
                if op not in (OP_INFO, OP_RANGE) or n_id > MAX_ID or n_req > MAX_ADDRESS:
                    return
                oid = await reader.readexactly(n_id)
                requester = (await reader.readexactly(n_req)).decode(errors="replace")
                await self._serve(op, oid, requester, offset, length, writer)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, handshake.HandshakeError, OSError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def _serve(self, op: int, oid: bytes, requester: str, offset: int, length: int, writer) -> None:
        try:
            async with self.store.reading(oid, requester if op == OP_INFO else "") as (entry, region):
                if op == OP_INFO:
                    owner, site = entry.owner.encode(), entry.call_site.encode()
                    writer.write(_STATUS.pack(OK, entry.size) + _INFO_TAIL.pack(len(owner), len(site))
                                 + owner + site)
                    await writer.drain()
                    return
                if offset + length > entry.size:
                    writer.write(_STATUS.pack(LOST, 0))
                    return
                writer.write(_STATUS.pack(OK, length))
                start = region.offset + offset
                for pos in range(0, length, SEND_CHUNK):
                    writer.write(self.store._view[start + pos:start + min(length, pos + SEND_CHUNK)])
                    await writer.drain()
        except exceptions.ObjectLostError:
            writer.write(_STATUS.pack(LOST, 0))


async def serve_chunks(store, oid: bytes, requester: str):
    """The source's side of the gRPC pull: (total, owner, call_site, offset, bytes) chunks of a local object."""
    async with store.reading(oid, requester) as (entry, region):
        size = entry.size
        for pos in range(0, max(size, 1), GRPC_CHUNK):
            yield size, entry.owner, entry.call_site, pos, bytes(
                store._view[region.offset + pos:region.offset + min(size, pos + GRPC_CHUNK)])


# ------------------------------------------------------------------ the destination side
async def pull_object(store, oid: bytes, source: str) -> None:
    """Copy object `oid` from the raylet at `source` into `store` (a StoreServer): raw sockets when the
    source has a TransferServer this cluster may use, else its gRPC stream. Raises ObjectLostError."""
    created = False

    async def reserve(total: int, owner: str, call_site: str):
        nonlocal created
        base = await store.reserve_copy(oid, total, owner, call_site)
        created = base is not None
        return base

    try:
        direct = await store._open_direct(source) if store._open_direct is not None else None
        if direct is not None:
            try:
                if not await pull(*direct, store.token, oid, store.raylet_address, reserve, store._view):
                    return
            except (ConnectionError, TimeoutError, OSError, handshake.HandshakeError) as exc:
                raise exceptions.ObjectLostError(
                    f"Could not fetch object {oid.hex()} from the node at {source}: {exc}. The node may have "
                    f"died, or the object was freed.") from None
        else:
            async for total, owner, call_site, pos, data in store._open_pull_stream(source, oid):
                if not created:
                    base = await reserve(total, owner, call_site)
                    if base is None:
                        return
                store._view[base + pos:base + pos + len(data)] = data
        if not created:
            raise exceptions.ObjectLostError(f"node at {source} sent nothing for object {oid.hex()}")
        store.copy_arrived(oid)
    except BaseException:
        if created:
            store.copy_failed(oid)
        raise


async def pull(host: str, port: int, token: str, oid: bytes, requester: str, reserve, view) -> bool:
    """Copy object `oid` from the TransferServer at host:port into this raylet's arena.

    `reserve(size, owner, call_site)` -> the region's offset in `view` (awaitable), or None when the
    object arrived meanwhile. Returns False when nothing was written (arrived meanwhile); raises
    ObjectLostError when the source does not have it, ConnectionError/TimeoutError when it fails."""
    first = await _connect(host, port, token)
    socks = [first]
    try:
        await _send_request(first, OP_INFO, oid, requester, 0, 0)
        status, size = _STATUS.unpack(await _recv_exactly(first, _STATUS.size))
        if status != OK:
            raise exceptions.ObjectLostError(f"the node at {host} no longer has object {oid.hex()}")
        n_owner, n_site = _INFO_TAIL.unpack(await _recv_exactly(first, _INFO_TAIL.size))
        tail = await _recv_exactly(first, n_owner + n_site)
        base = await reserve(size, tail[:n_owner].decode(), tail[n_owner:].decode())
        if base is None:
            return False
        ranges = split(size, STREAMS, MIN_RANGE)
        for _ in ranges[1:]:
            socks.append(await _connect(host, port, token))
        await asyncio.gather(*(_recv_range(s, oid, off, n, view[base + off:base + off + n])
                               for s, (off, n) in zip(socks, ranges)))
        return True
    finally:
        for s in socks:
            s.close()


def split(size: int, streams: int, min_range: int) -> list[tuple[int, int]]:
    """(offset, length) ranges covering `size` bytes: at most `streams`, none below min_range (but one)."""
    count = max(1, min(streams, size // max(min_range, 1)))
    step = -(-size // count) if size else 0
    return [(off, min(step, size - off)) for off in range(0, size, step)] if size else [(0, 0)]


async def _connect(host: str, port: int, token: str) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        async with asyncio.timeout(HELLO_DEADLINE_S):
            await loop.sock_connect(sock, (host, port))
            hs = handshake.ClientHandshake(token)
            await loop.sock_sendall(sock, hs.start())
            while hs.phase is not handshake.Phase.OPEN:
                out = hs.step(await _recv_exactly(sock, hs.need))
                if out:
                    await loop.sock_sendall(sock, out)
    except BaseException:
        sock.close()
        raise
    return sock


async def _send_request(sock, op: int, oid: bytes, requester: str, offset: int, length: int) -> None:
    req = requester.encode()
    await asyncio.get_running_loop().sock_sendall(sock, _REQUEST.pack(op, len(oid), len(req), offset, length)
                                                  + oid + req)


async def _recv_range(sock, oid: bytes, offset: int, length: int, into: memoryview) -> None:
    await _send_request(sock, OP_RANGE, oid, "", offset, length)
    status, n = _STATUS.unpack(await _recv_exactly(sock, _STATUS.size))
    if status != OK or n != length:
        raise exceptions.ObjectLostError(f"the source node no longer has object {oid.hex()}")
    loop, got = asyncio.get_running_loop(), 0
    while got < length:
        k = await asyncio.wait_for(loop.sock_recv_into(sock, into[got:]), IO_TIMEOUT_S)
        if k == 0:
            raise ConnectionError("the source node closed the connection mid-object")
        got += k


async def _recv_exactly(sock, n: int) -> bytes:
    loop, buf = asyncio.get_running_loop(), bytearray()
    while len(buf) < n:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, n - len(buf)), IO_TIMEOUT_S)
        if not chunk:
            raise ConnectionError("the source node closed the connection")
        buf += chunk
    return bytes(buf)
