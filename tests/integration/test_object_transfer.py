"""Objects between raylets over the TransferServer (object_store/server/transfer.py).

Large objects cross nodes as raw bytes on plain-TCP clusters, after the token hello; the port
answers nothing to a peer that has not proved the token, and TLS clusters keep the gRPC path.
"""
import asyncio
import hashlib
import socket
import struct

import numpy as np
import pytest

import strato
from strato.cluster_utils import Cluster
from strato.runtime.object_store.server import transfer
from strato.runtime.protocol import handshake, raylet_pb2
from strato.runtime.rpc import RayletClient
from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy

pytestmark = pytest.mark.timeout(120)


def test_a_tls_cluster_has_no_plain_data_port():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, tls=True)
    try:
        strato.init(address=c.address)
        try:
            (n,) = strato.nodes()
            from strato.runtime import tls as tls_mod
            async def ask():
                client = RayletClient(f"{n['NodeManagerAddress']}:{n['NodeManagerPort']}", c.token)
                try:
                    return await client.call("GetObjectStoreInfo", raylet_pb2.GetObjectStoreInfoRequest(), timeout=10)
                finally:
                    await client.close()
            assert tls_mod.current() is not None
            assert asyncio.run(ask()).data_port == 0
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


@pytest.fixture(scope="module")
def two_nodes():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        other = c.add_node(num_cpus=1, resources={"there": 1})
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            yield c, other
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def data_port(address, token):
    async def ask():
        client = RayletClient(address, token)
        try:
            return (await client.call("GetObjectStoreInfo", raylet_pb2.GetObjectStoreInfoRequest(), timeout=10)).data_port
        finally:
            await client.close()
    return asyncio.run(ask())


def raylet_address(node_id):
    (n,) = [n for n in strato.nodes() if n["NodeID"] == node_id]
    return f"{n['NodeManagerAddress']}:{n['NodeManagerPort']}"


@strato.remote(resources={"there": 1})
def make(n, seed):
    return np.random.default_rng(seed).integers(0, 255, n, dtype=np.uint8)


@strato.remote
def digest(array):
    return hashlib.sha256(array.tobytes()).hexdigest(), strato.get_runtime_context().get_node_id()


def test_a_large_object_crosses_nodes_intact(two_nodes):
    c, other = two_nodes
    assert data_port(raylet_address(other.node_id), c.token) > 0
    for size in (3 << 20, 70 << 20 | 12345):           # one range, and several parallel ranges with a tail
        ref = make.remote(size, size)
        expected = hashlib.sha256(np.random.default_rng(size).integers(0, 255, size, dtype=np.uint8).tobytes())
        on_head = NodeAffinitySchedulingStrategy(c.head.node_id, soft=False)
        got, node = strato.get(digest.options(scheduling_strategy=on_head).remote(ref), timeout=60)
        assert node == c.head.node_id and got == expected.hexdigest()


def test_the_port_closes_on_a_peer_that_does_not_say_the_hello(two_nodes):
    c, other = two_nodes
    port = data_port(raylet_address(other.node_id), c.token)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack("!BHHQQ", 1, 20, 0, 0, 0) + b"x" * 64)     # a request, no hello
        try:
            answer = s.recv(100)
        except ConnectionResetError:
            answer = b""
        assert answer == b"", "the server answered a peer that never proved the token"


def test_a_wrong_token_is_refused_and_an_unknown_object_is_lost(two_nodes):
    c, other = two_nodes
    port = data_port(raylet_address(other.node_id), c.token)

    async def attempt(token, oid):
        async def reserve(size, owner, site):
            raise AssertionError("nothing should be reserved")
        return await transfer.pull("127.0.0.1", port, token, oid, "", reserve, memoryview(bytearray(1)))

    with pytest.raises(handshake.WrongToken):
        asyncio.run(attempt("not-the-token", b"\0" * 20))
    with pytest.raises(strato.exceptions.ObjectLostError, match="no longer has"):
        asyncio.run(attempt(c.token, b"\1" * 20))


def test_ranges_cover_the_object_exactly():
    assert transfer.split(0, 4, 16) == [(0, 0)]
    assert transfer.split(10, 4, 16) == [(0, 10)]
    parts = transfer.split(100, 4, 16)
    assert len(parts) == 4 and parts[0] == (0, 25) and sum(n for _, n in parts) == 100
    parts = transfer.split(70, 4, 16)
    assert [off for off, _ in parts] == sorted(off for off, _ in parts)
    assert sum(n for _, n in parts) == 70 and all(off + n <= 70 for off, n in parts)
