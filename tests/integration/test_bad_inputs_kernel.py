"""Bad input to the magics, in an IPython shell with a real embedded cluster.

The worst case first: `%cluster connect ADDR` while this kernel runs an
embedded cluster must check ADDR before letting the embedded cluster (and
the user's objects in it) go. A wrong address is a one-line UsageError and
everything stays as it was.
"""
import socket

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import strato
from strato._testing import free_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ip(fresh_strato):
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "strato")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "strato")
        InteractiveShell.clear_instance()


def test_connect_elsewhere_checks_the_new_cluster_before_leaving_the_embedded_one(ip, monkeypatch, capsys):
    ip.run_line_magic("cluster", "connect --num-cpus 1")
    ref = strato.put({"kept": list(range(10))})
    address = strato.get_runtime_context().gcs_address

    unused = f"127.0.0.1:{free_port()}"
    with pytest.raises(UsageError, match=f"Cannot reach {unused}.*Still connected to {address}"):
        ip.run_line_magic("cluster", f"connect {unused}")
    with pytest.raises(UsageError, match="does not resolve.*Still connected"):
        ip.run_line_magic("cluster", "connect nohost.invalid:6380")
    assert strato.is_initialized()
    assert strato.get(ref, timeout=30) == {"kept": list(range(10))}      # the objects are still there

    # Something listens there, but no token for it anywhere: refused too, before anything is torn down.
    monkeypatch.delenv("STRATO_TOKEN", raising=False)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        elsewhere = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(UsageError, match="no token for the cluster.*Still connected"):
            ip.run_line_magic("cluster", f"connect {elsewhere}")
    assert strato.get(ref, timeout=30)["kept"][-1] == 9
    capsys.readouterr()
    port = address.rsplit(":", 1)[1]
    ip.run_line_magic("cluster", f"connect localhost:{port}")      # the same cluster by another name
    assert "Already connected" in capsys.readouterr().out
    assert strato.get(ref, timeout=30)["kept"][0] == 0
    ip.run_line_magic("cluster", "stop")
    assert "Stopped the embedded cluster" in capsys.readouterr().out
    assert not strato.is_initialized()


def test_bad_flags_are_one_line_usage_errors_that_start_nothing(ip):
    for line, message in [("connect --num-cpus -1", "--num-cpus"),
                          ("connect --object-store-memory lots", "--object-store-memory"),
                          ("connect 127.0.0.1:6380 --num-cpus 2", "size a new embedded"),
                          ("connect --token abc", "give its address too"),
                          ("launch", "unknown command")]:
        with pytest.raises(UsageError, match=message):
            ip.run_line_magic("cluster", line)
    assert not strato.is_initialized()
