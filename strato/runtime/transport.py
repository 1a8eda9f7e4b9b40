"""The framed protocol of the hot path: core worker <-> core worker.

Task pushes, task results and object requests travel here instead of gRPC
(DESIGN section 2: a grpc.aio stream pays ~75 us of Python per frame, plain
asyncio framing ~5 us). A frame is an 8-byte big-endian length and a pickle
(protocol 5) of a *list* of messages: everything `send()` is handed during
one turn of the event loop goes out in one frame.

The first frame a client sends is ("hello", token, info); the server
answers ("welcome", info) or ("refused", reason) and closes; an accepted
hello reaches the server's handler as ("peer_hello", info). Messages are
tuples whose first item names the kind (see protocol/messages.py); a
request carries a request id and gets ("reply", id, value) back.
"""
from __future__ import annotations

import asyncio
import hmac
import itertools
import pickle
import socket
from typing import Any, Callable

_HEADER = 8


class ConnectionClosed(ConnectionError):
    pass


class Connection(asyncio.Protocol):
    """One framed connection. `handler(conn, msg)` is called for each message."""

    def __init__(self, token: str, handler: Callable[["Connection", tuple], Any] | None,
                 on_close: Callable[["Connection", BaseException | None], Any] | None,
                 server_info: dict | None = None, is_server: bool = False):
        self._token = token
        self.handler = handler
        self.on_close = on_close
        self._is_server = is_server
        self._server_info = server_info or {}
        self._authenticated = not is_server
        self.peer_info: dict = {}
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_event_loop()
        self._out: list = []
        self._flush_scheduled = False
        self._buf = bytearray()
        self._need = 0
        self._req_ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self.closed = False
        self.ready: asyncio.Future = self._loop.create_future()

    # -- asyncio.Protocol ------------------------------------------------
    def connection_made(self, transport):
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes):
        buf = self._buf
        buf += data
        pos = 0
        end = len(buf)
        while end - pos >= _HEADER:
            size = int.from_bytes(buf[pos:pos + _HEADER], "big")
            if end - pos - _HEADER < size:
                break
            frame = bytes(buf[pos + _HEADER:pos + _HEADER + size])
            pos += _HEADER + size
            try:
                messages = pickle.loads(frame)
            except Exception as exc:  # a corrupt frame: drop the peer
                self._fail(ConnectionError(f"undecodable frame from peer: {exc}"))
                return
            for msg in messages:
                self._dispatch(msg)
                if self.closed:
                    return
        if pos:
            del buf[:pos]

    def connection_lost(self, exc):
        self._fail(exc or ConnectionClosed("connection closed by peer"))

    # -- sending ---------------------------------------------------------
    def send(self, msg: tuple) -> None:
        if self.closed:
            raise ConnectionClosed("connection is closed")
        self._out.append(msg)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self):
        self._flush_scheduled = False
        if self.closed or not self._out:
            return
        out, self._out = self._out, []
        data = pickle.dumps(out, protocol=5)
        self._transport.writelines((len(data).to_bytes(_HEADER, "big"), data))

    def request(self, kind: str, *args) -> asyncio.Future:
        req_id = next(self._req_ids)
        fut = self._loop.create_future()
        self._pending[req_id] = fut
        self.send((kind, req_id, *args))
        return fut

    def reply(self, req_id: int, value: Any) -> None:
        if not self.closed:
            self.send(("reply", req_id, value))

    def close(self):
        if not self.closed:
            self._flush()
            self._transport.close()
            self._fail(ConnectionClosed("connection closed locally"))

    # -- internals -------------------------------------------------------
    def _dispatch(self, msg: tuple):
        kind = msg[0]
        if kind == "reply":
            fut = self._pending.pop(msg[1], None)
            if fut is not None and not fut.done():
                fut.set_result(msg[2])
            return
        if not self._authenticated:
            if kind == "hello" and hmac.compare_digest(str(msg[1]).encode(), self._token.encode()):
                self._authenticated = True
                self.peer_info = msg[2]
                self.send(("welcome", self._server_info))
                self.handler(self, ("peer_hello", self.peer_info))
            else:
                self._out.append(("refused", "wrong or missing cluster token"))
                self._flush()
                self._transport.close()
                self._fail(ConnectionClosed("peer refused: wrong token"))
            return
        if kind == "welcome":
            self.peer_info = msg[1]
            if not self.ready.done():
                self.ready.set_result(True)
            return
        if kind == "refused":
            if not self.ready.done():
                self.ready.set_exception(PermissionError(msg[1]))
            return
        self.handler(self, msg)

    def _fail(self, exc: BaseException | None):
        if self.closed:
            return
        self.closed = True
        err = exc if isinstance(exc, BaseException) else ConnectionClosed("connection closed")
        if not self.ready.done():
            self.ready.set_exception(ConnectionClosed(str(err)))
            self.ready.exception()  # mark retrieved
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionClosed(str(err)))
        self._pending.clear()
        if self.on_close is not None:
            self.on_close(self, exc)


async def connect(host: str, port: int, token: str, info: dict, handler, on_close) -> Connection:
    """Open an authenticated connection; raises PermissionError on a wrong token."""
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(lambda: Connection(token, handler, on_close), host, port)
    conn.send(("hello", token, info))
    await conn.ready
    return conn


async def serve(host: str, port: int, token: str, info: dict, handler, on_close) -> asyncio.base_events.Server:
    """Listen for framed connections; each gets `handler`/`on_close`."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: Connection(token, handler, on_close, server_info=info, is_server=True), host, port)
