"""strato.data against Ray Data, side by side in one run (issue 12).

    .venv/bin/python bench/data_bench.py                 # print the table
    .venv/bin/python bench/data_bench.py --write-results # and replace its section of bench/RESULTS.md
    .venv/bin/python bench/data_bench.py --rows 1000000 --reps 2   # the run recorded in RESULTS.md

The defaults (500,000 rows, one repetition) take about 2 minutes on 2 cores.

Workloads (each measured in a fresh process, libraries alternating; rows/s, higher is better):

    pipeline          read_parquet -> map_batches (a numpy function, tasks) -> iter_batches(4096)
    inference_single  one process, no cluster: pyarrow reads the files, the model predicts in chunks
    inference_actors  read_parquet -> map_batches(Model, concurrency=2, num_cpus=0.5) -> iter_batches

The data: --rows rows x 40 float32 features in 8 parquet files (80 MB at the
default 500,000 rows; --rows 1000000 for the run in RESULTS.md), written once to a temp dir. The model is a small numpy MLP
(40 -> 128 -> 1, tanh), standing in for a real one; a library may add its own
workloads to WORKLOADS. Ray runs with bench/.ray-venv/bin/python, its
dashboard and usage stats off; both with 2 CPUs and progress bars off.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench_common import replace_section

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RAY_PYTHON = os.path.join(BENCH, ".ray-venv", "bin", "python")
STRATO_PYTHON = sys.executable
FEATURES = 40
FILES = 8
START, END = "<!-- data_bench:start -->", "<!-- data_bench:end -->"
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_DOCKER_CPU_WARNING": "1"}


# ----------------------------------------------------------------------------- the model
class Model:
    """A fixed random MLP; __call__ takes a numpy batch (dict of columns) and adds "score"."""

    def __init__(self, seed: int = 0):
        import numpy as np
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(size=(FEATURES, 128)).astype(np.float32) / 8
        self.w2 = rng.normal(size=(128, 1)).astype(np.float32) / 8

    def predict(self, x):
        import numpy as np
        return np.tanh(np.tanh(x @ self.w1) @ self.w2)[:, 0]

    def __call__(self, batch):
        import numpy as np
        x = np.stack([batch[f"f{i}"] for i in range(FEATURES)], axis=1)
        return {"score": self.predict(x)}


def add_total(batch):
    import numpy as np
    total = np.zeros(len(batch["f0"]), dtype=np.float32)
    for i in range(FEATURES):
        total += batch[f"f{i}"]
    batch["total"] = total
    return batch


# ----------------------------------------------------------------------------- workloads (child side)
def _start(lib: str):
    if lib == "ray":
        import logging

        import ray
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
        from ray import data
        ctx = data.DataContext.get_current()
    else:
        import strato as ray
        ray.init(num_cpus=2)
        from strato import data
        ctx = data.DataContext.get_current()
    ctx.enable_progress_bars = False
    return ray, data


def _twice(ray, run) -> dict:
    """rows/s of a first (cold) and a second (warm) run in the same cluster."""
    out = {}
    for key in ("cold", "value"):
        t0 = time.perf_counter()
        rows = run()
        out[key] = rows / (time.perf_counter() - t0)
    ray.shutdown()
    return out


def pipeline(lib: str, path: str) -> dict:
    ray, data = _start(lib)

    def run():
        ds = data.read_parquet(path).map_batches(add_total, batch_format="numpy", batch_size=None)
        rows = 0
        for batch in ds.iter_batches(batch_size=4096, batch_format="numpy"):
            rows += len(batch["total"])
        return rows
    return _twice(ray, run)


def inference_single(lib: str, path: str) -> dict:
    import numpy as np
    import pyarrow.dataset as pads
    t0 = time.perf_counter()
    table = pads.dataset(path).to_table()
    model = Model()
    rows = 0
    for start in range(0, table.num_rows, 65536):
        chunk = table.slice(start, 65536)
        x = np.stack([chunk.column(f"f{i}").to_numpy() for i in range(FEATURES)], axis=1)
        rows += len(model.predict(x))
    return {"value": rows / (time.perf_counter() - t0)}


def inference_actors(lib: str, path: str) -> dict:
    ray, data = _start(lib)

    def run():
        ds = data.read_parquet(path).map_batches(Model, concurrency=2, num_cpus=0.5, batch_size=65536,
                                                 batch_format="numpy")
        rows = 0
        for batch in ds.iter_batches(batch_size=None):
            rows += len(batch["score"])
        return rows
    return _twice(ray, run)


WORKLOADS = {
    "pipeline": (pipeline, ("strato", "ray"), "read_parquet -> map_batches (tasks) -> iter_batches(4096)"),
    "inference_single": (inference_single, ("single",), "one process: pyarrow read + numpy MLP in 64K chunks"),
    "inference_actors": (inference_actors, ("strato", "ray"),
                         "read_parquet -> map_batches(Model, concurrency=2, num_cpus=0.5) -> iter_batches"),
}


# ----------------------------------------------------------------------------- driver side
def make_data(path: str, rows: int) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(0)
    per = rows // FILES
    size = 0
    for f in range(FILES):
        cols = {f"f{i}": rng.normal(size=per).astype(np.float32) for i in range(FEATURES)}
        table = pa.table(cols)
        size += table.nbytes
        pq.write_table(table, os.path.join(path, f"part-{f:02d}.parquet"), row_group_size=per // 2)
    return size


def measure(workload: str, lib: str, path: str, timeout: float) -> dict:
    python = RAY_PYTHON if lib == "ray" else STRATO_PYTHON
    env = dict(os.environ, **(RAY_ENV if lib == "ray" else {}))
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [python, os.path.abspath(__file__), "--child", workload, "--lib", lib, "--data", path]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=BENCH)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=500_000)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--write-results", action="store_true")
    p.add_argument("--child")
    p.add_argument("--lib")
    p.add_argument("--data")
    args = p.parse_args(argv)
    if args.child:
        fn = WORKLOADS[args.child][0]
        print("RESULT " + json.dumps(fn(args.lib, args.data)), flush=True)
        return 0

    path = tempfile.mkdtemp(prefix="data-bench-")
    try:
        size = make_data(path, args.rows)
        print(f"data: {args.rows:,} rows x {FEATURES} float32 in {FILES} parquet files, {size / 1e6:.0f} MB "
              f"in memory", flush=True)
        results: dict = {}
        for name in args.workloads.split(","):
            _, libs, _ = WORKLOADS[name]
            for rep in range(args.reps):
                for lib in (libs if rep % 2 == 0 else tuple(reversed(libs))):
                    r = measure(name, lib, path, args.timeout)
                    results.setdefault((name, lib), []).append(r)
                    shown = f"{r['value']:,.0f} rows/s" if "value" in r else r["error"]
                    if "cold" in r:
                        shown += f" (first run {r['cold']:,.0f})"
                    print(f"  {name:17s} {lib:7s} rep {rep + 1}: {shown}", flush=True)
        table = render(results, args, size)
        print()
        print(table)
        if args.write_results:
            write_results(table)
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return 0


def _median(rs, key: str = "value") -> float | None:
    vals = [r[key] for r in rs if key in r]
    return statistics.median(vals) if vals else None


def render(results: dict, args, size: int) -> str:
    def fmt(v):
        return "error" if v is None else f"{v:,.0f} rows/s"

    lines = [
        "## strato.data vs Ray Data (`bench/data_bench.py`, issue 12)",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores, "
        f"{platform.python_version()}; each number the median of {args.reps} runs in fresh processes, "
        f"libraries alternating; `init(num_cpus=2)`, progress bars off.",
        f"- Data: {args.rows:,} rows x {FEATURES} float32 features, {FILES} parquet files "
        f"({size / 1e6:.0f} MB in memory).",
        "",
        "Each process runs the workload twice on one cluster: the second run (warm) is the main number; the",
        "first (cold) also pays for starting workers, actors and, for Ray, Data's own setup.",
        "",
        "| workload | strato (warm) | Ray (warm) | strato / Ray (warm) | strato (cold) | Ray (cold) | strato / Ray (cold) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("pipeline", "inference_actors"):
        if (name, "strato") in results or (name, "ray") in results:
            row = [f"`{name}`"]
            for key in ("value", "cold"):
                s, r = _median(results.get((name, "strato"), []), key), _median(results.get((name, "ray"), []), key)
                row += [fmt(s), fmt(r), f"{s / r:.2f}x" if s and r else "-"]
            lines.append("| " + " | ".join(row) + " |")
    single = _median(results.get(("inference_single", "single"), []))
    if single is not None:
        s = _median(results.get(("inference_actors", "strato"), []))
        r = _median(results.get(("inference_actors", "ray"), []))
        lines += ["", f"Batch inference: a single process (pyarrow read + the model, no cluster) does {fmt(single)}; "
                      f"`map_batches` on actors does {fmt(s)} on strato"
                      + (f" ({s / single:.2f}x the single process)" if s else "")
                      + f" and {fmt(r)} on Ray" + (f" ({r / single:.2f}x)." if r else ".")]
    lines += ["", "Workloads:"] + [f"- `{n}`: {d}" for n, (_, _, d) in WORKLOADS.items()]
    errors = [f"- {n} on {lib}: {r['error']}" for (n, lib), rs in results.items() for r in rs if "error" in r]
    if errors:
        lines += ["", "Errors:"] + errors
    return "\n".join(lines)


def write_results(table: str) -> None:
    replace_section(START, END, table)


if __name__ == "__main__":
    sys.exit(main())
