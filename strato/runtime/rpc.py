"""gRPC plumbing of the control plane: call credentials, limits, TLS and typed clients.

The cluster token never travels. Every call carries "strato-auth" metadata
`v1.<unix time>.<nonce>.<HMAC(k, method | time | nonce)>` with k derived
from the token; servers check it before the handler sees the request
(`CallGuard`: fresh within `CLOCK_WINDOW_S`, each nonce once, bound to the
method) and refuse anything else with UNAUTHENTICATED, which clients turn
into `AuthenticationError`; an unreachable server becomes
`ClusterConnectionError`, both saying what to do. Between hosts the
channel is TLS (tls.py), so the credential is not even visible.

Servers accept messages up to `MAX_MESSAGE_BYTES` (the control plane sends
specs, state and 5 MiB object chunks; a remote function's pickle is capped
at `MAX_FUNCTION_BYTES` before it is sent) and run at most
`MAX_CONCURRENT_RPCS` calls at once.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import os
import time

import grpc
import grpc.aio

from strato import exceptions
from strato.runtime import tls
from strato.runtime.protocol import gcs_pb2_grpc, raylet_pb2_grpc

AUTH_KEY = "strato-auth"
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
MAX_FUNCTION_BYTES = 100 * 1024 * 1024
MAX_CONCURRENT_RPCS = 4096
CLOCK_WINDOW_S = 120.0
_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.enable_http_proxy", 0),
]


def call_key(token: str) -> bytes:
    return hmac.new(token.encode(), b"strato grpc v1", hashlib.sha256).digest()


def call_credential(key: bytes, method: str, now: float | None = None, nonce: str | None = None) -> str:
    """The metadata value one call carries: proof of the token for this method at this time, used once."""
    ts = int(time.time() if now is None else now)
    nonce = nonce or os.urandom(12).hex()
    mac = hmac.new(key, f"{method}|{ts}|{nonce}".encode(), hashlib.sha256).hexdigest()
    return f"v1.{ts}.{nonce}.{mac}"


class CallGuard:
    """Decides whether a call's credential is good: right MAC for the method, fresh, and its nonce unseen.

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

    def check(self, credential: str, method: str, now: float | None = None) -> str | None:
        """None when the call may go on, else why it may not."""
        now = time.time() if now is None else now
        try:
            version, ts_text, nonce, mac = credential.split(".")
            ts = int(ts_text)
        except ValueError:
            return "malformed credential"
        if version != "v1" or not 8 <= len(nonce) <= 64:
            return "malformed credential"
        expected = hmac.new(self._key, f"{method}|{ts}|{nonce}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
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


class TokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str):
        self._guard = CallGuard(token)

        async def refuse(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "wrong or missing cluster credentials: connect with this cluster's token "
                                "(strato.init(address=...) on the head's machine finds it; elsewhere pass "
                                "--token-file or STRATO_TOKEN)")
        self._refuse_unary = grpc.unary_unary_rpc_method_handler(refuse)

        async def refuse_stream(request, context):
            await refuse(request, context)
            yield  # pragma: no cover
        self._refuse_stream = grpc.unary_stream_rpc_method_handler(refuse_stream)

    async def intercept_service(self, continuation, details):
        method = details.method.rsplit("/", 1)[-1]
        for key, value in details.invocation_metadata or ():
            if key == AUTH_KEY:
                if self._guard.check(value, method) is None:
                    return await continuation(details)
                break
        if method in _STREAMING:
            return self._refuse_stream
        return self._refuse_unary


_STREAMING = {"SubscribeNodeChanges", "PullObject"}


def make_server(token: str) -> grpc.aio.Server:
    return grpc.aio.server(interceptors=[TokenInterceptor(token)], options=_OPTIONS,
                           maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS)


def add_port(server: grpc.aio.Server, address: str) -> int:
    """Listen on address: TLS when this process's cluster has certificates (tls.current())."""
    config = tls.current()
    if config is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, config.grpc_server_credentials())


class _Client:
    """Calls a stub's methods with a fresh credential and errors translated."""

    _stub_cls = None
    _what = "server"

    def __init__(self, address: str, token: str):
        self.address = address
        config = tls.current()
        if config is None:
            self._channel = grpc.aio.insecure_channel(address, options=_OPTIONS)
        else:
            self._channel = grpc.aio.secure_channel(address, config.grpc_channel_credentials(),
                                                    options=_OPTIONS + config.grpc_channel_options())
        self._stub = self._stub_cls(self._channel)
        self._key = call_key(token)

    def _md(self, method: str) -> tuple:
        return ((AUTH_KEY, call_credential(self._key, method)),)

    async def call(self, method: str, request, timeout: float | None = 30.0):
        try:
            return await getattr(self._stub, method)(request, metadata=self._md(method), timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise translate(err, self._what, self.address) from None

    def stream(self, method: str, request):
        return getattr(self._stub, method)(request, metadata=self._md(method))

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
            f"Check that the cluster is running (`strato status`) and the address is right.")
    return exceptions.StratoError(f"{what} call failed at {address}: {code.name}: {err.details()}")


class GcsClient(_Client):
    _stub_cls = gcs_pb2_grpc.GcsServiceStub
    _what = "GCS"


class RayletClient(_Client):
    _stub_cls = raylet_pb2_grpc.NodeManagerServiceStub
    _what = "raylet"


async def wait_ready(client: _Client, method: str, request, deadline_s: float) -> object:
    """Call until the server answers (it may still be starting)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            return await client.call(method, request, timeout=max(0.2, min(2.0, end - loop.time())))
        except exceptions.ClusterConnectionError:
            if loop.time() > end:
                raise
            await asyncio.sleep(0.02)
