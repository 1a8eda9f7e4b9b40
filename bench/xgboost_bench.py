"""strato.xgboost against single-process xgboost and Ray Train's XGBoostTrainer, in one run (issue 12).

    .venv/bin/python bench/xgboost_bench.py                  # print the table
    .venv/bin/python bench/xgboost_bench.py --write-results  # and replace its section of bench/RESULTS.md
    .venv/bin/python bench/xgboost_bench.py --rows 100000    # a quick run
    .venv/bin/python bench/xgboost_bench.py --repeat 3       # each kind 3 times, taking turns; median shown

The job: ROWS rows x 40 float32 features (1M by default), a binary label,
50 rounds of `hist` trees (max_depth 6), generated once and saved as .npy
files that every measurement loads in a fresh process:

    single  one process, xgboost with nthread=2: DMatrix + train
    strato  strato.init(num_cpus=2); strato.xgboost.train on 2 actors (1 CPU each) from the
            in-memory arrays: RayDMatrix(X, label=y) + train (actors, shards, tracker, training)
    ray     ray.init(num_cpus=2); Ray Train's XGBoostTrainer, 2 workers (1 CPU each), on
            ray.data.from_pandas(df): the documented train loop (get_dataset_shard ->
            to_pandas -> DMatrix -> xgboost.train with RayTrainReportCallback)

Times are wall-clock seconds from the start of the job's first call (the
cluster is already up; its start is reported apart). For Ray the train loop
records timestamps, so its time splits into: worker group start and
collective setup (fit() called -> loop starts), data ingest (shard ->
pandas), DMatrix, training, and the tail (loop ends -> fit() returns:
checkpoint persisted, workers shut down).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from bench_common import replace_section, run_json_child

BENCH = os.path.dirname(os.path.abspath(__file__))
RAY_PYTHON = os.environ.get("RAY_BENCH_PYTHON", os.path.join(BENCH, ".ray-venv", "bin", "python"))
FEATURES, ROUNDS = 40, 50
PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist", "max_depth": 6,
          "eta": 0.1}
START, END = "<!-- xgboost_bench:start -->", "<!-- xgboost_bench:end -->"
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
           "RAY_TRAIN_V2_ENABLED": os.environ.get("RAY_TRAIN_V2_ENABLED", "1")}


def make_data(rows: int, directory: str) -> None:
    import numpy as np
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    logit = X[:, 0] - 0.5 * X[:, 1] + X[:, 2] * X[:, 3] + 0.2 * np.sin(3 * X[:, 4]) + rng.normal(0, 1, rows)
    np.save(os.path.join(directory, "X.npy"), X)
    np.save(os.path.join(directory, "y.npy"), (logit > 0).astype(np.float32))


def load(directory: str):
    import numpy as np
    return np.load(os.path.join(directory, "X.npy")), np.load(os.path.join(directory, "y.npy"))


def logloss(y, p) -> float:
    import numpy as np
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# ----------------------------------------------------------------------------- children
def child_single(directory: str) -> dict:
    import xgboost as xgb
    X, y = load(directory)
    t0 = time.perf_counter()
    dtrain = xgb.DMatrix(X, label=y, nthread=2)
    t_dm = time.perf_counter()
    booster = xgb.train({**PARAMS, "nthread": 2}, dtrain, ROUNDS)
    t1 = time.perf_counter()
    return {"total_s": t1 - t0, "phases": {"DMatrix": t_dm - t0, "training": t1 - t_dm},
            "logloss": logloss(y, booster.predict(xgb.DMatrix(X)))}


def child_strato(directory: str) -> dict:
    import xgboost as xgb

    import strato
    from strato.xgboost import RayDMatrix, RayParams, train
    X, y = load(directory)
    t_init = time.perf_counter()
    strato.init(num_cpus=2)
    t0 = time.perf_counter()
    extra: dict = {}
    booster = train(PARAMS, RayDMatrix(X, label=y), ROUNDS, additional_results=extra,
                    ray_params=RayParams(num_actors=2, cpus_per_actor=1, checkpoint_frequency=10))
    t1 = time.perf_counter()
    strato.shutdown()
    return {"total_s": t1 - t0, "cluster_start_s": t0 - t_init,
            "phases": {"the rest: actors start (import xgboost), shards cut and put, tracker, result back":
                       (t1 - t0) - extra["training_time_s"],
                       "actors' train calls (DMatrix + training)": extra["training_time_s"]},
            "logloss": logloss(y, booster.predict(xgb.DMatrix(X)))}


def child_ray(directory: str) -> dict:
    import logging

    import pandas as pd
    import ray
    import ray.train
    import xgboost as xgb
    from ray.train import ScalingConfig
    from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

    X, y = load(directory)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(FEATURES)]).assign(label=y)
    t_init = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    t0 = time.perf_counter()
    t0_wall = time.time()

    class TimedReport(RayTrainReportCallback):
        """Ray's callback, timing its own per-round work (ray.train.report is a barrier of all workers)."""
        seconds = 0.0

        def after_iteration(self, model, epoch, evals_log):
            started = time.perf_counter()
            try:
                return super().after_iteration(model, epoch, evals_log)
            finally:
                TimedReport.seconds += time.perf_counter() - started

        def after_training(self, model):
            started = time.perf_counter()
            try:
                return super().after_training(model)
            finally:
                TimedReport.seconds += time.perf_counter() - started

    def loop(config):
        marks = {"loop_start": time.time()}
        shard = ray.train.get_dataset_shard("train")
        df = shard.materialize().to_pandas()
        marks["ingested"] = time.time()
        label = df.pop("label")
        dtrain = xgb.DMatrix(df, label=label)
        marks["dmatrix"] = time.time()
        xgb.train({**PARAMS, "nthread": 1}, dtrain, ROUNDS, evals=[(dtrain, "train")], verbose_eval=False,
                  callbacks=[TimedReport(frequency=0, checkpoint_at_end=True)])
        marks["trained"] = time.time()
        marks["report_s"] = TimedReport.seconds
        if ray.train.get_context().get_world_rank() == 0:
            with open(os.path.join(directory, "ray_marks.json"), "w") as f:
                json.dump(marks, f)

    trainer = XGBoostTrainer(loop, datasets={"train": ray.data.from_pandas(frame)},
                             scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
                             run_config=ray.train.RunConfig(storage_path=os.path.join(directory, "ray_results")))
    result = trainer.fit()
    t1 = time.perf_counter()
    t1_wall = time.time()
    booster = RayTrainReportCallback.get_model(result.checkpoint)
    with open(os.path.join(directory, "ray_marks.json")) as f:
        m = json.load(f)
    ray.shutdown()
    return {"total_s": t1 - t0, "cluster_start_s": t0 - t_init,
            "phases": {"worker group start + collective setup (fit() -> loop start)": m["loop_start"] - t0_wall,
                       "data ingest (dataset shard -> pandas)": m["ingested"] - m["loop_start"],
                       "DMatrix": m["dmatrix"] - m["ingested"],
                       "xgboost.train without the report callback": m["trained"] - m["dmatrix"] - m["report_s"],
                       "RayTrainReportCallback (ray.train.report each round, a barrier; checkpoint at the end)":
                           m["report_s"],
                       "tail (loop end -> fit() returns: checkpoint, shutdown)": t1_wall - m["trained"]},
            "logloss": logloss(y, booster.predict(xgb.DMatrix(X, feature_names=list(frame.columns[:-1]))))}


CHILDREN = {"single": child_single, "strato": child_strato, "ray": child_ray}


# ----------------------------------------------------------------------------- driver
def run_child(kind: str, directory: str, timeout: float) -> dict:
    python = RAY_PYTHON if kind == "ray" else sys.executable
    env = dict(os.environ, **(RAY_ENV if kind == "ray" else {}))
    cmd = [python, os.path.abspath(__file__), "--child", kind, "--data", directory]
    return run_json_child(cmd, env, timeout, error_tail=2000)


def table(results: dict, rows: int) -> str:
    single = results["single"].get("total_s")
    lines = [f"{rows:,} rows x {FEATURES} features, {ROUNDS} rounds (hist, max_depth 6), 2 CPUs.", "",
             "| run | seconds | vs single process | log loss (train) | cluster start (s, not counted) |",
             "|---|---|---|---|---|"]
    names = {"single": "xgboost, one process, nthread=2", "strato": "strato.xgboost, 2 actors",
             "ray": "Ray Train XGBoostTrainer, 2 workers"}
    for kind in ("single", "strato", "ray"):
        r = results[kind]
        if "error" in r:
            lines.append(f"| {names[kind]} | failed: {r['error'].splitlines()[-1][:120]} | | | |")
            continue
        ratio = f"{r['total_s'] / single:.2f}x" if single else ""
        start = f"{r['cluster_start_s']:.1f}" if "cluster_start_s" in r else "-"
        lines.append(f"| {names[kind]} | {r['total_s']:.1f} | {ratio} | {r['logloss']:.4f} | {start} |")
    if "total_s" in results["strato"] and "total_s" in results["ray"]:
        lines += ["", f"strato.xgboost is {results['ray']['total_s'] / results['strato']['total_s']:.1f}x faster "
                      f"than Ray Train here."]
    for kind in ("strato", "ray"):
        if "phases" in results[kind]:
            lines += ["", f"Where {names[kind]}'s time goes:", ""]
            lines += [f"- {phase}: {seconds:.1f} s" for phase, seconds in results[kind]["phases"].items()]
    return "\n".join(lines)


def median_run(kind_runs: list) -> dict:
    """The run with the median total time (the lower middle of an even count); an error if none finished."""
    done = sorted((r for r in kind_runs if "total_s" in r), key=lambda r: r["total_s"])
    if not done:
        return kind_runs[-1] if kind_runs else {"error": "not run"}
    return done[(len(done) - 1) // 2]


def runs_line(runs: dict, kinds: list) -> str:
    parts = []
    for kind in kinds:
        times = ", ".join(f"{r['total_s']:.1f}" if "total_s" in r else "failed" for r in runs[kind])
        parts.append(f"{kind}: {times} s")
    return "Every run, in order (the table shows each one's median run): " + "; ".join(parts) + "."


def write_results(text: str) -> None:
    replace_section(START, END, text, heading="## strato.xgboost vs xgboost vs Ray Train (issue 12)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default="single,strato,ray")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--write-results", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind, taking turns; the median is shown")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--data")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.data)))
        return
    with tempfile.TemporaryDirectory(prefix="xgboost-bench-") as directory:
        make_data(args.rows, directory)
        runs = {kind: [] for kind in CHILDREN}
        for _ in range(args.repeat):            # the kinds take turns, so a busy spell hits them alike
            for kind in args.only.split(","):
                runs[kind].append(run_child(kind, directory, args.timeout))
                print(kind, json.dumps(runs[kind][-1])[:600], file=sys.stderr)
    results = {kind: median_run(kind_runs) for kind, kind_runs in runs.items()}
    text = table(results, args.rows)
    if args.repeat > 1:
        text += "\n\n" + runs_line(runs, args.only.split(","))
    print(text)
    if args.write_results:
        write_results(text)


if __name__ == "__main__":
    main()
