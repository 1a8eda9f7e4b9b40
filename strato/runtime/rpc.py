"""gRPC plumbing of the control plane: call credentials, limits, TLS and typed clients.

The cluster token never travels, and a server decodes nothing before the
call is authenticated. A client serializes each request itself and sends
"strato-auth" metadata `v1.<unix time>.<nonce>.<HMAC(k, method|time|nonce|request bytes)>`
(k derived from the token). The server's interceptor takes the request as
raw bytes, checks the credential (`CallGuard`: the MAC over exactly those
bytes, fresh within `CLOCK_WINDOW_S`, each nonce once) and only then parses
the protobuf and runs the handler; anything else gets UNAUTHENTICATED,
which clients turn into `AuthenticationError` (an unreachable server
becomes `ClusterConnectionError`), both saying what to do. A sniffed
credential is therefore worth nothing: it is bound to one request's bytes
and works once. Between hosts the channel is TLS (tls.py) as well.

Servers accept messages up to `MAX_MESSAGE_BYTES` (the control plane sends
specs, state and 5 MiB object chunks; a remote function's pickle is capped
at `MAX_FUNCTION_BYTES` before it is sent) and run at most
`MAX_CONCURRENT_RPCS` calls at once.

Reconnecting: channels try to reconnect after 0.1 s, backing off to at most
1 s (gRPC's defaults reach two minutes). A GcsClient that has reached the
GCS once retries a call that finds it unavailable, with backoff, for up to
`GCS_RECONNECT_TIMEOUT_S` (Ray's gcs_rpc_server_reconnect_timeout_s): a GCS
restarted on durable storage (gcs/recovery.py) answers again within that
window, and the caller only waits. A client that never reached its server
fails at once (a wrong address is not a restart); `call(..., retry=False)`
fails at once too (shutdown paths). Each attempt carries a fresh credential.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import inspect
import logging
import os
import time

import grpc
import grpc.aio
from google.protobuf import message_factory

from strato import exceptions
from strato.runtime import tls
from strato.runtime.protocol import gcs_pb2, gcs_pb2_grpc, raylet_pb2, raylet_pb2_grpc  # noqa: F401 (stubs)

AUTH_KEY = "strato-auth"
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
MAX_FUNCTION_BYTES = 100 * 1024 * 1024
MAX_CONCURRENT_RPCS = 4096
CLOCK_WINDOW_S = 120.0
GCS_RECONNECT_TIMEOUT_S = 60.0
_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.enable_http_proxy", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
logger = logging.getLogger("strato.rpc")


def call_key(token: str) -> bytes:
    return hmac.new(token.encode(), b"strato grpc v1", hashlib.sha256).digest()


def _mac(key: bytes, method: str, ts: int, nonce: str, body: bytes) -> str:
    h = hmac.new(key, f"{method}|{ts}|{nonce}|".encode(), hashlib.sha256)
    h.update(body)
    return h.hexdigest()


def call_credential(key: bytes, method: str, body: bytes, now: float | None = None, nonce: str | None = None) -> str:
    """The metadata value of one call: proof of the token over this method and these request bytes, now."""
    ts = int(time.time() if now is None else now)
    nonce = nonce or os.urandom(12).hex()
    return f"v1.{ts}.{nonce}.{_mac(key, method, ts, nonce, body)}"


class CallGuard:
    """Decides whether a call may run: the MAC matches the method and request bytes, it is fresh, its
    nonce unseen.

    Nonces are remembered for the clock window; past `max_remembered` the
    oldest are forgotten and the window's floor rises to their time, so a
    replay of a forgotten credential is still refused (as too old).
    """

    def __init__(self, token: str, window_s: float = CLOCK_WINDOW_S, max_remembered: int = 500_000):
        self._key = call_key(token)
        self.window_s = window_s
        self.max_remembered = max_remembered
        self._seen: collections.OrderedDict[str, int] = collections.OrderedDict()   # nonce -> time, in arrival order
        self._floor = 0

    def check(self, credential: str, method: str, body: bytes, now: float | None = None) -> str | None:
        """None when the call may go on, else why it may not."""
        now = time.time() if now is None else now
        try:
            version, ts_text, nonce, mac = credential.split(".")
            ts = int(ts_text)
        except ValueError:
            return "malformed credential"
        if version != "v1" or not 8 <= len(nonce) <= 64:
            return "malformed credential"
        if not hmac.compare_digest(mac, _mac(self._key, method, ts, nonce, body)):
            return "wrong cluster token"
        if abs(now - ts) > self.window_s or ts < self._floor:
            return (f"credential time {ts} is more than {self.window_s:g} s from this server's clock {int(now)}: "
                    f"synchronise the clocks of the cluster's hosts (NTP)")
        if nonce in self._seen:
            return "replayed credential"
        self._seen[nonce] = ts
        self._forget(now)
        return None

    def _forget(self, now: float) -> None:
        seen = self._seen
        while seen:
            nonce, ts = next(iter(seen.items()))
            if len(seen) > self.max_remembered:
                self._floor = max(self._floor, ts + 1)
            elif ts >= now - self.window_s:
                break
            seen.popitem(last=False)


_REFUSAL = ("wrong or missing cluster credentials ({why}): connect with this cluster's token "
            "(strato.init(address=...) on the head's machine finds it; elsewhere pass --token-file or STRATO_TOKEN)")


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Hands each handler its request as raw bytes, checks the credential over them, then parses."""

    def __init__(self, token: str):
        self._guard = CallGuard(token)

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None                         # unknown method: UNIMPLEMENTED
        if handler.request_streaming:           # none exist; one added later must not skip the check
            return _refuse_client_streaming(handler)
        method = details.method.rsplit("/", 1)[-1]
        credential = ""
        for key, value in details.invocation_metadata or ():
            if key == AUTH_KEY:
                credential = value
                break
        guard, parse = self._guard, handler.request_deserializer

        async def admit(raw: bytes, context):
            why = guard.check(credential, method, raw) if credential else "no credential"
            if why is not None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, _REFUSAL.format(why=why))
            return parse(raw)

        if handler.response_streaming:
            inner = handler.unary_stream

            async def checked_stream(raw, context):
                result = inner(await admit(raw, context), context)
                if inspect.isawaitable(result):
                    result = await result
                async for item in result:
                    yield item
            return grpc.unary_stream_rpc_method_handler(
                checked_stream, request_deserializer=None, response_serializer=handler.response_serializer)
        inner = handler.unary_unary

        async def checked(raw, context):
            result = inner(await admit(raw, context), context)
            return await result if inspect.isawaitable(result) else result
        return grpc.unary_unary_rpc_method_handler(
            checked, request_deserializer=None, response_serializer=handler.response_serializer)


def _refuse_client_streaming(handler):
    why = "client-streaming calls carry no checkable credential; strato's services do not take them"

    async def refuse(request_iterator, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, why)

    async def refuse_stream(request_iterator, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, why)
        yield  # pragma: no cover
    if handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_stream)
    return grpc.stream_unary_rpc_method_handler(refuse)


def make_server(token: str) -> grpc.aio.Server:
    return grpc.aio.server(interceptors=[TokenInterceptor(token)], options=_OPTIONS,
                           maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS)


def add_port(server: grpc.aio.Server, address: str) -> int:
    """Listen on address: TLS when this process's cluster has certificates (tls.current())."""
    config = tls.current()
    if config is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, config.grpc_server_credentials())


def _methods(pb2_module, service: str) -> dict[str, tuple[str, type, bool]]:
    """method name -> (path, reply class, server-streaming) from a generated module's descriptor."""
    desc = pb2_module.DESCRIPTOR.services_by_name[service]
    return {m.name: (f"/{desc.full_name}/{m.name}", message_factory.GetMessageClass(m.output_type),
                     m.server_streaming) for m in desc.methods}


class _Client:
    """Calls a service's methods with the request serialized here, a credential over its bytes, and errors
    translated."""

    _pb2 = None
    _service = ""
    _what = "server"
    reconnect_timeout_s = 0.0      # > 0: retry calls that find the server unavailable, once it was reached

    def __init__(self, address: str, token: str):
        self.address = address
        self.reached = False       # a call has succeeded
        self.reconnects = 0        # times the server answered again after being unavailable
        config = tls.current()
        if config is None:
            self._channel = grpc.aio.insecure_channel(address, options=_OPTIONS)
        else:
            self._channel = grpc.aio.secure_channel(address, config.grpc_channel_credentials(),
                                                    options=_OPTIONS + config.grpc_channel_options())
        self._key = call_key(token)
        self._calls = {}
        for name, (path, reply, streaming) in _methods(self._pb2, self._service).items():
            make = self._channel.unary_stream if streaming else self._channel.unary_unary
            self._calls[name] = make(path, request_serializer=None, response_deserializer=reply.FromString)

    def _prepare(self, method: str, request):
        body = request.SerializeToString()
        return body, ((AUTH_KEY, call_credential(self._key, method, body)),)

    async def call(self, method: str, request, timeout: float | None = 30.0, retry: bool = True):
        body, md = self._prepare(method, request)
        give_up, delay = None, 0.05
        while True:
            try:
                reply = await self._calls[method](body, metadata=md, timeout=timeout)
            except grpc.aio.AioRpcError as err:
                if not (retry and self.reached and self.reconnect_timeout_s > 0
                        and err.code() == grpc.StatusCode.UNAVAILABLE):
                    raise translate(err, self._what, self.address) from None
                now = time.monotonic()
                if give_up is None:
                    give_up = now + self.reconnect_timeout_s
                    logger.warning("the %s at %s is unavailable (%s); retrying %s for up to %g s", self._what,
                                   self.address, err.details(), method, self.reconnect_timeout_s)
                if now >= give_up:
                    raise translate(err, self._what, self.address) from None
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
                md = ((AUTH_KEY, call_credential(self._key, method, body)),)    # a nonce works once
                continue
            if give_up is not None:
                self.reconnects += 1
                logger.info("the %s at %s answers again (%s)", self._what, self.address, method)
            self.reached = True
            return reply

    def stream(self, method: str, request):
        body, md = self._prepare(method, request)
        return self._calls[method](body, metadata=md)

    async def close(self):
        await self._channel.close()


def translate(err: grpc.aio.AioRpcError, what: str, address: str) -> Exception:
    code = err.code()
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return exceptions.AuthenticationError(
            f"The {what} at {address} refused the call: {err.details()}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return exceptions.ClusterConnectionError(
            f"Could not reach the {what} at {address} ({code.name}: {err.details()}). "
            f"Check that the cluster is running (`strato status`) and the address is right"
            + ("; if it was started with TLS, give this process its certificates (STRATO_TLS_CA, STRATO_TLS_CERT, "
               "STRATO_TLS_KEY, or --tls-ca/--tls-cert/--tls-key)." if tls.current() is None else "."))
    return exceptions.StratoError(f"{what} call failed at {address}: {code.name}: {err.details()}")


class GcsClient(_Client):
    _pb2, _service = gcs_pb2, "GcsService"
    _what = "GCS"
    reconnect_timeout_s = GCS_RECONNECT_TIMEOUT_S


class RayletClient(_Client):
    _pb2, _service = raylet_pb2, "NodeManagerService"
    _what = "raylet"


async def wait_ready(client: _Client, method: str, request, deadline_s: float) -> object:
    """Call until the server answers (it may still be starting)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            return await client.call(method, request, timeout=max(0.2, min(2.0, end - loop.time())), retry=False)
        except exceptions.ClusterConnectionError:
            if loop.time() > end:
                raise
            await asyncio.sleep(0.02)
