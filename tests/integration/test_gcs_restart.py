"""A GCS restart in the middle of a workload, on SQLite and on Redis (a real redis-server on a free loopback
port, with a password): the GCS process is killed (SIGKILL) while tasks and an actor call run, started again on
the same address and storage, and the cluster carries on -- in-flight work completes, named actors are
reachable by name with their state, nodes are alive, KV is intact, new work runs -- and nothing is left behind
after shutdown."""
import json
import os
import stat
import time

import psutil
import pytest

import strato
from strato import _context
from strato._testing import RedisServer, live_children, restart_embedded_gcs, wait_for
from strato.cluster_utils import Cluster
from strato.runtime import node
from strato.runtime.gcs import storage
from strato.runtime.protocol import gcs_pb2
from strato.util import state


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(str(tmp_path_factory.mktemp("redis"))) as server:
        yield server


@strato.remote
def slow_square(x, seconds):
    time.sleep(seconds)
    return x * x


@strato.remote
class Counter:
    def __init__(self, start):
        self.n = start

    def add(self, k):
        self.n += k
        return self.n

    def add_slowly(self, k, seconds):
        time.sleep(seconds)
        self.n += k
        return self.n

    def pid(self):
        return os.getpid()


def kv(method, **fields):
    cw = _context.worker()
    request = getattr(gcs_pb2, f"{method}Request")(namespace="user", **fields)
    return cw.run_sync(cw.gcs.call(method, request), timeout=30)


def restart_in_the_middle(cluster: Cluster):
    """The workload around one GCS restart; returns nothing, asserts everything."""
    strato.init(address=cluster.address)
    try:
        keeper = Counter.options(name="keeper", lifetime="detached").remote(100)
        plain = Counter.remote(0)
        assert strato.get([keeper.add.remote(1), plain.add.remote(1)], timeout=30) == [101, 1]
        keeper_pid = strato.get(keeper.pid.remote(), timeout=30)
        assert kv("KVPut", key=b"model", value=b"v1").added
        assert {a["name"] for a in state.list_actors()} >= {"keeper"}    # the driver reads the state API's URL
        node_ids = {n.node_id for n in cluster.nodes}
        old_gcs = cluster._head_info["gcs"].proc.pid

        # in flight while the GCS goes down: tasks on both nodes and a call on an actor
        squares = [slow_square.remote(i, 1.5) for i in range(4)]
        slow_call = plain.add_slowly.remote(10, 1.5)
        time.sleep(0.3)
        cluster.kill_gcs()
        assert not psutil.pid_exists(old_gcs)
        calls_without_gcs = [plain.add.remote(5)]          # actor calls go worker to worker
        task_without_gcs = slow_square.remote(7, 0)         # leases come from raylets
        time.sleep(0.5)
        cluster.restart_gcs()
        assert cluster._head_info["gcs"].proc.pid != old_gcs

        assert strato.get(squares, timeout=30) == [0, 1, 4, 9]
        assert strato.get(slow_call, timeout=30) == 11
        assert strato.get(calls_without_gcs, timeout=30) == [16]
        assert strato.get(task_without_gcs, timeout=30) == 49
        again = strato.get_actor("keeper")                  # by name, from the new GCS
        assert strato.get(again.add.remote(1), timeout=30) == 102
        assert strato.get(again.pid.remote(), timeout=30) == keeper_pid       # the same process, not a restart
        assert wait_for(lambda: {n["NodeID"] for n in strato.nodes() if n["Alive"]} >= node_ids, 15)
        reply = kv("KVGet", key=b"model")
        assert reply.found and reply.value == b"v1"

        # new work after the restart: a function and an actor class exported to the new GCS
        @strato.remote
        def cube(x):
            return x ** 3
        assert strato.get([cube.remote(i) for i in range(6)], timeout=30) == [i ** 3 for i in range(6)]
        fresh = Counter.options(name="fresh").remote(7)
        assert strato.get(strato.get_actor("fresh").add.remote(1), timeout=30) == 8
        # the driver kept its job (the new GCS watches it again), so its non-detached actor lives on
        assert strato.get(plain.add.remote(0), timeout=30) == 16
        jobs = _context.worker().run_sync(_context.worker().gcs.call("GetAllJobs", gcs_pb2.Empty()), timeout=30).jobs
        assert [j.is_dead for j in jobs] == [False]
        # the state API answers at the URL the driver read before the restart
        names = {a["name"] for a in state.list_actors(filters=[("state", "=", "ALIVE")])}
        assert {"keeper", "fresh"} <= names
        strato.kill(keeper)
        strato.kill(fresh)
    finally:
        strato.shutdown()


def check_nothing_left(cluster: Cluster):
    """Shut the cluster down; no process of it may be left (this module's redis-server goes at its end)."""
    cluster.shutdown()

    def left():
        return [p for p in live_children() if p.name() != "redis-server"]
    assert wait_for(lambda: not left(), 15), f"processes left: {left()}"


@pytest.mark.timeout(90)
def test_a_gcs_restart_on_sqlite_keeps_the_cluster(tmp_path):
    cluster = Cluster(gcs_storage="sqlite", head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        path = os.path.join(cluster._head_info["session_dir"], storage.SQLITE_FILE)
        restart_in_the_middle(cluster)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    finally:
        check_nothing_left(cluster)


@pytest.mark.timeout(90)
def test_a_gcs_restart_on_redis_keeps_the_cluster(redis_server, monkeypatch):
    monkeypatch.setenv(storage.REDIS_PASSWORD_ENV, redis_server.password)
    cluster = Cluster(gcs_storage=redis_server.url, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        restart_in_the_middle(cluster)
        import redis
        r = redis.Redis(port=redis_server.port, password=redis_server.password)
        namespace = os.path.basename(cluster._head_info["session_dir"])
        assert r.hlen(f"{namespace}:{storage.ACTORS}") >= 3 and r.hlen(f"{namespace}:{storage.NODES}") == 2
        r.close()
    finally:
        check_nothing_left(cluster)


def test_a_gcs_without_durable_storage_refuses_to_restart():
    cluster = Cluster(head_node_args={"num_cpus": 1})
    try:
        with pytest.raises(ValueError, match="keeps its tables in memory"):
            cluster.restart_gcs()
    finally:
        check_nothing_left(cluster)


def test_an_embedded_cluster_asked_for_sqlite_survives_a_gcs_restart(fresh_strato):
    with pytest.raises(ValueError, match="unknown GCS storage"):
        strato.init(num_cpus=1, _gcs_storage="postgres://db")
    strato.init(num_cpus=1, _gcs_storage="sqlite")
    counter = Counter.options(name="embedded").remote(1)
    assert strato.get(counter.add.remote(1), timeout=30) == 2
    restart_embedded_gcs()
    assert strato.get(strato.get_actor("embedded").add.remote(1), timeout=30) == 3
    assert strato.get(slow_square.remote(3, 0), timeout=30) == 9


def test_strato_restart_gcs_brings_a_detached_heads_gcs_back(cli_cluster):
    address = cli_cluster.start_head(num_cpus=1)            # SQLite by default
    started = cli_cluster.run("status").stdout
    strato.init(address=address, _temp_dir=cli_cluster.temp_dir)
    try:
        keeper = Counter.options(name="cli-keeper", lifetime="detached").remote(40)
        assert strato.get(keeper.add.remote(1), timeout=30) == 41
        session = node.newest_detached_head(cli_cluster.temp_dir)
        with open(os.path.join(session, "gcs.json")) as f:
            record = json.load(f)
        psutil.Process(record["pid"]).kill()               # the GCS `strato start` started, by its pid
        assert wait_for(lambda: not psutil.pid_exists(record["pid"]), 10)

        out = cli_cluster.run("restart-gcs").stdout
        assert f"GCS restarted at {address}" in out and "gcs_store.sqlite" in out, out
        assert strato.get(strato.get_actor("cli-keeper").add.remote(1), timeout=30) == 42
        assert cli_cluster.run("status").stdout.count("CPU") == started.count("CPU")
        strato.kill(keeper)
    finally:
        strato.shutdown()
    assert "Stopped 2 strato daemon(s)" in cli_cluster.stop().stdout      # the new GCS and the raylet
