"""Connecting to a running cluster needs its token; garbage on the wire is harmless."""
import os
import socket
import stat
from pathlib import Path

import pytest

import strato
from strato.cluster_utils import Cluster
from strato.exceptions import AuthenticationError, RayError

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def running_cluster():
    """A cluster this process is NOT connected to (so tests can try to connect)."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        yield c
    finally:
        if strato.is_initialized():
            strato.shutdown()
        c.shutdown()


def host_port(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def test_authentication_error_is_a_ray_error_and_a_connection_error():
    assert issubclass(AuthenticationError, RayError)
    assert issubclass(AuthenticationError, ConnectionError)


def test_a_wrong_token_is_rejected_with_authentication_error(running_cluster):
    with pytest.raises(AuthenticationError) as info:
        strato.init(address=running_cluster.address, _token="wrong")
    assert "token" in str(info.value).lower()
    assert not strato.is_initialized()


def test_the_right_token_is_found_automatically(running_cluster):
    strato.init(address=running_cluster.address)
    try:
        assert strato.get(strato.remote(lambda: "authenticated").remote(), timeout=60) == "authenticated"
    finally:
        strato.shutdown()


def test_a_failed_login_does_not_prevent_a_later_correct_one(running_cluster):
    with pytest.raises(AuthenticationError):
        strato.init(address=running_cluster.address, _token="also-wrong")
    strato.init(address=running_cluster.address)
    try:
        assert strato.get(strato.put(123)) == 123
    finally:
        strato.shutdown()


def test_random_bytes_sent_to_the_cluster_port_do_not_break_it(running_cluster):
    host, port = host_port(running_cluster.address)
    for payload in (b"\x00" * 64, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096)):
        with socket.create_connection((host, port), timeout=5) as s:
            try:
                s.sendall(payload)
                s.settimeout(2)
                s.recv(1024)
            except OSError:
                pass  # the server may reset the connection: that is fine
    strato.init(address=running_cluster.address)
    try:
        assert strato.get(strato.remote(lambda: 1 + 1).remote(), timeout=60) == 2
    finally:
        strato.shutdown()


def test_token_file_written_by_the_cli_is_private_and_works_as_explicit_token(cli_cluster):
    address = cli_cluster.start_head(num_cpus=1)
    token_files = [p for p in Path(cli_cluster.temp_dir).rglob("token") if p.is_file()]
    assert token_files, f"no file named 'token' under {cli_cluster.temp_dir}"
    for path in token_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {oct(path.stat().st_mode)}"

    token = token_files[0].read_text().strip()
    assert token and token != "wrong"
    strato.init(address=address, _token=token)
    try:
        assert strato.get(strato.put("explicit token works")) == "explicit token works"
    finally:
        strato.shutdown()

    with pytest.raises(AuthenticationError):
        strato.init(address=address, _token=token[::-1] + "x")
    assert not strato.is_initialized()
