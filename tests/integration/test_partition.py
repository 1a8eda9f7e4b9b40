"""A real network partition: nodes on separate hosts (network namespaces, _netns.py), one cut off.

The head (GCS, a raylet without CPUs) and the driver run in the root namespace; two nodes run in
namespaces of their own, started with `strato start --address` as on other machines. Cutting one
node's link leaves its connections open and silent: the GCS must declare it dead from the missing
heartbeats, its work must be retried on the other node, and once the link is back it must rejoin
as a new node (the cluster gave up on its old identity, its workers and its objects).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import pytest

import strato
from strato._testing import wait_for
from strato.cluster_utils import Cluster

from _netns import NetNamespaces

pytestmark = pytest.mark.timeout(240)

HEALTH = {"health_check_period_ms": 200, "health_check_failure_threshold": 10}     # dead after ~2 s
STRATO = os.path.join(os.path.dirname(sys.executable), "strato")


@pytest.fixture
def hosts(tmp_path):
    net = NetNamespaces(2).create()
    node_temp = tempfile.mkdtemp(prefix="sn-")      # short: the store's unix socket path must fit 107 bytes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # plain TCP beyond loopback warns; these links are private
            c = Cluster(initialize_head=True, head_node_args={
                "num_cpus": 0, "node_ip_address": net.root_ip, "_system_config": HEALTH})
        try:
            token_file = tmp_path / "token"
            token_file.write_text(c.token)
            token_file.chmod(0o600)
            for i in range(2):
                done = subprocess.run(net.command(i, [
                    STRATO, "start", "--address", c.address, "--node-ip-address", net.ip(i), "--num-cpus", "1",
                    "--token-file", str(token_file), "--temp-dir", node_temp,
                    "--system-config", '{"health_check_period_ms": 200, "health_check_failure_threshold": 10}']),
                    capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, done.stderr
            yield net, c
        finally:
            subprocess.run([STRATO, "stop", "--temp-dir", node_temp], capture_output=True, timeout=60)
            c.shutdown()
    finally:
        net.destroy()
        shutil.rmtree(node_temp, ignore_errors=True)


def alive_at(ip):
    return [n for n in strato.nodes() if n["Alive"] and n["NodeManagerAddress"] == ip]


@strato.remote(max_retries=3)
def where(i):
    time.sleep(0.3)
    return i, os.environ.get("STRATO_NODE_IP", ""), strato.get_runtime_context().get_node_id()


def test_a_partitioned_node_is_declared_dead_its_work_recovers_and_it_rejoins_as_a_new_node(hosts):
    net, c = hosts
    strato.init(address=c.address)
    try:
        assert wait_for(lambda: alive_at(net.ip(0)) and alive_at(net.ip(1)), 30, interval=0.2), strato.nodes()
        (cut_off,) = alive_at(net.ip(0))
        refs = [where.remote(i) for i in range(12)]
        time.sleep(0.5)                              # some of them are running on the node about to be cut off
        net.partition(0)
        results = strato.get(refs, timeout=120)
        assert sorted(r[0] for r in results) == list(range(12))

        assert wait_for(lambda: not any(n["Alive"] for n in strato.nodes() if n["NodeID"] == cut_off["NodeID"]),
                        30, interval=0.2), "the cut-off node was never declared dead"
        assert all(r[2] for r in results)

        net.heal(0)
        assert wait_for(lambda: any(n["NodeID"] != cut_off["NodeID"] for n in alive_at(net.ip(0))), 60,
                        interval=0.3), f"the node did not rejoin: {strato.nodes()}"
        (back,) = alive_at(net.ip(0))
        assert back["NodeID"] != cut_off["NodeID"]
        # the rejoined node takes work again
        on_it = strato.get([where.options(scheduling_strategy=strato.util.scheduling_strategies
                                          .NodeAffinitySchedulingStrategy(back["NodeID"], soft=False)).remote(99)],
                           timeout=60)
        assert on_it[0][2] == back["NodeID"]
    finally:
        strato.shutdown()
