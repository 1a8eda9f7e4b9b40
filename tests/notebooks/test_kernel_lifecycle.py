"""The "Python 3 (strato)" kernel: magics at start, and no process left behind at shutdown."""
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
    assert "Disconnecting" in text


def test_connect_joins_a_running_cluster_by_address(cli_cluster, kernel):
    import glob
    import os

    address = cli_cluster.start_head(num_cpus=1)
    token = open(glob.glob(os.path.join(cli_cluster.temp_dir, "session_*", "token"))[0]).read().strip()
    reply = kernel.execute(f"%cluster connect {address} --token {token}")
    text = kernel.streams_of(reply["msg_id"])
    assert reply["content"]["status"] == "ok", text
    assert f"Strato cluster at {address} (joined)" in text
    reply = kernel.execute("%%remote\nimport os\nprint('on the joined cluster')\nos.getpid()")
    assert reply["content"]["status"] == "ok"
    assert kernel.streams_of(reply["msg_id"]) == "on the joined cluster\n"
    reply = kernel.execute("%cluster stop")
    assert f"Disconnected from {address}" in kernel.streams_of(reply["msg_id"])
