"""Clusters over TLS, from the command line and from cluster_utils, and where a cluster may listen."""
import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import grpc
import psutil
import pytest

import strato
from strato.cluster_utils import Cluster
from strato.runtime import tls
from strato.runtime.protocol.handshake import HELLO_DEADLINE_S

pytestmark = pytest.mark.timeout(240)


@strato.remote(resources={"far": 1})
def where_am_i(array):
    import strato as s
    return s.get_runtime_context().get_node_id(), float(array.sum())


def test_a_two_node_cluster_over_tls_on_two_loopback_addresses():
    import numpy as np
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, tls=True)
    try:
        far = c.add_node(num_cpus=1, resources={"far": 1}, node_ip_address="127.0.0.2")
        strato.init(address=c.address)
        c.wait_for_nodes()
        assert {n["NodeManagerAddress"] for n in strato.nodes()} == {"127.0.0.1", "127.0.0.2"}
        big = strato.put(np.ones(1_000_000))          # made on the head, read on the other node
        node_id, total = strato.get(where_am_i.remote(big), timeout=60)
        assert node_id == far.node_id and total == 1_000_000.0
        # the far node's raylet speaks only TLS: a plain gRPC client gets nowhere
        raylet = next(f"{n['NodeManagerAddress']}:{n['NodeManagerPort']}" for n in strato.nodes()
                      if n["NodeID"] == far.node_id)
        channel = grpc.insecure_channel(raylet)
        with pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=3)
        channel.close()
    finally:
        strato.shutdown()
        c.shutdown()


def test_a_certificate_of_another_ca_is_refused_at_the_tls_layer(tmp_path):
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, tls=True)
    try:
        strato.init(address=c.address)
        from strato import _context
        host, port = _context.worker().address.rsplit(":", 1)
        stranger = tls.generate(str(tmp_path / "other-ca"), [])
        ctx = stranger.client_context()
        ctx.check_hostname = False
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):    # we do not trust its CA ...
                ctx.wrap_socket(raw)
        ctx.verify_mode = ssl.CERT_NONE                           # ... and it does not trust ours:
        with socket.create_connection((host, int(port)), timeout=5) as raw, ctx.wrap_socket(raw) as s:
            started = time.monotonic()
            assert s.recv(1) == b""                               # closed with nothing sent, at once --
            assert time.monotonic() - started < HELLO_DEADLINE_S / 2, "the server waited for a hello"
        assert strato.get(strato.put("still fine")) == "still fine"
    finally:
        strato.shutdown()
        c.shutdown()


def test_cli_head_with_a_generated_ca_and_a_node_joining_with_copies_of_its_files(cli_cluster, tmp_path):
    address = cli_cluster.start_head(num_cpus=1, extra_args=["--tls-generate"])
    import pathlib
    tls_dirs = list(pathlib.Path(cli_cluster.temp_dir).glob("session_*/tls"))
    assert len(tls_dirs) == 1
    given = tmp_path / "given"
    given.mkdir()
    for name in ("ca.crt", "node.crt", "node.key"):
        shutil.copy(tls_dirs[0] / name, given / name)
    token_file = next(pathlib.Path(cli_cluster.temp_dir).glob("session_*/token"))
    shutil.copy(token_file, given / "token")
    other_root = tempfile.mkdtemp(prefix="st2-", dir="/tmp")   # as another machine: nothing to look up here
    try:
        joined = run_in(cli_cluster, other_root, "start", "--address", address, "--num-cpus", "1",
                        "--node-ip-address", "127.0.0.3", "--resources", json.dumps({"far": 1}),
                        "--token-file", str(given / "token"), "--tls-ca", str(given / "ca.crt"),
                        "--tls-cert", str(given / "node.crt"), "--tls-key", str(given / "node.key"))
        assert joined.returncode == 0 and "joined" in joined.stdout, joined.stdout + joined.stderr
        check_cluster_over_tls(cli_cluster, address, given)
    finally:
        run_in(cli_cluster, other_root, "stop")
        shutil.rmtree(other_root, ignore_errors=True)


def run_in(cli, temp_root: str, *args):
    """`python -m strato ARGS --temp-dir TEMP_ROOT` with the fixture's environment (so cleanup finds it)."""
    return subprocess.run([sys.executable, "-m", "strato", *args, "--temp-dir", temp_root], env=cli.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)


def check_cluster_over_tls(cli_cluster, address, given):
    status = cli_cluster.run("status", "--address", address)
    assert "2 node(s) alive" in status.stdout, status.stdout
    # without certificates, the same command cannot talk to the cluster
    empty_root = tempfile.mkdtemp(prefix="st3-", dir="/tmp")
    try:
        bare = run_in(cli_cluster, empty_root, "status", "--address", address, "--token-file", str(given / "token"))
    finally:
        shutil.rmtree(empty_root, ignore_errors=True)
    assert bare.returncode != 0 and "2 node(s) alive" not in bare.stdout
    strato.init(address=address, _temp_dir=cli_cluster.temp_dir)
    try:
        import numpy as np
        node_id, total = strato.get(where_am_i.remote(np.arange(10.0)), timeout=60)
        assert total == 45.0 and node_id in {n["NodeID"] for n in strato.nodes()}
    finally:
        strato.shutdown()


def test_listening_on_every_interface_without_tls_is_refused(cli_cluster):
    proc = cli_cluster.run("start", "--head", "--node-ip-address", "0.0.0.0", "--num-cpus", "1", check=False)
    assert proc.returncode != 0
    assert "--allow-insecure-network" in proc.stderr and "TLS" in proc.stderr
    assert not cli_cluster.leftover_processes()


def non_loopback_ipv4() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not tls.is_loopback(a.address):
                return a.address
    return None


def test_a_non_loopback_address_without_tls_warns_and_with_tls_does_not(cli_cluster):
    ip = non_loopback_ipv4()
    assert ip, "this machine has no non-loopback IPv4 address to listen on"
    plain = cli_cluster.run("start", "--head", "--node-ip-address", ip, "--num-cpus", "1")
    assert "WARNING" in plain.stderr and f"listening on {ip} without TLS" in plain.stderr
    cli_cluster.run("stop")
    secure = cli_cluster.run("start", "--head", "--node-ip-address", ip, "--num-cpus", "1", "--tls-generate")
    assert "WARNING" not in secure.stderr and "TLS (mutual)" in secure.stdout
    cli_cluster.run("stop")
