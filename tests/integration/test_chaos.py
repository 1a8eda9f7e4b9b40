"""Chaos: random workers and one raylet are killed while 10,000 tasks with nested refs and a few actors
run. Every result must be right, and nothing may be left behind after shutdown.

The cluster: a head with one CPU (the driver's node, never killed) and two worker nodes with one
CPU each, one of which loses its raylet (SIGKILL) half-way. Tasks retry (max_retries), actors
restart (max_restarts, max_task_retries), lost outputs are rebuilt from lineage.
"""
import random
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import strato
from strato._testing import live_children, wait_for
from strato.cluster_utils import Cluster

pytestmark = pytest.mark.timeout(300)

HEALTH = {"health_check_period_ms": 200, "health_check_failure_threshold": 10}
N_TASKS = 10_000
BATCH = 500
BIG = 40_000                  # float64s: 320 KB, past max_inline_bytes, so it lives in a node's store


@strato.remote(max_retries=-1)
def square(x):
    return x * x


@strato.remote(max_retries=-1)
def total(nested):
    """Takes a list of refs (nested, so they arrive as refs) and adds up what they point to."""
    return sum(strato.get(nested))


@strato.remote(max_retries=-1)
def block(i):
    return np.full(BIG, float(i))


@strato.remote(max_restarts=-1, max_task_retries=-1)
class Doubler:
    def double(self, x):
        return 2 * x


def strato_worker_pids():
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except psutil.Error:
            continue
        if "strato.runtime.worker" in cmd:
            out.append(p.pid)
    return out


def shm_entries(pids):
    pids = {str(p) for p in pids}
    return {p.name for p in Path("/dev/shm").iterdir() if "strato" in p.name.lower() and
            any(pid in p.name for pid in pids)}


class Chaos(threading.Thread):
    """Kills a random worker of this cluster every `period` seconds; the raylet `victim` once, at `raylet_at`."""

    def __init__(self, ours, victim, raylet_at, period=0.4):
        super().__init__(daemon=True)
        self.ours, self.victim, self.raylet_at, self.period = ours, victim, raylet_at, period
        self.stop = threading.Event()
        self.killed_workers = 0
        self.killed_raylet = False

    def run(self):
        start, rng = time.monotonic(), random.Random(7)
        while not self.stop.wait(self.period):
            if not self.killed_raylet and time.monotonic() - start > self.raylet_at:
                self.victim.kill()
                self.killed_raylet = True
                continue
            mine = [pid for pid in strato_worker_pids() if pid in self.ours()]
            if mine:
                try:
                    psutil.Process(rng.choice(mine)).kill()
                    self.killed_workers += 1
                except psutil.NoSuchProcess:
                    pass


def test_tasks_nested_refs_and_actors_survive_killed_workers_and_a_killed_raylet():
    before = {p.pid for p in live_children()}
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "_system_config": HEALTH})
    try:
        c.add_node(num_cpus=1)
        victim = c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            ours = lambda: {p.pid for p in live_children()}           # noqa: E731 -- only this test's processes
            actors = [Doubler.remote() for _ in range(3)]
            blocks = [block.remote(i) for i in range(6)]              # some of these live on the doomed node
            strato.wait(blocks, num_returns=len(blocks), timeout=60)
            chaos = Chaos(ours, victim, raylet_at=3.0)
            chaos.start()
            try:
                done = 0
                while done < N_TASKS:
                    xs = range(done, done + BATCH)
                    squares = [square.remote(x) for x in xs]
                    sums = [total.remote([squares[j], squares[j + 1]]) for j in range(0, BATCH, 50)]
                    doubled = [actors[x % 3].double.remote(x) for x in xs[:30]]
                    assert strato.get(squares, timeout=120) == [x * x for x in xs]
                    assert strato.get(sums, timeout=120) == [xs[j] ** 2 + xs[j + 1] ** 2 for j in range(0, BATCH, 50)]
                    assert strato.get(doubled, timeout=120) == [2 * x for x in xs[:30]]
                    done += BATCH
                    if done >= N_TASKS // 2:
                        assert wait_for(lambda: chaos.killed_raylet, 30), "the raylet was never killed"
            finally:
                chaos.stop.set()
                chaos.join()
            assert chaos.killed_workers >= 5 and chaos.killed_raylet
            for i, b in enumerate(strato.get(blocks, timeout=120)):   # rebuilt if their node was the one killed
                assert float(b.sum()) == float(i) * BIG
            pids = {p.pid for p in live_children()} - before
        finally:
            strato.shutdown()
    finally:
        c.shutdown()
    assert wait_for(lambda: not ({p.pid for p in live_children()} - before), 30), \
        f"processes left: {[p.cmdline() for p in live_children() if p.pid not in before]}"
    assert not shm_entries(pids), f"left in /dev/shm: {shm_entries(pids)}"
