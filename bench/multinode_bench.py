"""Multi-node benchmarks, strato against Ray's cluster_utils, side by side in one run (issue 17).

    python3 bench/multinode_bench.py                 # both libraries, alternating, 3 repetitions
    python3 bench/multinode_bench.py --repeat 1 --only transfer

Workloads (each in a fresh subprocess, one library at a time; several raylets on this machine):
  transfer      a 1 GiB array made on node B, read by a task pinned to the head: GB/s of the move
  tasks         10,000 trivial tasks on three 1-CPU nodes: tasks/s
  reconstruct   a 100 MB task output whose node is killed: seconds from the get to the value
                (the node's death is already known to the cluster when the clock starts)

Prints one line per measurement and a table of medians; `--write` appends it to bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHONS = {"strato": os.path.join(ROOT, ".venv", "bin", "python"),
           "ray": os.path.join(HERE, ".ray-venv", "bin", "python")}
WORKLOADS = ("transfer", "tasks", "reconstruct")
UNITS = {"transfer": "GB/s", "tasks": "tasks/s", "reconstruct": "s"}
HIGHER_IS_BETTER = {"transfer": True, "tasks": True, "reconstruct": False}


def child(lib: str, workload: str) -> dict:
    """Runs in the subprocess: the same Ray Core code for both libraries."""
    import numpy as np
    if lib == "ray":
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray
        from ray.cluster_utils import Cluster
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    else:
        import strato as ray
        from strato.cluster_utils import Cluster
        from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    health = {"health_check_period_ms": 200, "health_check_failure_threshold": 10}
    store = 3 * 10**9
    head_args = {"num_cpus": 1 if workload != "reconstruct" else 0, "object_store_memory": store,
                 "_system_config": health}
    c = Cluster(initialize_head=True, head_node_args=head_args)
    try:
        if workload == "transfer":
            c.add_node(num_cpus=1, resources={"b": 1}, object_store_memory=store)
            ray.init(address=c.address)
            head = ray.get_runtime_context().get_node_id()

            @ray.remote(resources={"b": 1})
            def make(n):
                return np.ones(n, dtype=np.uint8)

            @ray.remote(num_cpus=1)
            def touch(a):
                return int(a[::1 << 20].sum())

            n = 1 << 30
            rates = []
            for _ in range(2):
                ref = make.remote(n)
                ray.wait([ref], fetch_local=False)
                t0 = time.perf_counter()
                ray.get(touch.options(scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False)).remote(ref))
                rates.append(n / (time.perf_counter() - t0) / 1e9)
                del ref
                time.sleep(0.5)
            return {"value": max(rates)}
        if workload == "tasks":
            c.add_node(num_cpus=1)
            c.add_node(num_cpus=1)
            ray.init(address=c.address)

            @ray.remote
            def noop(i):
                return i

            ray.get([noop.remote(i) for i in range(500)])
            t0 = time.perf_counter()
            out = ray.get([noop.remote(i) for i in range(10_000)])
            dt = time.perf_counter() - t0
            assert out == list(range(10_000))
            return {"value": 10_000 / dt}
        if workload == "reconstruct":
            doomed = c.add_node(num_cpus=1)
            ray.init(address=c.address)

            @ray.remote(max_retries=3)
            def make(n):
                return np.ones(n, dtype=np.uint8)

            ref = make.remote(100 * 10**6)
            ray.wait([ref], fetch_local=False)
            c.add_node(num_cpus=1)
            c.remove_node(doomed, allow_graceful=False)
            gone = doomed.node_id if isinstance(doomed.node_id, str) else doomed.node_id.hex()
            deadline = time.monotonic() + 60
            while any(nd["Alive"] for nd in ray.nodes() if nd["NodeID"] == gone) and time.monotonic() < deadline:
                time.sleep(0.05)
            t0 = time.perf_counter()
            value = ray.get(ref, timeout=120)
            dt = time.perf_counter() - t0
            assert value.nbytes == 100 * 10**6
            return {"value": dt}
        raise ValueError(workload)
    finally:
        try:
            ray.shutdown()
        finally:
            c.shutdown()


def measure(lib: str, workload: str, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT if lib == "strato" else "")
    try:
        done = subprocess.run([PYTHONS[lib], __file__, "--child", lib, workload], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=ROOT if lib == "strato" else HERE)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default=",".join(WORKLOADS))
    p.add_argument("--libs", default="strato,ray")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    libs = args.libs.split(",")
    results = {(lib, w): [] for lib in libs for w in args.only.split(",")}
    for _ in range(args.repeat):
        for w in args.only.split(","):
            for lib in libs:
                r = measure(lib, w, args.timeout)
                print(f"{w:12} {lib:7} {r}", flush=True)
                if "value" in r:
                    results[(lib, w)].append(r["value"])
    lines = ["| workload | strato | Ray | strato vs Ray |", "|---|---|---|---|"]
    for w in args.only.split(","):
        med = {lib: statistics.median(results[(lib, w)]) if results.get((lib, w)) else None for lib in libs}
        s, r = med.get("strato"), med.get("ray")
        ratio = "" if not (s and r) else f"{(s / r if HIGHER_IS_BETTER[w] else r / s):.2f}x"
        fmt = (lambda v: "failed" if v is None else f"{v:,.2f} {UNITS[w]}")
        lines.append(f"| {w} | {fmt(s)} | {fmt(r)} | {ratio} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
            f.write(f"\n### Multi-node (bench/multinode_bench.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                    f"median of {args.repeat}, load average {os.getloadavg()[0]:.1f})\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
