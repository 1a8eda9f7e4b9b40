"""Time to place 100 placement groups: strato against Ray, side by side in one run (issue 17).

    .venv/bin/python bench/placement_group_bench.py                  # print the table
    .venv/bin/python bench/placement_group_bench.py --write-results  # and replace its section of bench/RESULTS.md

Each library runs in a fresh process (Ray with bench/.ray-venv/bin/python), alternating, on its own
`cluster_utils.Cluster` of three 1-CPU nodes (a head and two more, all on this machine). After one
warm-up group, each round measures (seconds, lower is better):

    place_100       create 100 groups at once (2 bundles of 0.01 CPU each; PACK, SPREAD, STRICT_PACK
                    and STRICT_SPREAD in turn), then get() every group's ready() ref
    remove_100      remove_placement_group on the 100, until the cluster's CPUs are all free again
    one_by_one_20   20 times: create one group, wait until it is ready (the latency of one group)

The median over the rounds is shown. Both libraries place every group, so the clock stops at the
same point for both.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from bench_common import replace_section

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RAY_PYTHON = os.path.join(BENCH, ".ray-venv", "bin", "python")
RESULTS = os.path.join(BENCH, "RESULTS.md")
START, END = "<!-- placement_group_bench:start -->", "<!-- placement_group_bench:end -->"
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_DOCKER_CPU_WARNING": "1"}
STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
WORKLOADS = ("place_100", "remove_100", "one_by_one_20")


# ------------------------------------------------------------------ child
def child(lib: str, rounds: int, groups: int) -> dict:
    """Run in the library's own process: start a cluster, measure, print JSON."""
    if lib == "ray":
        import ray
        from ray.cluster_utils import Cluster
        from ray.util.placement_group import placement_group, remove_placement_group
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
    else:
        sys.path.insert(0, REPO)
        import strato as ray
        from strato.cluster_utils import Cluster
        from strato.util.placement_group import placement_group, remove_placement_group
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
    try:
        def all_free():
            deadline = time.perf_counter() + 30
            while ray.available_resources().get("CPU", 0) < 3 - 1e-6:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"CPUs not freed: {ray.available_resources()}")
                time.sleep(0.005)

        warm = placement_group([{"CPU": 0.01}], strategy="PACK")
        ray.get(warm.ready(), timeout=60)
        remove_placement_group(warm)
        all_free()
        out = {w: [] for w in WORKLOADS}
        for _ in range(rounds):
            t0 = time.perf_counter()
            pgs = [placement_group([{"CPU": 0.01}] * 2, strategy=STRATEGIES[i % 4]) for i in range(groups)]
            ray.get([pg.ready() for pg in pgs], timeout=120)
            out["place_100"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for pg in pgs:
                remove_placement_group(pg)
            all_free()
            out["remove_100"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            one = []
            for i in range(20):
                pg = placement_group([{"CPU": 0.01}] * 2, strategy=STRATEGIES[i % 4])
                ray.get(pg.ready(), timeout=60)
                one.append(pg)
            out["one_by_one_20"].append(time.perf_counter() - t0)
            for pg in one:
                remove_placement_group(pg)
            all_free()
        return {"version": ray.__version__, "samples": out}
    finally:
        ray.shutdown()
        cluster.shutdown()


# ----------------------------------------------------------------- parent
def run_child(lib: str, rounds: int, groups: int) -> dict:
    python = RAY_PYTHON if lib == "ray" else sys.executable
    env = dict(os.environ, **(RAY_ENV if lib == "ray" else {}))
    cmd = [python, os.path.abspath(__file__), "--child", lib, "--rounds", str(rounds), "--groups", str(groups)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=BENCH)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{lib} run failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def table(results: dict, rounds: int, groups: int, runs: int) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    lines = [
        f"## Placement groups (issue 17, `bench/placement_group_bench.py`), {_dt.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.platform()}; strato@{commit} "
        f"{results['strato']['version']}, Ray {results['ray']['version']} (`bench/.ray-venv`), Python "
        f"{platform.python_version()}. Other helpers were using the same 2 cores during the run.",
        f"- Method: each library in {runs} fresh process(es), alternating, each on its own `cluster_utils.Cluster` "
        f"of three 1-CPU nodes; {rounds} rounds per process after a warm-up group; median of all rounds, in "
        f"seconds (lower is better). {groups} groups of 2 bundles of 0.01 CPU, the four strategies in turn.",
        "",
        "| workload | strato | Ray | Ray / strato |",
        "|---|---|---|---|",
    ]
    for w in WORKLOADS:
        s = statistics.median(results["strato"]["samples"][w])
        r = statistics.median(results["ray"]["samples"][w])
        lines.append(f"| `{w}` | {s:.3f} s | {r:.3f} s | {r / s:.2f}x |")
    lines += ["", "`place_100`: 100 groups created at once, until every `ready()` ref resolves; `remove_100`: "
              "removing them until the cluster's CPUs are free again; `one_by_one_20`: 20 groups, each created "
              "and awaited before the next. \"Ray / strato\" > 1 means strato is faster. Each create and each "
              "remove is one synchronous call from the driver to the GCS in both libraries; strato then places "
              "every group waiting in a round with one PrepareBundles (and at most one CommitBundles) call per "
              "raylet. Ray's GCS and raylets are C++, strato's are Python."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    replace_section(START, END, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--child", choices=("strato", "ray"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--groups", type=int, default=100)
    p.add_argument("--runs", type=int, default=1, help="fresh processes per library (alternating)")
    p.add_argument("--write-results", action="store_true")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.rounds, args.groups)), flush=True)
        return 0
    results: dict = {}
    for _ in range(args.runs):
        for lib in ("strato", "ray"):
            got = run_child(lib, args.rounds, args.groups)
            entry = results.setdefault(lib, {"version": got["version"], "samples": {w: [] for w in WORKLOADS}})
            for w in WORKLOADS:
                entry["samples"][w] += got["samples"][w]
            print(f"{lib}: " + ", ".join(f"{w} {statistics.median(got['samples'][w]):.3f} s" for w in WORKLOADS),
                  flush=True)
    text = table(results, args.rounds, args.groups, args.runs)
    print(text)
    if args.write_results:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
