"""The "Python 3 (strato)" kernel: magics at start, joining a running cluster (the token from a file, the
environment or the line), and no process left behind at shutdown."""
import glob
import os
import uuid

import psutil

from conftest import Kernel


def _marked(marker: str) -> list:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("STRATO_KERNEL_TEST_MARK") == marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _stderr_of(kernel, msg_id: str) -> str:
    return "".join(m["content"]["text"] for m in kernel.messages
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
                   and m["parent_header"].get("msg_id") == msg_id)


def _head_token(cli_cluster) -> str:
    [path] = glob.glob(os.path.join(cli_cluster.temp_dir, "session_*", "token"))
    return open(path).read().strip()


def test_strato_kernel_has_the_magics_and_shutdown_stops_its_cluster(poll):
    marker = uuid.uuid4().hex
    k = Kernel(env={"STRATO_KERNEL_TEST_MARK": marker})
    try:
        reply = k.execute("%cluster connect --num-cpus 1")       # no %load_ext: the kernelspec loads it
        assert reply["content"]["status"] == "ok"
        assert "embedded" in k.streams_of(reply["msg_id"])
        reply = k.execute("%%remote\nv = 6 * 7")
        assert reply["content"]["status"] == "ok"
        # kernel, GCS, raylet and at least one worker
        assert len(_marked(marker)) >= 4
    finally:
        k.shutdown()
    left = poll(lambda: not _marked(marker), timeout=15)
    assert left, [p.cmdline() for p in _marked(marker)]


def test_connect_twice_and_reconnect_elsewhere_is_harmless(kernel):
    assert kernel.execute("%cluster connect")["content"]["status"] == "ok"
    reply = kernel.execute("%cluster connect")
    assert "Already connected" in kernel.streams_of(reply["msg_id"])
    reply = kernel.execute("%cluster connect 127.0.0.1:1")           # nothing listens there
    text = kernel.streams_of(reply["msg_id"])
    assert reply["content"]["status"] == "error"
    # checked before anything is torn down: the embedded cluster (and what it holds) stays
    assert "Cannot reach 127.0.0.1:1" in text and "Still connected to" in text, text
    reply = kernel.execute("%%remote\n6 * 7")
    assert reply["content"]["status"] == "ok", kernel.streams_of(reply["msg_id"])


def test_connect_joins_a_running_cluster_by_address(cli_cluster, kernel):
    address = cli_cluster.start_head(num_cpus=1)
    token = _head_token(cli_cluster)
    reply = kernel.execute(f"%cluster connect {address} --token {token}")
    text = kernel.streams_of(reply["msg_id"])
    assert reply["content"]["status"] == "ok", text
    assert f"Strato cluster at {address} (joined)" in text
    warning = _stderr_of(kernel, reply["msg_id"])       # the token is in the notebook now: it warns
    assert "--token" in warning and "--token-file" in warning and "STRATO_TOKEN" in warning, warning
    reply = kernel.execute("%%remote\nimport os\nprint('on the joined cluster')\nos.getpid()")
    assert reply["content"]["status"] == "ok"
    assert kernel.streams_of(reply["msg_id"]) == "on the joined cluster\n"
    reply = kernel.execute("%cluster stop")
    assert f"Disconnected from {address}" in kernel.streams_of(reply["msg_id"])


def test_connect_reads_the_token_from_a_token_file(cli_cluster, kernel, tmp_path):
    address = cli_cluster.start_head(num_cpus=1)
    path = tmp_path / "token"
    path.write_text(_head_token(cli_cluster) + "\n")
    path.chmod(0o600)
    reply = kernel.execute(f"%cluster connect {address} --token-file {path}")
    text = kernel.streams_of(reply["msg_id"])
    assert reply["content"]["status"] == "ok", text
    assert f"Strato cluster at {address} (joined)" in text
    assert _stderr_of(kernel, reply["msg_id"]) == ""
    assert kernel.execute("%cluster stop")["content"]["status"] == "ok"


def test_connect_reads_the_token_from_the_kernels_environment(cli_cluster):
    address = cli_cluster.start_head(num_cpus=1)
    k = Kernel(env={"STRATO_TOKEN": _head_token(cli_cluster)})
    try:
        reply = k.execute(f"%cluster connect {address}")
        text = k.streams_of(reply["msg_id"])
        assert reply["content"]["status"] == "ok", text
        assert f"Strato cluster at {address} (joined)" in text
        assert k.execute("%cluster stop")["content"]["status"] == "ok"
    finally:
        k.shutdown()
