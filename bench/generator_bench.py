"""Streaming generators, strato vs Ray: items per second from ONE generator task.

    python3 bench/generator_bench.py                 # both libraries, 3 runs each, print a table
    python3 bench/generator_bench.py --items 20000 --repeat 5 --write   # also update bench/RESULTS.md

A remote function decorated with `num_returns="streaming"` yields N small
items (an int and 100 bytes); the driver iterates the ObjectRefGenerator and
`get`s every ref as it comes. Measured: N / (time from `.remote()` to the
last item's value), after one warm-up generator of 200 items. Each run is a
fresh process (strato with .venv/bin/python, Ray with bench/.ray-venv),
libraries alternating; the median is reported. Only the standard library is
needed to run this file.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench_common import replace_section

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PYTHON = {"strato": os.path.join(REPO, ".venv", "bin", "python"),
          "ray": os.path.join(BENCH, ".ray-venv", "bin", "python")}
SECTION_START = "<!-- bench/generator_bench.py:start -->"
SECTION_END = "<!-- bench/generator_bench.py:end -->"

_CHILD = r'''
import json, os, sys, time
lib_name, items = sys.argv[1], int(sys.argv[2])
if lib_name == "ray":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray as lib
    lib.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
else:
    import strato as lib
    lib.init(num_cpus=2)

@lib.remote(num_returns="streaming")
def produce(n):
    payload = b"x" * 100
    for i in range(n):
        yield i, payload

def consume(n):
    total = 0
    for ref in produce.remote(n):
        total += lib.get(ref)[0]
    assert total == n * (n - 1) // 2, total

consume(200)                                  # warm-up: worker started, function exported
t0 = time.perf_counter()
consume(items)
elapsed = time.perf_counter() - t0
lib.shutdown()
print(json.dumps({"items": items, "seconds": elapsed, "items_per_s": items / elapsed}))
'''


def run_once(lib: str, items: int, timeout: float) -> float:
    out = subprocess.run([PYTHON[lib], "-c", _CHILD, lib, str(items)], capture_output=True, text=True,
                         timeout=timeout, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"{lib} run failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(line)["items_per_s"]


def write_results(table: str) -> None:
    replace_section(SECTION_START, SECTION_END, table)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=20000, help="items the measured generator yields (20000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per library; the median is reported (3)")
    ap.add_argument("--libs", default="strato,ray", help="comma-separated: strato, ray (both)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a run may take (300)")
    ap.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = ap.parse_args(argv)
    libs = [lib for lib in args.libs.split(",") if lib]
    rates: dict[str, list[float]] = {lib: [] for lib in libs}
    for _ in range(args.repeat):
        for lib in libs:
            rate = run_once(lib, args.items, args.timeout)
            rates[lib].append(rate)
            print(f"{lib:7s} {rate:10.0f} items/s", flush=True)
    med = {lib: statistics.median(v) for lib, v in rates.items()}
    rows = ["| library | items/s (median) | runs |", "|---|---|---|"]
    for lib in libs:
        rows.append(f"| {lib} | {med[lib]:,.0f} | {', '.join(f'{r:,.0f}' for r in rates[lib])} |")
    ratio = f"\n\nstrato / Ray: {med['strato'] / med['ray']:.2f}x" if {"strato", "ray"} <= set(med) else ""
    table = (f"### Streaming generators (issue 15): items/s from one generator task\n\n"
             f"`python3 bench/generator_bench.py --items {args.items} --repeat {args.repeat}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; one task yields {args.items} items "
             f"(an int and 100 bytes), the driver iterates the generator and gets each ref. Other helpers "
             f"were using the machine's 2 CPUs at the same time.\n\n" + "\n".join(rows) + ratio)
    print(table)
    if args.write:
        write_results(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
