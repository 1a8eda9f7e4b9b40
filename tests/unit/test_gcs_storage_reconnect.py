"""A GCS client across a GCS restart (rpc.py): it retries while the GCS is away, once it has reached it, and
fails at once otherwise. A real gRPC GCS server in this process, stopped and started again on its port."""
import asyncio
import time

import pytest

from strato.exceptions import ClusterConnectionError
from strato._testing import free_port
from strato.runtime.config import SystemConfig
from strato.runtime.gcs.server import GcsServer
from strato.runtime.gcs.storage import InMemoryStoreClient
from strato.runtime.protocol import gcs_pb2, gcs_pb2_grpc
from strato.runtime.rpc import GcsClient, add_port, make_server

TOKEN = "t" * 48


async def serve(port: int, store):
    server = make_server(TOKEN)
    gcs_pb2_grpc.add_GcsServiceServicer_to_server(GcsServer(store, SystemConfig(), "/session", TOKEN), server)
    assert add_port(server, f"127.0.0.1:{port}") == port
    await server.start()
    return server


def test_a_client_that_reached_the_gcs_waits_for_it_to_come_back():
    async def scenario():
        port, store = free_port(), InMemoryStoreClient()
        server = await serve(port, store)
        client = GcsClient(f"127.0.0.1:{port}", TOKEN)
        await client.call("KVPut", gcs_pb2.KVPutRequest(namespace="n", key=b"k", value=b"v"))
        await server.stop(0)

        call = asyncio.ensure_future(client.call("KVGet", gcs_pb2.KVGetRequest(namespace="n", key=b"k")))
        await asyncio.sleep(0.6)
        assert not call.done()                         # retrying, not failed
        server = await serve(port, store)              # the same port, the same tables
        t = time.monotonic()
        reply = await asyncio.wait_for(call, 10)
        waited = time.monotonic() - t
        await server.stop(0)
        await client.close()
        return reply, waited, client.reconnects

    reply, waited, reconnects = asyncio.run(scenario())
    assert reply.found and reply.value == b"v"
    assert waited < 2.5                                # reconnect backoff stays near 1 s, not gRPC's minutes
    assert reconnects == 1


def test_a_client_fails_at_once_when_it_never_reached_the_gcs_or_is_told_not_to_retry():
    async def scenario():
        nowhere = GcsClient(f"127.0.0.1:{free_port()}", TOKEN)
        t = time.monotonic()
        with pytest.raises(ClusterConnectionError, match="Could not reach the GCS"):
            await nowhere.call("GetClusterInfo", gcs_pb2.Empty(), timeout=5)
        first = time.monotonic() - t

        port = free_port()
        server = await serve(port, InMemoryStoreClient())
        client = GcsClient(f"127.0.0.1:{port}", TOKEN)
        await client.call("GetClusterInfo", gcs_pb2.Empty())
        await server.stop(0)
        t = time.monotonic()
        with pytest.raises(ClusterConnectionError):
            await client.call("GetClusterInfo", gcs_pb2.Empty(), timeout=5, retry=False)
        unretried = time.monotonic() - t
        client.reconnect_timeout_s = 0.5               # the window is bounded: then the error comes
        t = time.monotonic()
        with pytest.raises(ClusterConnectionError):
            await client.call("GetClusterInfo", gcs_pb2.Empty(), timeout=5)
        bounded = time.monotonic() - t
        await nowhere.close()
        await client.close()
        return first, unretried, bounded

    first, unretried, bounded = asyncio.run(scenario())
    assert first < 2 and unretried < 2
    assert 0.5 <= bounded < 3
