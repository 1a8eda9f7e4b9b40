"""The temp root on a shared machine: squatted or loose folders are refused, links planted in it are never
followed, sessions are private, records of dead clusters go away, and `strato stop` keeps to its temp root.

Every cluster here runs under a temp dir made by the test (``cli_cluster``, ``another_cli``); teardown
stops exactly the processes each one started, found by its environment marker, by pid.
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

import strato
from strato._testing import free_port
from strato.exceptions import ClusterConnectionError, UnsafeTempDirError
from strato.runtime import temp_root

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def another_cli(cli_cluster):
    """A factory of more CliClusters (same class as cli_cluster's), each with its own temp dir and marker."""
    made = []

    def make(temp_dir=None):
        cli = type(cli_cluster)(temp_dir or tempfile.mkdtemp(prefix="st-", dir="/tmp"))
        made.append(cli)
        return cli

    try:
        yield make
    finally:
        for cli in made:
            procs = cli.leftover_processes()
            for p in procs:
                try:
                    p.terminate()
                except psutil.Error:
                    pass
            _, alive = psutil.wait_procs(procs, timeout=10)
            for p in alive:
                try:
                    p.kill()
                except psutil.Error:
                    pass
            shutil.rmtree(cli.temp_dir, ignore_errors=True)


def plant_links(root: Path, port: int) -> dict[Path, Path]:
    """Links where records will be written, each to a victim file of its own; returns {link: victim}."""
    (root / "clusters").mkdir(mode=0o700, exist_ok=True)
    (root / "victims").mkdir(mode=0o700)
    links = {root / "current.json": root / "victims" / "current",
             root / "clusters" / f"127.0.0.1_{port}.json": root / "victims" / "record"}
    for link, victim in links.items():
        victim.write_text("precious")
        link.symlink_to(victim)
    return links


def start_head_on(cli, port, **run_kwargs):
    result = cli.run("start", "--head", "--port", str(port), "--num-cpus", "1", **run_kwargs)
    cli.address, cli.port = f"127.0.0.1:{port}", port
    return result


def records(root) -> list[Path]:
    root = Path(root)
    return sorted(p for p in [root / "current.json", *root.glob("clusters/*.json")] if os.path.lexists(p))


# --------------------------------------------------------------------------- the temp root
def test_a_loose_squatted_root_is_refused_and_its_planted_links_are_not_written(cli_cluster):
    root = Path(cli_cluster.temp_dir)
    port = free_port()
    links = plant_links(root, port)
    os.chmod(root, 0o755)

    result = start_head_on(cli_cluster, port, check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "0755" in out and f"chmod 700 {root}" in out and "--temp-dir" in out, out
    assert "Traceback" not in out, out
    assert not cli_cluster.leftover_processes()
    for link, victim in links.items():
        assert victim.read_text() == "precious" and link.is_symlink()
    assert not list(root.glob("session_*"))

    with pytest.raises(UnsafeTempDirError, match="chmod 700"):
        strato.init(num_cpus=1, _temp_dir=str(root))
    assert not strato.is_initialized()
    status = cli_cluster.run("status", check=False)
    assert status.returncode != 0 and "chmod 700" in status.stdout + status.stderr


def test_links_planted_in_our_own_root_are_replaced_never_followed(cli_cluster):
    root = Path(cli_cluster.temp_dir)
    port = free_port()
    links = plant_links(root, port)

    start_head_on(cli_cluster, port)
    for link, victim in links.items():
        assert victim.read_text() == "precious", f"{victim} was written through {link}"
        assert not link.is_symlink() and stat.S_IMODE(link.stat().st_mode) == 0o600
        assert json.loads(link.read_text())["address"] == f"127.0.0.1:{port}"
    assert "CPU" in cli_cluster.run("status").stdout


def test_a_planted_link_at_the_token_file_is_replaced(tmp_path):
    session = tmp_path / "session_x"
    session.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (session / "token").symlink_to(victim)
    temp_root.write_token(str(session), "s3cret")
    assert victim.read_text() == "precious"
    assert not (session / "token").is_symlink()
    assert (session / "token").read_text() == "s3cret\n"
    assert temp_root.read_token(str(session)) == "s3cret"


def test_a_clusters_folder_replaced_by_a_link_stops_the_start_before_any_daemon(cli_cluster):
    root = Path(cli_cluster.temp_dir)
    elsewhere = Path(tempfile.mkdtemp(prefix="st-victim-", dir="/tmp"))
    try:
        (root / "clusters").symlink_to(elsewhere, target_is_directory=True)
        result = cli_cluster.run("start", "--head", "--num-cpus", "1", check=False)
        assert result.returncode != 0
        assert "clusters" in result.stdout + result.stderr
        assert list(elsewhere.iterdir()) == []
        assert not cli_cluster.leftover_processes()
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_root_owned_by_another_user_is_refused(cli_cluster):
    root = cli_cluster.temp_dir
    os.chown(root, 65534, 65534)             # nobody
    result = cli_cluster.run("start", "--head", "--num-cpus", "1", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "uid 65534" in out and "not to you" in out, out
    assert not cli_cluster.leftover_processes()
    with pytest.raises(UnsafeTempDirError, match="65534"):
        strato.init(num_cpus=1, _temp_dir=root)


def test_a_symlinked_root_is_refused(cli_cluster):
    real = Path(cli_cluster.temp_dir) / "real"
    real.mkdir(mode=0o700)
    link = Path(cli_cluster.temp_dir) / "link"
    link.symlink_to(real, target_is_directory=True)
    with pytest.raises(UnsafeTempDirError, match="symbolic link"):
        strato.init(num_cpus=1, _temp_dir=str(link))
    assert list(real.iterdir()) == []


def test_a_missing_root_is_made_private_whatever_the_umask(another_cli):
    parent = another_cli().temp_dir
    cli = another_cli(os.path.join(parent, "root"))
    old = os.umask(0)                         # inherited by `strato start` and the daemons
    try:
        cli.start_head(num_cpus=1)
    finally:
        os.umask(old)
    root = Path(cli.temp_dir)
    dirs = [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]
    assert {"logs", "sockets", "spill", "clusters"} <= {p.name for p in dirs}
    loose = [(str(p), oct(stat.S_IMODE(p.stat().st_mode))) for p in dirs if stat.S_IMODE(p.stat().st_mode) != 0o700]
    assert not loose, loose
    for f in [*root.glob("session_*/token"), *records(root)]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


# --------------------------------------------------------------------------- the registry
def test_the_record_of_a_cluster_whose_gcs_died_is_deleted(cli_cluster):
    address = cli_cluster.start_head(num_cpus=1)
    root = Path(cli_cluster.temp_dir)
    [record_path] = root.glob("clusters/*.json")
    record = json.loads(record_path.read_text())
    gcs = psutil.Process(record["pid"])
    assert "strato.runtime.gcs" in gcs.cmdline() and gcs in cli_cluster.leftover_processes()
    assert len(records(root)) == 2                           # clusters/<addr>.json and current.json

    gcs.send_signal(signal.SIGKILL)
    gcs.wait(10)
    status = cli_cluster.run("status", check=False)
    assert status.returncode != 0 and "No running cluster" in status.stdout, status.stdout
    assert records(root) == []
    with pytest.raises(ClusterConnectionError, match="no running cluster"):
        strato.init(address="auto", _temp_dir=str(root))
    with pytest.raises(ClusterConnectionError, match="Cannot reach"):    # said before any token lookup
        strato.init(address=address, _temp_dir=str(root))
    assert not strato.is_initialized()


def test_a_record_whose_pid_now_belongs_to_another_process_is_deleted(cli_cluster):
    root = Path(cli_cluster.temp_dir)
    (root / "clusters").mkdir(mode=0o700)
    session = root / "session_old"
    session.mkdir(mode=0o700)
    temp_root.write_token(str(session), "old-token")
    me = psutil.Process()            # alive, ours, started when the record says -- but not a GCS
    body = json.dumps({"address": "127.0.0.1:1", "session_dir": str(session), "pid": me.pid,
                       "started": me.create_time()}).encode()
    temp_root.write_private_file(str(root / "clusters" / "127.0.0.1_1.json"), body)
    temp_root.write_private_file(str(root / "current.json"), body)

    assert temp_root.lookup_token(str(root), "127.0.0.1:1") is None
    assert temp_root.current_cluster(str(root)) is None
    assert records(root) == []


def test_an_embedded_cluster_registers_but_is_not_current(cli_cluster):
    root = cli_cluster.temp_dir
    info = strato.init(num_cpus=1, _temp_dir=root)
    try:
        [record] = temp_root.live_clusters(root)
        assert record["address"] == info["address"] and record["session_dir"] == info["session_dir"]
        assert "strato.runtime.gcs" in psutil.Process(record["pid"]).cmdline()
        assert not os.path.lexists(os.path.join(root, "current.json"))   # address="auto" is for `start --head`
        status = cli_cluster.run("status", "--address", info["address"])    # token found through the record
        assert "CPU" in status.stdout
    finally:
        strato.shutdown()
    psutil.wait_procs([psutil.Process(record["pid"])] if psutil.pid_exists(record["pid"]) else [], timeout=10)
    assert temp_root.live_clusters(root) == []
    assert records(root) == []


# --------------------------------------------------------------------------- strato stop
def daemons_alive(cli) -> list:
    return [p for p in cli.leftover_processes()
            if any(m in " ".join(p.cmdline()) for m in ("strato.runtime.gcs", "strato.runtime.raylet"))]


def test_stop_ends_only_the_clusters_of_its_temp_root(cli_cluster, another_cli, poll):
    a, b = cli_cluster, another_cli()
    a.start_head(num_cpus=1)
    b.start_head(num_cpus=1)
    assert len(daemons_alive(a)) == 2 and len(daemons_alive(b)) == 2

    out = a.run("stop").stdout                 # `strato stop --temp-dir A`
    assert "Stopped 2 strato daemon(s)" in out and "--all" in out, out
    assert poll(lambda: not a.leftover_processes(), 15), a.leftover_processes()
    assert len(daemons_alive(b)) == 2
    assert "CPU" in b.run("status").stdout
    assert records(a.temp_dir) == [] and len(records(b.temp_dir)) == 2


# `strato stop --all` stops every detached daemon of this user, so it runs in namespaces of its own: a PID
# namespace (it can only see the daemons started in it, and whatever is left dies with the namespace) and a
# mount namespace with a private /dev/shm and TMPDIR (a raylet starting there would take the arenas of every
# other cluster on the machine, whose pids it cannot see, for leftovers of dead raylets).
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
           'mount -t tmpfs -o mode=1777 tmpfs /dev/shm && exec "$@"', "sh"]


def _can_unshare() -> bool:
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


ALL_SCRIPT = r"""
import json, subprocess, sys, time, psutil
def strato(*args):
    return subprocess.run([sys.executable, "-m", "strato", *args], capture_output=True, text=True, timeout=90)
def daemons():                # this script is the namespace's init: daemons that exit become its zombies
    return sorted(" ".join(p.info["cmdline"]) for p in psutil.process_iter(["cmdline", "status"])
                  if p.info["status"] != psutil.STATUS_ZOMBIE
                  and {"strato.runtime.gcs", "strato.runtime.raylet"} & set(p.info["cmdline"] or []))
a, b = sys.argv[1:3]
starts = [strato("start", "--head", "--num-cpus", "1", "--temp-dir", d) for d in (a, b)]
before = daemons()
stop = strato("stop", "--all")
deadline = time.monotonic() + 10
while daemons() and time.monotonic() < deadline:
    time.sleep(0.2)
print(json.dumps({"starts": [s.returncode for s in starts], "errors": [s.stderr for s in starts],
                  "before": before, "stop": stop.stdout + stop.stderr, "after": daemons()}))
"""


@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare --pid --mount-proc` and a tmpfs mount (root)")
def test_stop_all_ends_the_clusters_of_every_temp_root(cli_cluster, another_cli):
    a, b = cli_cluster.temp_dir, another_cli().temp_dir
    tmp = another_cli().temp_dir
    proc = subprocess.run([*UNSHARE, sys.executable, "-c", ALL_SCRIPT, a, b], env=dict(cli_cluster.env, TMPDIR=tmp),
                          capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["starts"] == [0, 0], result["errors"]
    assert len(result["before"]) == 4, result["before"]
    for root in (a, b):
        assert sum(f"{root}/session_" in cmd for cmd in result["before"]) == 2, result["before"]
    assert "Stopped 4 strato daemon(s) of every temp root" in result["stop"], result["stop"]
    assert result["after"] == []
    assert records(a) == [] and records(b) == []
