"""Helpers shared by Strato's tests, as `ray.cluster_utils` and `distributed.utils_test` are.

    wait_for(predicate, timeout)        poll until truthy; returns the last value (never raises)
    wait_collected(predicate, timeout)  the same, collecting garbage before each try
    settle(seconds)                     let in-flight messages land (gc, sleep, gc)
    store_stats() / node_store_stats()  the connected cluster's object store statistics
    num_objects() / wait_store_empty()  objects in the only node's store; wait until none are left
    digest(buffer)                      sha256 of a value's bytes (compare arrays without copies)
    process_gone(pid) / live_children() whether a process ended; this process's live descendants
    free_port()                         a free TCP port on 127.0.0.1
    RedisServer(folder)                 a private redis-server (loopback, free port, password) for a module
    restart_embedded_gcs()              kill and restart the GCS of the cluster init() started (durable storage)
    two_node_cluster()                  a head and a second node (127.0.0.2), 1 CPU each, connected; shut down after

Test modules import these from here, never from a `conftest`: a worker
process imports the test module whose remote functions it runs, and in a
worker `conftest` resolves to whichever tests/**/conftest.py comes first on
its path (the reason commit bd11865 reverted an earlier move into conftest).
So this module must import in any process that has Strato: no pytest, and
nothing at import time beyond the standard library and Strato's own
dependencies; the runtime is reached only inside the helpers that need it.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import socket
import time

import psutil

from strato import _context


# ---------------------------------------------------------------- waiting
def wait_for(predicate, timeout: float = 15.0, *, interval: float = 0.1, collect_garbage: bool = False):
    """Call `predicate` until it returns something truthy or `timeout` seconds pass.

    Returns the predicate's last value (truthy on success), so tests write
    ``assert wait_for(lambda: ...), details``. It is always called at least once
    and once more after the deadline. `collect_garbage`: run `gc.collect()`
    before each try, so refs a test just dropped are released at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        if collect_garbage:
            gc.collect()
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_collected(predicate, timeout: float = 15.0, *, interval: float = 0.1):
    """`wait_for` with a `gc.collect()` before each try: for waits on refs a test has dropped."""
    return wait_for(predicate, timeout, interval=interval, collect_garbage=True)


def settle(seconds: float = 0.5) -> None:
    """Let in-flight borrower messages land before asserting that something is still there."""
    gc.collect()
    time.sleep(seconds)
    gc.collect()


# ---------------------------------------------------------------- the object store
def _current_worker():
    worker = _context.worker()
    if worker is None:
        raise RuntimeError("not connected: call strato.init() (or use the `cluster` fixture) first")
    return worker


def store_stats() -> dict:
    """Object store statistics of every live node of the connected cluster, keyed by node id (hex)."""
    from strato.runtime.object_store.stats import cluster_store_stats
    return cluster_store_stats(_current_worker())


def node_store_stats() -> dict:
    """Object store statistics of the connected cluster's only node."""
    (stats,) = store_stats().values()
    return stats


def num_objects() -> int:
    """Objects in the only node's store."""
    return node_store_stats()["num_objects"]


def wait_store_empty(timeout: float = 15.0) -> bool:
    """Whether the only node's store empties within `timeout` seconds (garbage collected before each look)."""
    return bool(wait_collected(lambda: num_objects() == 0, timeout))


def digest(buffer) -> str:
    """sha256 (hex) of a buffer's bytes: a numpy array, bytes, a memoryview."""
    return hashlib.sha256(memoryview(buffer)).hexdigest()


# ---------------------------------------------------------------- processes and ports
def process_gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie waiting to be reaped counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def live_children() -> list[psutil.Process]:
    """Non-zombie descendants of this process."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- GCS restarts
@contextlib.contextmanager
def two_node_cluster(num_cpus: int = 1, system_config: dict | None = None):
    """A cluster_utils.Cluster of a head and one more node on its own loopback address (127.0.0.2), each
    with `num_cpus` (and the cluster `system_config`), and this process connected to it; disconnected
    and shut down on exit. The second node is `cluster.nodes[-1]`."""
    import strato
    from strato.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": num_cpus}, system_config=system_config)
    try:
        cluster.add_node(num_cpus=num_cpus, node_ip_address="127.0.0.2")
        strato.init(address=cluster.address)
        yield cluster
    finally:
        strato.shutdown()
        cluster.shutdown()


def restart_embedded_gcs() -> None:
    """Kill the GCS of the cluster `strato.init(_gcs_storage="sqlite")` started and start it again on the same
    address and storage (a Cluster has its own: Cluster.restart_gcs())."""
    from strato import api
    from strato.runtime import node
    if api._embedded is None:
        raise RuntimeError("no embedded cluster: call strato.init(_gcs_storage='sqlite') first (for a Cluster, "
                           "use cluster.restart_gcs())")
    node.restart_gcs(api._embedded)


# ---------------------------------------------------------------- a private redis-server
class RedisServer:
    """A real `redis-server` for one test module: loopback only, a free port, a random password, no files
    kept (no RDB, no AOF); stop() ends exactly that process, by pid.

        with RedisServer(tmp_dir) as r:
            r.url        # redis://127.0.0.1:PORT (the password is r.password, never in the URL)
    """

    def __init__(self, folder: str, executable: str = "redis-server"):
        import secrets
        import shutil
        path = shutil.which(executable)
        if path is None:
            raise FileNotFoundError(f"{executable} is not installed: scripts/setup.sh installs Debian's "
                                    f"redis-server (apt-get install redis-server)")
        self.folder = folder
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.url = f"redis://127.0.0.1:{self.port}"
        self._cmd = [path, "--bind", "127.0.0.1", "--port", str(self.port), "--protected-mode", "yes",
                     "--save", "", "--appendonly", "no", "--dir", folder, "--daemonize", "no",
                     "--loglevel", "warning"]
        self.proc = None

    def start(self, timeout: float = 10.0) -> "RedisServer":
        import subprocess
        import redis
        # the password on stdin as a config file ("-"), never on the command line (`ps`)
        self.proc = subprocess.Popen(self._cmd[:1] + ["-"] + self._cmd[1:], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc.stdin.write(f"requirepass {self.password}\n".encode())
        self.proc.stdin.close()
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
        try:
            if not wait_for(lambda: self.proc.poll() is None and _pings(client), timeout, interval=0.02):
                self.stop()
                raise RuntimeError(f"redis-server on 127.0.0.1:{self.port} did not answer within {timeout} s")
        finally:
            client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False
