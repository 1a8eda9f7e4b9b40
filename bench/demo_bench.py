"""The talk's demo at laptop size, side by side: one process, Strato, Ray (issue 16).

    .venv/bin/python bench/demo_bench.py                  # print the table
    .venv/bin/python bench/demo_bench.py --write-results  # and replace its section of bench/RESULTS.md
    .venv/bin/python bench/demo_bench.py --rows 200000    # a quick run

The data is the demo notebooks' (demo-notebooks/demo_data.py): ROWS rows x 40 float32 features and a
binary label in 8 parquet files, 6 for training and 2 held out. Three jobs, each measured in a fresh
process per library, with the cluster already up (its start is not counted):

    train   ROUNDS rounds of hist trees (max_depth 6) on the 6 training files, read from parquet.
            single: pandas + xgboost (nthread=2).  strato: strato.data.read_parquet -> RayDMatrix ->
            strato.xgboost.train on 2 actors.  ray: ray.data.read_parquet(...).materialize() -> Ray Train
            XGBoostTrainer, 2 workers (the documented loop: shard -> pandas -> DMatrix -> xgboost.train);
            materialized first because on 2 CPUs the read tasks would wait behind the workers.
    tune    TRIALS trials of the talk's space (eta log-uniform 1e-4..1e-1, subsample 0.5..1, max_depth
            1..9; TUNE_ROUNDS rounds each, ASHA, eval log loss on the held-out files), 1 CPU per trial.
            single: the same configurations one after another (nthread=2).  strato: strato.tune.Tuner.
            ray: ray.tune.Tuner. Both with with_parameters(train_df, test_df) and reuse_actors.
    infer   predict all ROWS rows with one model (trained once by the driver, saved, loaded by each
            child). single: pandas + Booster.predict.  strato / ray: read_parquet -> map_batches with a
            callable class on an actor pool (concurrency 1 on 2 CPUs: the pool leaves a CPU to the
            reads) -> to_pandas; predictions checked equal to the single process's.
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
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(ROOT, "demo-notebooks"))
RAY_PYTHON = os.environ.get("RAY_BENCH_PYTHON", os.path.join(BENCH, ".ray-venv", "bin", "python"))
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
           "RAY_TRAIN_V2_ENABLED": os.environ.get("RAY_TRAIN_V2_ENABLED", "1")}
START, END = "<!-- demo_bench:start -->", "<!-- demo_bench:end -->"
PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist", "max_depth": 6,
          "eta": 0.1}


def space(tune):
    return {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist", "nthread": 1,
            "eta": tune.loguniform(1e-4, 1e-1), "subsample": tune.uniform(0.5, 1.0),
            "max_depth": tune.randint(1, 10)}


def frames(folder):
    import pandas as pd

    import demo_data
    train_files, test_files = demo_data.split_files(folder)
    return pd.read_parquet(train_files), pd.read_parquet(test_files)


def xgb_trial(tune_report):
    """The trainable both Tune libraries run (their own report function passed in)."""
    def trial(config, train_df, test_df):
        import xgboost as xgb

        import demo_data

        class Report(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log):
                tune_report({"eval-logloss": evals_log["eval"]["logloss"][-1]})
                return False
        dtrain = xgb.DMatrix(train_df[demo_data.FEATURES], label=train_df[demo_data.LABEL])
        dtest = xgb.DMatrix(test_df[demo_data.FEATURES], label=test_df[demo_data.LABEL])
        params = {k: v for k, v in config.items() if k != "_rounds"}
        xgb.train(params, dtrain, config["_rounds"], evals=[(dtest, "eval")], verbose_eval=False,
                  callbacks=[Report()])
    return trial


# ----------------------------------------------------------------------------- children
def _no_http_check():
    from ray.data.datasource import path_util
    path_util._is_http_filesystem = lambda fs: False


def child(lib: str, job: str, folder: str, a: dict) -> dict:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    import demo_data
    train_files, test_files = demo_data.split_files(folder)
    paths = demo_data.files(folder)
    out: dict = {}
    if lib == "strato":
        import strato as ray_like
        t = time.perf_counter()
        ray_like.init(num_cpus=2)
        out["cluster_start_s"] = time.perf_counter() - t
    elif lib == "ray":
        import logging

        import ray as ray_like
        t = time.perf_counter()
        # bench/.ray-venv has fsspec 2026.9 without aiohttp: Ray Data's check for an HTTP filesystem fails with
        # ImportError (it expects ModuleNotFoundError). Local files are never HTTP: answer its question directly,
        # here and in every worker (file listing runs in tasks for larger reads).
        _no_http_check()
        ray_like.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
                      runtime_env={"worker_process_setup_hook": _no_http_check})
        out["cluster_start_s"] = time.perf_counter() - t
    try:
        t0 = time.perf_counter()
        if job == "train":
            out.update(_train(lib, train_files, test_files, a))
        elif job == "tune":
            out.update(_tune(lib, folder, a))
        else:
            out.update(_infer(lib, paths, a))
        out["total_s"] = time.perf_counter() - t0
    finally:
        if lib != "single":
            ray_like.shutdown()
    return out


def _logloss(booster, test_files):
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    import demo_data
    df = pd.read_parquet(test_files)
    p = np.clip(booster.predict(xgb.DMatrix(df[demo_data.FEATURES])), 1e-7, 1 - 1e-7)
    y = df[demo_data.LABEL].to_numpy()
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _train(lib, train_files, test_files, a):
    import pandas as pd
    import xgboost as xgb

    import demo_data
    cols = demo_data.FEATURES + [demo_data.LABEL]
    if lib == "single":
        df = pd.read_parquet(train_files, columns=cols)
        booster = xgb.train({**PARAMS, "nthread": 2}, xgb.DMatrix(df[demo_data.FEATURES], label=df[demo_data.LABEL]),
                            a["rounds"])
    elif lib == "strato":
        import strato.data as sd
        from strato.xgboost import RayDMatrix, RayParams, train
        ds = sd.read_parquet(train_files, columns=cols)
        booster = train({**PARAMS, "nthread": 1}, RayDMatrix(ds, label=demo_data.LABEL), a["rounds"],
                        ray_params=RayParams(num_actors=2, cpus_per_actor=1))
    else:
        import ray
        import ray.train
        from ray.train import ScalingConfig
        from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

        def loop(config):
            df = ray.train.get_dataset_shard("train").materialize().to_pandas()
            label = df.pop(demo_data.LABEL)
            xgb.train({**PARAMS, "nthread": 1}, xgb.DMatrix(df, label=label), config["rounds"],
                      callbacks=[RayTrainReportCallback(frequency=0, checkpoint_at_end=True)])
        storage = tempfile.mkdtemp(prefix="demo-bench-ray-")
        result = XGBoostTrainer(loop, train_loop_config={"rounds": a["rounds"]},
                                # materialized before fit(): the read tasks would otherwise wait for CPUs the two
                                # workers hold (Ray Data gets no CPU beside them on 2 CPUs)
                                datasets={"train": ray.data.read_parquet(train_files, columns=cols).materialize()},
                                scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
                                run_config=ray.train.RunConfig(storage_path=storage)).fit()
        booster = RayTrainReportCallback.get_model(result.checkpoint)
    return {"logloss": _logloss(booster, test_files)}


def _tune(lib, folder, a):
    train_df, test_df = frames(folder)
    if lib == "single":
        import random

        import xgboost as xgb

        import demo_data
        rng = random.Random(0)
        dtrain = xgb.DMatrix(train_df[demo_data.FEATURES], label=train_df[demo_data.LABEL])
        dtest = xgb.DMatrix(test_df[demo_data.FEATURES], label=test_df[demo_data.LABEL])
        best = float("inf")
        for _ in range(a["trials"]):
            cfg = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist", "nthread": 2,
                   "eta": 10 ** rng.uniform(-4, -1), "subsample": rng.uniform(0.5, 1.0),
                   "max_depth": rng.randrange(1, 10)}
            res: dict = {}
            xgb.train(cfg, dtrain, a["tune_rounds"], evals=[(dtest, "eval")], evals_result=res, verbose_eval=False)
            best = min(best, res["eval"]["logloss"][-1])
        return {"best_logloss": best, "trials": a["trials"]}
    if lib == "strato":
        from strato import tune
        report = tune.report
        run_config = tune.RunConfig(name="demo", storage_path=tempfile.mkdtemp(prefix="demo-bench-tune-"),
                                    verbose=0)
    else:
        from ray import tune
        report = tune.report
        run_config = tune.RunConfig(name="demo", storage_path=tempfile.mkdtemp(prefix="demo-bench-tune-"),
                                    verbose=0)
    param_space = dict(space(tune), _rounds=a["tune_rounds"])
    trainable = tune.with_resources(tune.with_parameters(xgb_trial(report), train_df=train_df, test_df=test_df),
                                    {"cpu": 1})
    grid = tune.Tuner(trainable, param_space=param_space,
                      tune_config=tune.TuneConfig(metric="eval-logloss", mode="min", num_samples=a["trials"],
                                                  reuse_actors=True,
                                                  scheduler=tune.schedulers.ASHAScheduler(
                                                      max_t=a["tune_rounds"], grace_period=2)),
                      run_config=run_config).fit()
    return {"best_logloss": float(grid.get_best_result().metrics["eval-logloss"]), "trials": len(grid)}


class _Predictor:
    def __init__(self, model_bytes):
        import xgboost as xgb
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(model_bytes))

    def __call__(self, batch):
        import pandas as pd
        import xgboost as xgb

        import demo_data
        pred = self.booster.predict(xgb.DMatrix(batch[demo_data.FEATURES]))
        return pd.DataFrame({"row_id": batch["row_id"].to_numpy(), "pred": pred})


def _infer(lib, paths, a):
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    import demo_data
    booster = xgb.Booster()
    booster.load_model(a["model"])
    cols = ["row_id"] + demo_data.FEATURES
    if lib == "single":
        df = pd.read_parquet(paths, columns=cols)
        pred = booster.predict(xgb.DMatrix(df[demo_data.FEATURES]))
        ids = df["row_id"].to_numpy()
    else:
        data = __import__("strato.data" if lib == "strato" else "ray.data", fromlist=["read_parquet"])
        out = data.read_parquet(paths, columns=cols).map_batches(
            _Predictor, fn_constructor_args=(bytes(booster.save_raw()),), concurrency=1, batch_format="pandas",
            batch_size=100_000).to_pandas()
        pred, ids = out["pred"].to_numpy(), out["row_id"].to_numpy()
    order = np.argsort(ids)
    np.save(os.path.join(a["out"], f"pred-{lib}.npy"), pred[order])
    return {"rows": int(len(pred))}


# ----------------------------------------------------------------------------- driver
def run_child(lib: str, job: str, folder: str, a: dict, timeout: float) -> dict:
    python = RAY_PYTHON if lib == "ray" else sys.executable
    env = dict(os.environ, **(RAY_ENV if lib == "ray" else {}))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(ROOT, "demo-notebooks"), env.get("PYTHONPATH")]))
    cmd = [python, os.path.abspath(__file__), "--child", lib, job, folder, json.dumps(a)]
    return run_json_child(cmd, env, timeout)


def table(results: dict, a: dict, identical: dict) -> str:
    names = {"single": "one process", "strato": "Strato", "ray": "Ray 2.60"}
    how = {"train": f"train: {a['rounds']} rounds on 75 % of the rows (2 actors / 2 Train workers)",
           "tune": f"tune: {a['trials']} trials x {a['tune_rounds']} rounds, ASHA, 1 CPU per trial",
           "infer": "inference: every row, map_batches on an actor pool"}
    lines = ["| job | one process (s) | Strato (s) | Ray (s) | check |", "|---|---|---|---|---|"]
    for job in ("train", "tune", "infer"):
        cells, checks = [], []
        for lib in ("single", "strato", "ray"):
            r = results[job][lib]
            if "error" in r:
                cells.append("failed: " + r["error"].strip().splitlines()[-1][:100])
                continue
            cells.append(f"{r['total_s']:.1f}")
            if "logloss" in r:
                checks.append(f"{names[lib]} log loss {r['logloss']:.4f}")
            if "best_logloss" in r:
                checks.append(f"{names[lib]} best {r['best_logloss']:.4f} ({r['trials']} trials)")
        if job == "infer":
            checks = [f"{names[lib]} predictions identical to one process: {identical.get(lib)}"
                      for lib in ("strato", "ray")]
        lines.append(f"| {how[job]} | " + " | ".join(cells) + " | " + "; ".join(checks) + " |")
    starts = {lib: results["train"][lib].get("cluster_start_s") for lib in ("strato", "ray")}
    lines.append("")
    lines.append("Cluster start, not counted above: " + ", ".join(
        f"{names[k]} {v:.1f} s" for k, v in starts.items() if v is not None) + ".")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--tune-rounds", type=int, default=10)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--only", default="train,tune,infer")
    p.add_argument("--write-results", action="store_true")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        lib, job, folder, a = args.child
        print(json.dumps(child(lib, job, folder, json.loads(a))))
        return 0

    import numpy as np
    import pandas as pd
    import xgboost as xgb

    import demo_data
    folder = demo_data.make(args.rows)
    print(f"data: {args.rows:,} rows in {folder} ({demo_data.size_on_disk(folder) / 2**20:.0f} MiB)", flush=True)
    work = tempfile.mkdtemp(prefix="demo-bench-")
    a = {"rounds": args.rounds, "trials": args.trials, "tune_rounds": args.tune_rounds, "out": work,
         "model": os.path.join(work, "model.ubj")}
    train_df, _ = frames(folder)
    xgb.train({**PARAMS, "nthread": 2}, xgb.DMatrix(train_df[demo_data.FEATURES], label=train_df[demo_data.LABEL]),
              a["rounds"]).save_model(a["model"])
    del train_df
    results: dict = {}
    jobs = args.only.split(",")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    for job in ("train", "tune", "infer"):
        results[job] = {}
        for lib in ("single", "strato", "ray"):
            if job not in jobs:
                results[job][lib] = {"error": "not run"}
                continue
            r = run_child(lib, job, folder, a, args.timeout)
            results[job][lib] = r
            print(f"{job:5s} {lib:6s}", json.dumps(r)[:300], flush=True)
    identical = {}
    ref = os.path.join(work, "pred-single.npy")
    for lib in ("strato", "ray"):
        path = os.path.join(work, f"pred-{lib}.npy")
        if os.path.exists(ref) and os.path.exists(path):
            identical[lib] = bool(np.array_equal(np.load(ref), np.load(path)))
    load = os.getloadavg()[0]
    text = (f"{args.rows:,} rows x 40 features ({demo_data.size_on_disk(folder) / 2**20:.0f} MiB of parquet in 8 "
            f"files), 2 CPUs, {started} UTC; load average {load:.1f} when it ended (other helpers were using the "
            f"CPUs).\n\n" + table(results, a, identical))
    print(text)
    if args.write_results:
        replace_section(START, END, "## The talk's demo: one process vs Strato vs Ray (`bench/demo_bench.py`, "
                                    f"issue 16)\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
