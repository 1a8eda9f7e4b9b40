"""The framed protocol of the hot path: core worker <-> core worker, and the object store's socket.

Task pushes, task results and object requests travel here instead of gRPC
(DESIGN section 2: a grpc.aio stream pays ~75 us of Python per frame, plain
asyncio framing ~5 us).

    connect / serve
      |  TCP (TLS when the cluster has certificates) or a unix socket
      v
    hello: fixed-size struct records, HMAC proofs both ways (protocol/handshake.py);
           nothing else is read, bytes past a few KiB or a 5 s deadline drop the peer
      v
    frames: an 8-byte big-endian length and a pickle (protocol 5) of a *list* of
            messages; everything `send()` is handed in one turn of the loop goes out
            in one frame. A length over `max_frame` drops the peer unread.

Pickle is read only from a peer that proved the cluster token. After the
proofs, the client's first frame is Hello(info); the server answers
Welcome(info) and hands its handler PeerHello(info). Messages are the typed
classes of protocol/messages.py; a request's first field is its request id
and it gets Reply(req_id, value) back.

Each listening endpoint keeps at most `MAX_UNAUTHENTICATED` connections in
the hello; a newcomer past the cap pushes out the oldest (`HelloGate`), so
idle connections cannot lock out a legitimate client.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import pickle
import socket
import ssl as ssl_mod
from typing import Any, Callable

from strato import exceptions
from strato.runtime import tls
from strato.runtime.protocol.messages import Hello, PeerHello, Reply, Welcome, decode, encode
from strato.runtime.protocol.handshake import (
    HELLO_DEADLINE_S, PREAUTH_BUFFER_LIMIT, REFUSED, ClientHandshake, HandshakeError, Phase, ServerHandshake,
    WrongToken)

logger = logging.getLogger(__name__)
_HEADER = 8
#: Largest frame a peer may announce after the hello (configurable per cluster: SystemConfig.max_frame_bytes).
DEFAULT_MAX_FRAME = 1 << 30
#: Connections of one endpoint that may be in the hello at once.
MAX_UNAUTHENTICATED = 64


class ConnectionClosed(ConnectionError):
    pass


class HelloGate:
    """One endpoint's connections still in the hello: at most `cap`; admitting one more evicts the oldest."""

    def __init__(self, cap: int = MAX_UNAUTHENTICATED):
        if cap < 1:
            raise ValueError(f"the cap on unauthenticated connections must be at least 1, got {cap}")
        self.cap = cap
        self._waiting: collections.OrderedDict = collections.OrderedDict()

    def admit(self, conn) -> list:
        """Count `conn` as waiting; returns the connections to drop to stay within the cap."""
        self._waiting[conn] = None
        evicted = []
        while len(self._waiting) > self.cap:
            old, _ = self._waiting.popitem(last=False)
            evicted.append(old)
        return evicted

    def leave(self, conn) -> None:
        """`conn` finished the hello (or closed)."""
        self._waiting.pop(conn, None)

    def __len__(self) -> int:
        return len(self._waiting)


class Connection(asyncio.Protocol):
    """One framed connection. `handler(conn, msg)` is called for each message once the peer is authenticated."""

    def __init__(self, token: str, handler: Callable[["Connection", tuple], Any] | None,
                 on_close: Callable[["Connection", BaseException | None], Any] | None,
                 server_info: dict | None = None, is_server: bool = False, *, info: dict | None = None,
                 max_frame: int = DEFAULT_MAX_FRAME, gate: HelloGate | None = None):
        self.handler = handler
        self.on_close = on_close
        self._is_server = is_server
        self._server_info = server_info or {}
        self._info = info or {}
        self._hs = ServerHandshake(token) if is_server else ClientHandshake(token)
        self._greeted = False            # server: the client's Hello(info) frame arrived
        self._gate = gate
        self._deadline: asyncio.TimerHandle | None = None
        self.max_frame = max_frame
        self.peer_info: dict = {}
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_event_loop()
        self._out: list = []
        self._flush_scheduled = False
        self._buf = bytearray()
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
        self._deadline = self._loop.call_later(HELLO_DEADLINE_S, self._hello_timed_out)
        if self._gate is not None:
            for old in self._gate.admit(self):
                old._drop(ConnectionClosed("too many unauthenticated connections: dropped the oldest"))
        if not self._is_server:
            transport.write(self._hs.start())

    def data_received(self, data: bytes):
        if self.closed:             # dropped: nothing more is read (asyncio stops reading after close too)
            return
        buf = self._buf
        buf += data
        if self._hs is not None and not self._advance_hello():
            return
        pos = 0
        end = len(buf)
        while end - pos >= _HEADER:
            size = int.from_bytes(buf[pos:pos + _HEADER], "big")
            if size > self.max_frame:
                self._drop(ConnectionError(f"the peer announced a {size}-byte frame, over this endpoint's limit "
                                           f"of {self.max_frame} bytes (SystemConfig.max_frame_bytes)"))
                return
            if end - pos - _HEADER < size:
                break
            frame = bytes(buf[pos + _HEADER:pos + _HEADER + size])
            pos += _HEADER + size
            try:
                messages = decode(pickle.loads(frame))
            except Exception as exc:  # a corrupt frame from an authenticated peer: drop it
                self._drop(ConnectionError(f"undecodable frame from peer: {exc}"))
                return
            for msg in messages:
                self._dispatch(msg)
                if self.closed:
                    return
        if pos:
            del buf[:pos]

    def connection_lost(self, exc):
        self._fail(exc or ConnectionClosed("connection closed by peer"))

    # -- the hello -------------------------------------------------------
    def _advance_hello(self) -> bool:
        """Feed buffered bytes to the handshake; True once it is open (the rest of the buffer is frames)."""
        hs, buf = self._hs, self._buf
        try:
            while hs.phase is not Phase.OPEN and len(buf) >= hs.need:
                chunk = bytes(buf[:hs.need])
                del buf[:len(chunk)]
                out = hs.step(chunk)
                if out:
                    self._transport.write(out)
                if not self._is_server and hs.phase is Phase.PROOF:
                    self._write_frame([Hello(self._info)])     # pipelined behind the proof
        except HandshakeError as exc:
            if self._is_server and isinstance(exc, WrongToken):
                self._transport.write(REFUSED)
                logger.warning("refused a connection from %s: %s", self._peer_name(), exc)
            if not self._is_server and isinstance(exc, WrongToken):
                exc = exceptions.AuthenticationError(str(exc))
            self._drop(exc)
            return False
        if hs.phase is not Phase.OPEN:
            if len(buf) > PREAUTH_BUFFER_LIMIT:
                self._drop(HandshakeError(f"the peer sent over {PREAUTH_BUFFER_LIMIT} bytes before proving the "
                                          f"cluster token"))
            return False
        self._hs = None         # the deadline runs on until the hello frame (server) or welcome (client)
        if self._out and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return True

    def _hello_timed_out(self):
        if not self.closed and (self._hs is not None or (self._is_server and not self._greeted)):
            self._drop(HandshakeError(f"no hello within {HELLO_DEADLINE_S:g} s"))

    def _peer_name(self) -> str:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return str(peer) if peer else "a local process"

    # -- sending ---------------------------------------------------------
    def send(self, msg) -> None:
        if self.closed:
            raise ConnectionClosed("connection is closed")
        self._out.append(msg)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self):
        self._flush_scheduled = False
        if self.closed or not self._out or self._hs is not None:
            return          # before the hello completes, frames wait (the client's hello frame excepted)
        out, self._out = self._out, []
        self._write_frame(out)

    def _write_frame(self, messages: list) -> None:
        data = pickle.dumps(encode(messages), protocol=5)
        if len(data) > self.max_frame:
            if len(messages) > 1:           # split a batch that grew past the peer's limit
                half = len(messages) // 2
                self._write_frame(messages[:half])
                self._write_frame(messages[half:])
                return
            kind = type(messages[0]).__name__
            logger.error("a %s message of %d bytes is over the frame limit %d; closing the connection",
                         kind, len(data), self.max_frame)
            self._drop(ConnectionError(f"a {kind} message of {len(data)} bytes is over the frame limit "
                                       f"({self.max_frame} bytes, SystemConfig.max_frame_bytes)"))
            return
        self._transport.writelines((len(data).to_bytes(_HEADER, "big"), data))

    def request(self, cls, *fields) -> asyncio.Future:
        """Send cls(req_id, *fields); the future gets the Reply's value."""
        req_id = next(self._req_ids)
        fut = self._loop.create_future()
        self._pending[req_id] = fut
        self.send(cls(req_id, *fields))
        return fut

    def reply(self, req_id: int, value: Any) -> None:
        if not self.closed:
            self.send(Reply(req_id, value))

    def close(self):
        if not self.closed:
            self._flush()
            self._transport.close()
            self._fail(ConnectionClosed("connection closed locally"))

    # -- internals -------------------------------------------------------
    def _dispatch(self, msg):
        kind = type(msg)
        if self._is_server and not self._greeted:
            if kind is not Hello or not isinstance(msg.info, dict):
                self._drop(ConnectionError(f"the first frame must be the hello, got {kind.__name__}"))
                return
            self._greeted = True
            self._authenticated()
            self.peer_info = msg.info
            self.send(Welcome(self._server_info))
            self.handler(self, PeerHello(self.peer_info))
            return
        if kind is Reply:
            fut = self._pending.pop(msg.req_id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg.value)
            return
        if kind is Welcome and not self._is_server:
            self.peer_info = msg.info
            self._authenticated()
            if not self.ready.done():
                self.ready.set_result(True)
            return
        self.handler(self, msg)

    def _authenticated(self):
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._gate is not None:
            self._gate.leave(self)
            self._gate = None

    def _drop(self, exc: BaseException):
        """Close at once, unread bytes discarded."""
        self._buf.clear()
        if self._transport is not None:
            self._transport.close()     # stops reading; a verdict already written still goes out
        self._fail(exc)

    def _fail(self, exc: BaseException | None):
        if self.closed:
            return
        self.closed = True
        if self._deadline is not None:
            self._deadline.cancel()
        if self._gate is not None:
            self._gate.leave(self)
        err = exc if isinstance(exc, BaseException) else ConnectionClosed("connection closed")
        if not self.ready.done():
            self.ready.set_exception(err if isinstance(err, (HandshakeError, exceptions.AuthenticationError))
                                     else ConnectionClosed(str(err)))
            self.ready.exception()  # mark retrieved
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionClosed(str(err)))
        self._pending.clear()
        if self.on_close is not None:
            self.on_close(self, exc)


@functools.lru_cache(maxsize=4)
def _contexts(config: tls.TlsConfig) -> tuple[ssl_mod.SSLContext, ssl_mod.SSLContext]:
    return config.server_context(), config.client_context()


async def connect(host: str, port: int, token: str, info: dict, handler, on_close, *,
                  max_frame: int = DEFAULT_MAX_FRAME) -> Connection:
    """Open an authenticated connection (TLS when this process's cluster has certificates, tls.current());
    raises AuthenticationError when either side cannot prove the token."""
    loop = asyncio.get_running_loop()
    config = tls.current()
    ssl = _contexts(config)[1] if config else None
    _, conn = await loop.create_connection(
        lambda: Connection(token, handler, on_close, info=info, max_frame=max_frame), host, port,
        ssl=ssl, server_hostname=(config.server_name or host) if config else None,
        ssl_handshake_timeout=HELLO_DEADLINE_S if ssl else None)
    try:
        await asyncio.wait_for(asyncio.shield(conn.ready), HELLO_DEADLINE_S * 2)
    except asyncio.TimeoutError:
        conn._drop(HandshakeError("no answer to the hello"))
        raise HandshakeError(f"{host}:{port} did not answer the hello within {HELLO_DEADLINE_S * 2:g} s") from None
    return conn


async def serve(host: str, port: int, token: str, info: dict, handler, on_close, *,
                max_frame: int = DEFAULT_MAX_FRAME,
                max_unauthenticated: int = MAX_UNAUTHENTICATED) -> asyncio.base_events.Server:
    """Listen for framed TCP connections (TLS as tls.current()); each gets `handler`/`on_close` once
    authenticated."""
    loop = asyncio.get_running_loop()
    config = tls.current()
    ssl = _contexts(config)[0] if config else None
    gate = HelloGate(max_unauthenticated)
    return await loop.create_server(
        lambda: Connection(token, handler, on_close, server_info=info, is_server=True, max_frame=max_frame,
                           gate=gate), host, port, ssl=ssl, ssl_handshake_timeout=HELLO_DEADLINE_S if ssl else None)


async def serve_unix(path: str, token: str, info: dict, handler, on_close, *, max_frame: int = DEFAULT_MAX_FRAME,
                     max_unauthenticated: int = MAX_UNAUTHENTICATED) -> asyncio.base_events.Server:
    """Listen on a unix socket (the object store); the same hello as TCP (only this user can reach it)."""
    loop = asyncio.get_running_loop()
    gate = HelloGate(max_unauthenticated)
    return await loop.create_unix_server(
        lambda: Connection(token, handler, on_close, server_info=info, is_server=True, max_frame=max_frame,
                           gate=gate), path)
