"""The ``strato`` command line: start a detached cluster, add a node, inspect, stop.

Every command runs with ``--temp-dir`` pointing at a private directory (the
``cli_cluster`` fixture), so the tests never touch another cluster on this
machine, and the fixture fails the test if ``strato stop`` leaves anything
running.
"""
import re
import socket
import stat
from pathlib import Path

import pytest

import strato

pytestmark = pytest.mark.timeout(180)


def port_is_open(address):
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def test_the_console_script_and_module_entry_point_both_work(cli_cluster):
    script = cli_cluster.run("--help", use_console_script=True, check=False)
    module = cli_cluster.run("--help", check=False)
    assert script.returncode == 0, script.stderr
    assert module.returncode == 0, module.stderr
    for out in (script.stdout, module.stdout):
        for command in ("start", "stop", "status"):
            assert command in out


def test_start_head_prints_an_address_that_a_driver_can_connect_to(cli_cluster):
    address = cli_cluster.start_head(num_cpus=2)
    assert address.endswith(f":{cli_cluster.port}")
    assert port_is_open(address)

    strato.init(address=address, _temp_dir=cli_cluster.temp_dir)
    try:
        assert strato.cluster_resources()["CPU"] == 2.0
        assert strato.get(strato.remote(lambda: "hello").remote(), timeout=60) == "hello"
    finally:
        strato.shutdown()


def test_the_started_cluster_outlives_the_start_command(cli_cluster):
    cli_cluster.start_head(num_cpus=1)
    # `strato start` has returned; its daemons must keep running.
    assert cli_cluster.leftover_processes(), "no cluster processes are running after start"
    status = cli_cluster.run("status")
    assert "CPU" in status.stdout


def test_start_writes_a_private_token_file(cli_cluster):
    cli_cluster.start_head(num_cpus=1)
    tokens = [p for p in Path(cli_cluster.temp_dir).rglob("token") if p.is_file()]
    assert tokens, f"no token file under {cli_cluster.temp_dir}"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tokens), \
        [(str(p), oct(p.stat().st_mode)) for p in tokens]


def test_address_auto_finds_the_cluster_through_the_temp_dir(cli_cluster):
    cli_cluster.start_head(num_cpus=2, resources={"gizmo": 3})
    strato.init(address="auto", _temp_dir=cli_cluster.temp_dir)
    try:
        total = strato.cluster_resources()
        assert total["CPU"] == 2.0
        assert total["gizmo"] == 3.0
    finally:
        strato.shutdown()


def test_status_shows_nodes_and_used_over_total_resources(cli_cluster):
    cli_cluster.start_head(num_cpus=2, resources={"gizmo": 3})
    out = cli_cluster.run("status").stdout
    assert "CPU" in out and "gizmo" in out, out
    # used/total, e.g. "0.0/2.0 CPU"
    assert re.search(r"\d+(\.\d+)?\s*/\s*2(\.0+)?\b", out), out
    assert re.search(r"\d+(\.\d+)?\s*/\s*3(\.0+)?\b", out), out


def test_a_second_node_joins_with_start_address(cli_cluster, poll):
    address = cli_cluster.start_head(num_cpus=1)
    cli_cluster.add_node(num_cpus=1, resources={"gadget": 1})

    strato.init(address=address, _temp_dir=cli_cluster.temp_dir)
    try:
        assert poll(lambda: len([n for n in strato.nodes() if n["Alive"]]) == 2, 30), strato.nodes()
        alive = [n for n in strato.nodes() if n["Alive"]]
        assert strato.cluster_resources()["CPU"] == 2.0

        @strato.remote(resources={"gadget": 1})
        def on_gadget_node():
            return strato.get_runtime_context().get_node_id()

        gadget_node = [n["NodeID"] for n in alive if n["Resources"].get("gadget")]
        assert strato.get(on_gadget_node.remote(), timeout=60) == gadget_node[0]
    finally:
        strato.shutdown()

    out = cli_cluster.run("status").stdout
    assert "gadget" in out, out


def test_stop_ends_every_process_and_closes_the_port(cli_cluster, poll):
    address = cli_cluster.start_head(num_cpus=1)
    cli_cluster.add_node(num_cpus=1)
    assert cli_cluster.leftover_processes()

    result = cli_cluster.stop()
    assert result.returncode == 0, result.stderr

    assert poll(lambda: not cli_cluster.leftover_processes(), 15), \
        [p.pid for p in cli_cluster.leftover_processes()]
    assert poll(lambda: not port_is_open(address), 15)



def test_start_on_a_port_that_is_taken_fails_cleanly(cli_cluster):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli_cluster.run("start", "--head", "--port", str(port), "--num-cpus", "1",
                                 check=False)
    assert result.returncode != 0, result.stdout
    assert str(port) in result.stdout + result.stderr
    # Nothing half-started may be left running.
    import time
    time.sleep(1)
    assert not cli_cluster.leftover_processes(), [p.cmdline() for p in cli_cluster.leftover_processes()]


def test_status_without_a_running_cluster_fails(cli_cluster):
    result = cli_cluster.run("status", check=False)
    assert result.returncode != 0, result.stdout


def test_a_new_cluster_on_the_same_address_is_asked_for_its_own_state_endpoint(cli_cluster, poll):
    from strato.util import state
    from strato._testing import free_port
    port = free_port()
    cli_cluster.run("start", "--head", "--port", str(port), "--num-cpus", "1")
    address = f"127.0.0.1:{port}"
    first = strato.init(address=address, _temp_dir=cli_cluster.temp_dir)["dashboard_url"]
    try:
        assert state.list_nodes()
    finally:
        strato.shutdown()
    assert cli_cluster.stop().returncode == 0
    assert poll(lambda: not cli_cluster.leftover_processes(), 15)
    # The first cluster's state port stays taken (bound, not listening: a connection is refused), so
    # the next cluster's state API is elsewhere; a driver that kept the first URL would be refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as old_state_port:
        old_state_port.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)      # its last connections wait
        old_state_port.bind(("127.0.0.1", int(first.rsplit(":", 1)[1])))
        cli_cluster.run("start", "--head", "--port", str(port), "--num-cpus", "1")
        second = strato.init(address=address, _temp_dir=cli_cluster.temp_dir)["dashboard_url"]
        try:
            assert second != first
            [node] = state.list_nodes()
            assert node["state"] == "ALIVE"
        finally:
            strato.shutdown()
