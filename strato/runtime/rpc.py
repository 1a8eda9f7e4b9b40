"""gRPC plumbing of the control plane: the token check and typed clients.

Every call carries the cluster token as "strato-token" metadata. Servers
refuse a call without the right token with UNAUTHENTICATED; clients turn
that into `AuthenticationError`, and an unreachable server into
`ClusterConnectionError`, both saying what to do.
"""
from __future__ import annotations

import asyncio
import hmac

import grpc
import grpc.aio

from strato import exceptions
from strato.runtime.protocol import gcs_pb2_grpc, raylet_pb2_grpc

TOKEN_KEY = "strato-token"
_OPTIONS = [
    ("grpc.max_send_message_length", 512 * 1024 * 1024),
    ("grpc.max_receive_message_length", 512 * 1024 * 1024),
    ("grpc.enable_http_proxy", 0),
]


class TokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str):
        self._token = token.encode()

        async def refuse(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "wrong or missing cluster token: pass the token of this cluster "
                                "(strato.init(address=..., _token=...) or the token file written by "
                                "`strato start --head`)")
        self._refuse_unary = grpc.unary_unary_rpc_method_handler(refuse)

        async def refuse_stream(request, context):
            await refuse(request, context)
            yield  # pragma: no cover
        self._refuse_stream = grpc.unary_stream_rpc_method_handler(refuse_stream)

    async def intercept_service(self, continuation, details):
        for key, value in details.invocation_metadata or ():
            if key == TOKEN_KEY and hmac.compare_digest(value.encode(), self._token):
                return await continuation(details)
        if details.method.endswith("SubscribeNodeChanges"):
            return self._refuse_stream
        return self._refuse_unary


def make_server(token: str) -> grpc.aio.Server:
    return grpc.aio.server(interceptors=[TokenInterceptor(token)], options=_OPTIONS)


class _Client:
    """Calls a stub's methods with the token attached and errors translated."""

    _stub_cls = None
    _what = "server"

    def __init__(self, address: str, token: str):
        self.address = address
        self._channel = grpc.aio.insecure_channel(address, options=_OPTIONS)
        self._stub = self._stub_cls(self._channel)
        self._md = ((TOKEN_KEY, token),)

    async def call(self, method: str, request, timeout: float | None = 30.0):
        try:
            return await getattr(self._stub, method)(request, metadata=self._md, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise translate(err, self._what, self.address) from None

    def stream(self, method: str, request):
        return getattr(self._stub, method)(request, metadata=self._md)

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
