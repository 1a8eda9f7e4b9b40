"""Attacks on a running cluster's ports, each refused: on a plain cluster and on one started with TLS.

Port kinds: the framed hot path (driver, task worker, actor: TCP) and the
object store's unix socket; the control plane's gRPC (GCS, raylet); the
state API's HTTP. An attacker here knows the address but not the token
(under TLS: is even given a cluster certificate, to reach the hello layer).
"""
import asyncio
import os
import pickle
import socket
import ssl
import time

import grpc
import psutil
import pytest

import strato
from strato import _context
from strato.cluster_utils import Cluster
from strato.exceptions import AuthenticationError, StratoError
from strato.runtime import rpc, tls, transport
from strato.runtime.protocol import gcs_pb2, gcs_pb2_grpc, handshake, messages

pytestmark = pytest.mark.timeout(240)
FRAMED = ["driver", "worker", "actor", "store"]


class Evil:
    """Unpickling this creates a directory: proof that a pickle was decoded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def evil_frame(path) -> bytes:
    data = pickle.dumps([Evil(str(path))])
    return len(data).to_bytes(8, "big") + data


def test_the_evil_frame_does_run_code_when_unpickled(tmp_path):
    """Control: the payload the attacks send would really run (so its absence below means something)."""
    marker = tmp_path / "control"
    pickle.loads(evil_frame(marker)[8:])
    assert marker.is_dir()


@strato.remote
def worker_address():
    return _context.worker().address


@strato.remote
class Probe:
    def address(self):
        return _context.worker().address


@pytest.fixture(scope="module", params=["plain", "tls"])
def target(request):
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, tls=request.param == "tls")
    try:
        strato.init(address=c.address)
        probe = Probe.remote()
        cw = _context.worker()
        ends = {
            "driver": cw.address,
            "actor": strato.get(probe.address.remote(), timeout=60),
            "store": cw.node_store.client.socket_path,
            "gcs": cw.gcs_address,
            "raylet": cw.raylet_address,
        }
        from strato.util import state
        ends["http"] = state.dashboard_url(cw).split("://", 1)[1]
        yield {"cluster": c, "ends": ends, "tls": tls.current(), "token": c.token, "probe": probe}
    finally:
        strato.shutdown()
        c.shutdown()


def address_of(t, kind: str) -> str:
    """An endpoint's address; a task worker's is asked afresh (an idle one may have been reaped)."""
    if kind == "worker":
        return strato.get(worker_address.remote(), timeout=60)
    return t["ends"][kind]


def raw(t, kind: str, *, tls_layer: bool = True) -> socket.socket:
    """A socket to an endpoint; under TLS wrapped with the cluster's own client certificate (an insider
    without the token), unless tls_layer=False (an outsider: plain TCP to a TLS port)."""
    addr = address_of(t, kind)
    if kind == "store":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
        return s
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    if t["tls"] is not None and tls_layer:
        ctx = t["tls"].client_context()
        ctx.check_hostname = False
        s = ctx.wrap_socket(s)
    return s


def closed_within(s: socket.socket, seconds: float) -> bool:
    """Whether the peer closes the connection within `seconds` (anything it sends first is read and dropped)."""
    s.settimeout(0.5)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if s.recv(4096) == b"":
                return True
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


def is_open(s: socket.socket) -> bool:
    """Without waiting: False once the peer closed (or reset) the connection."""
    s.setblocking(False)
    try:
        return s.recv(4096) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def authenticated(t, kind: str) -> socket.socket:
    """A socket that completed the token hello and the hello frame, as a legitimate peer."""
    s = raw(t, kind)
    handshake.client_handshake_sync(s, t["token"])
    hello = pickle.dumps(messages.encode([messages.Hello({"client_id": "test", "address": ""})]))
    s.sendall(len(hello).to_bytes(8, "big") + hello)
    s.settimeout(10)
    head = b""
    while len(head) < 8:
        head += s.recv(8 - len(head))
    size = int.from_bytes(head, "big")
    body = b""
    while len(body) < size:
        body += s.recv(size - len(body))
    assert type(messages.decode(pickle.loads(body))[0]) is messages.Welcome
    return s


def cluster_still_works(t):
    assert strato.get(t["probe"].address.remote(), timeout=60) == t["ends"]["actor"]
    assert strato.get(worker_address.remote(), timeout=60)


@pytest.mark.parametrize("kind", FRAMED)
def test_a_pickle_frame_before_auth_is_never_decoded(target, kind, tmp_path):
    marker = tmp_path / f"pwned-{kind}"
    s = raw(target, kind)
    s.sendall(evil_frame(marker))
    assert closed_within(s, 3), "the endpoint kept a peer that sent a pickle instead of the hello"
    s.close()
    # a valid-looking hello, then the pickle where the proof belongs
    s = raw(target, kind)
    s.sendall(handshake.ClientHandshake("not the token").start())
    s.settimeout(10)
    reply = b""
    while len(reply) < handshake.SERVER_HELLO_BYTES:
        reply += s.recv(handshake.SERVER_HELLO_BYTES - len(reply))
    s.sendall(evil_frame(marker))
    assert closed_within(s, 3)
    s.close()
    time.sleep(0.2)
    assert not marker.exists(), f"the {kind} endpoint unpickled a frame from an unauthenticated peer"
    cluster_still_works(target)


@pytest.mark.parametrize("kind", FRAMED)
def test_a_huge_frame_header_is_dropped_unbuffered(target, kind):
    header = (1 << 62).to_bytes(8, "big")
    s = raw(target, kind)                                   # before auth
    s.sendall(header + b"\x00" * 32)
    assert closed_within(s, 3)
    s.close()
    s = authenticated(target, kind)                         # after auth: over max_frame_bytes
    s.sendall(header + b"\x00" * 4096)
    assert closed_within(s, 3), "an announced 2^62-byte frame did not drop the peer"
    s.close()
    cluster_still_works(target)


def endpoint_pid(t, kind: str) -> int:
    if kind == "driver":
        return os.getpid()
    if kind == "store":
        return t["cluster"].head.raylet_pid
    host, port = address_of(t, kind).rsplit(":", 1)
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == int(port):
            return conn.pid
    raise LookupError(f"nothing listens on {t['ends'][kind]}")


@pytest.mark.parametrize("kind", FRAMED)
def test_a_thousand_idle_connections_do_not_lock_out_a_real_peer(target, kind):
    rss_before = psutil.Process(endpoint_pid(target, kind)).memory_info().rss
    idle = []
    try:
        for _ in range(1000):
            idle.append(raw(target, kind, tls_layer=False) if kind != "store" else raw(target, kind))
        start = time.monotonic()
        real = authenticated(target, kind)                  # a legitimate peer gets in at once
        assert time.monotonic() - start < 5
        real.close()
        cluster_still_works(target)
        # the endpoint holds at most its cap of them (plain TCP and unix: the hello gate; TLS: the handshake timeout)
        time.sleep(handshake.HELLO_DEADLINE_S + 1.5)
        still_open = sum(1 for s in idle if is_open(s))
        assert still_open == 0, f"{still_open} idle connections outlived the {handshake.HELLO_DEADLINE_S} s deadline"
    finally:
        for s in idle:
            s.close()
    grown = psutil.Process(endpoint_pid(target, kind)).memory_info().rss - rss_before
    assert grown < 200 << 20, f"the endpoint grew by {grown >> 20} MiB"


@pytest.mark.parametrize("kind", ["gcs", "raylet", "http"])
def test_a_thousand_idle_connections_to_the_control_plane_do_not_lock_it_out(target, kind):
    idle = []
    try:
        for _ in range(1000):
            idle.append(raw(target, kind, tls_layer=False))
        assert len(strato.nodes()) == 1                     # gRPC to the GCS
        cluster_still_works(target)                         # leases from the raylet
        from strato.util import state
        assert state.list_nodes()                           # the HTTP state API
    finally:
        for s in idle:
            s.close()


# ------------------------------------------------------------- impostor servers
def fake_framed_server(t, kind: str, tmp_path):
    """A server that knows no token: answers the hello with a made-up proof and a pickle bomb.
    Returns (address or path, list of bytes received)."""
    received = []
    if kind == "store":
        path = str(tmp_path / "fake.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        addr = path
    else:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{srv.getsockname()[1]}"
    srv.listen(1)
    srv.settimeout(15)
    bomb = evil_frame(tmp_path / "client-pwned")

    def serve():
        conn, _ = srv.accept()
        if t["tls"] is not None and kind != "store":
            conn = t["tls"].server_context().wrap_socket(conn, server_side=True)
        conn.settimeout(5)
        try:
            received.append(conn.recv(4096))
            conn.sendall(handshake._SERVER_HELLO.pack(handshake.MAGIC, handshake.VERSION, 0, os.urandom(32),
                                                      os.urandom(32)) + handshake.ACCEPTED + bomb)
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                received.append(chunk)
        except OSError:
            pass
        finally:
            conn.close()
            srv.close()

    import threading
    threading.Thread(target=serve, daemon=True).start()
    return addr, received


@pytest.mark.parametrize("kind", ["driver", "store"])
def test_a_client_sends_nothing_secret_to_a_server_without_the_token(target, kind, tmp_path):
    addr, received = fake_framed_server(target, kind, tmp_path)
    token = target["token"]
    if kind == "store":
        from strato.runtime.object_store.client.store_client import _Conn
        with pytest.raises(AuthenticationError, match="does not know this cluster's token"):
            _Conn(addr, token, "test-client")
    else:
        async def attempt():
            host, port = addr.rsplit(":", 1)
            await transport.connect(host, int(port), token, {"address": "x"}, lambda *a: None, lambda *a: None)
        with pytest.raises(AuthenticationError, match="does not know this cluster's token"):
            asyncio.run(attempt())
    time.sleep(0.3)
    wire = b"".join(received)
    assert len(wire) == handshake.CLIENT_HELLO_BYTES, f"the client sent {len(wire)} bytes, not just its hello"
    assert token.encode() not in wire
    assert not (tmp_path / "client-pwned").exists(), "the client unpickled a frame from an impostor"


def test_grpc_calls_carry_no_token_and_a_sniffed_credential_is_worth_nothing(target):
    """A gRPC call carries a single-use proof bound to its method and request bytes: an impostor server (or
    someone sniffing a plain link) that captures one cannot use it for anything else, nor twice."""
    seen = []

    class Capture(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, details):
            seen.append(dict(details.invocation_metadata))
            return await continuation(details)

    async def scenario():
        server = grpc.aio.server(interceptors=[Capture()])
        gcs_pb2_grpc.add_GcsServiceServicer_to_server(gcs_pb2_grpc.GcsServiceServicer(), server)
        port = rpc.add_port(server, "127.0.0.1:0")
        await server.start()
        client = rpc.GcsClient(f"127.0.0.1:{port}", target["token"])
        request = gcs_pb2.KVGetRequest(namespace="fn", key=b"k")
        with pytest.raises(StratoError, match="UNIMPLEMENTED"):     # the impostor has no such method
            await client.call("KVGet", request, timeout=5)
        await client.close()
        await server.stop(0)
        cred = seen[0][rpc.AUTH_KEY]
        assert target["token"] not in str(seen[0])
        real = grpc.aio.insecure_channel(target["ends"]["gcs"]) if target["tls"] is None else \
            grpc.aio.secure_channel(target["ends"]["gcs"], target["tls"].grpc_channel_credentials(),
                                    options=target["tls"].grpc_channel_options())
        stub = gcs_pb2_grpc.GcsServiceStub(real)

        async def refused(call):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, info.value
            return info.value.details()

        # the sniffed credential with other request bytes, or for another method: refused
        put = gcs_pb2.KVPutRequest(namespace="fn", key=b"k", value=b"planted", overwrite=True)
        assert "wrong cluster token" in await refused(stub.KVPut(put, metadata=((rpc.AUTH_KEY, cred),), timeout=5))
        assert "wrong cluster token" in await refused(
            stub.KVGet(gcs_pb2.KVGetRequest(namespace="fn", key=b"other"), metadata=((rpc.AUTH_KEY, cred),),
                       timeout=5))
        # a good credential works once; its replay, and a call without one, are refused
        fresh = rpc.call_credential(rpc.call_key(target["token"]), "GetAllNodes", gcs_pb2.Empty().SerializeToString())
        await stub.GetAllNodes(gcs_pb2.Empty(), metadata=((rpc.AUTH_KEY, fresh),), timeout=5)
        assert "replayed" in await refused(stub.GetAllNodes(gcs_pb2.Empty(), metadata=((rpc.AUTH_KEY, fresh),),
                                                            timeout=5))
        assert "no credential" in await refused(stub.GetAllNodes(gcs_pb2.Empty(), timeout=5))
        await real.close()

    asyncio.run(scenario())


def test_a_grpc_message_over_the_control_plane_cap_is_refused_unread(target):
    """The GCS takes messages up to rpc.MAX_MESSAGE_BYTES (not 512 MiB); a bigger one is refused and the
    GCS goes on."""
    async def scenario():
        options = [("grpc.max_send_message_length", 2 * rpc.MAX_MESSAGE_BYTES)]
        real = grpc.aio.insecure_channel(target["ends"]["gcs"], options=options) if target["tls"] is None else \
            grpc.aio.secure_channel(target["ends"]["gcs"], target["tls"].grpc_channel_credentials(),
                                    options=options + target["tls"].grpc_channel_options())
        stub = gcs_pb2_grpc.GcsServiceStub(real)
        big = gcs_pb2.KVPutRequest(namespace="x", key=b"k", value=b"\0" * (rpc.MAX_MESSAGE_BYTES + 1024))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.KVPut(big, timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value
        await real.close()

    asyncio.run(scenario())
    assert len(strato.nodes()) == 1
