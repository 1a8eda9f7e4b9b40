"""strato.tune against Ray Tune, side by side in one run (issue 13).

    .venv/bin/python bench/tune_bench.py                  # print the table
    .venv/bin/python bench/tune_bench.py --write-results  # and replace its section of bench/RESULTS.md
    .venv/bin/python bench/tune_bench.py --trials 50      # a shorter run

Workloads (each in a fresh process, libraries alternating; both on init(num_cpus=2), 1 CPU per trial,
results in a temp dir, terminal output off):

    trivial           TRIALS trials (a grid), each reporting REPORTS times and returning: the cost of
                      running a trial at all (an actor, its results, its files)
    trivial_reuse     the same with TuneConfig(reuse_actors=True)
    xgb_asha          20 trials of a small XGBoost model (breast cancer data, up to 30 rounds, one report per
                      round) under ASHA (grace 3, rf 3): best validation logloss and fit time

Reported: the total time of fit() and the per-trial overhead (fit time x 2 CPUs / trials: the CPU
time a trial costs the cluster beyond its own work, which is nil here). Ray runs with
bench/.ray-venv/bin/python, its dashboard and usage stats off; a Ray run is bounded by --timeout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RAY_PYTHON = os.path.join(BENCH, ".ray-venv", "bin", "python")
STRATO_PYTHON = os.path.join(REPO, ".venv", "bin", "python")
START, END = "<!-- tune_bench:start -->", "<!-- tune_bench:end -->"
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
           "RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
REPORTS = 3
WORKLOADS = ("trivial", "trivial_reuse", "xgb_asha")
XGB_TRIALS, XGB_ROUNDS = 20, 30


def trivial(config):
    """The trial: REPORTS reports, no work. `tune` is whichever library runs it."""
    from_lib = config["__lib"]
    if from_lib == "ray":
        from ray import tune
    else:
        from strato import tune
    for i in range(REPORTS):
        tune.report({"score": config["x"] * (i + 1)})


def xgb_trial(config):
    """A small XGBoost model; each round's validation logloss is reported (ASHA stops poor configs)."""
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    if config["__lib"] == "ray":
        from ray import tune
    else:
        from strato import tune
    x, y = load_breast_cancer(return_X_y=True)
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.25, random_state=0)
    dtrain, dvalid = xgb.DMatrix(xt, label=yt), xgb.DMatrix(xv, label=yv)

    class Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            tune.report({"logloss": evals_log["valid"]["logloss"][-1]})
            return False

    params = {"objective": "binary:logistic", "eval_metric": "logloss", "nthread": 1,
              "max_depth": config["max_depth"], "eta": config["eta"], "subsample": config["subsample"]}
    xgb.train(params, dtrain, num_boost_round=XGB_ROUNDS, evals=[(dvalid, "valid")], verbose_eval=False,
              callbacks=[Report()])


def child_xgb(lib: str) -> dict:
    storage = tempfile.mkdtemp(prefix=f"tune-bench-{lib}-")
    if lib == "ray":
        import logging
        import ray
        from ray import tune
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    else:
        import strato as ray
        from strato import tune
        ray.init(num_cpus=2)
    space = {"max_depth": tune.randint(1, 9), "eta": tune.loguniform(1e-3, 0.5), "subsample": tune.uniform(0.5, 1.0),
             "__lib": lib}
    t0 = time.perf_counter()
    grid = tune.Tuner(xgb_trial, param_space=space,
                      tune_config=tune.TuneConfig(metric="logloss", mode="min", num_samples=XGB_TRIALS,
                                                  search_alg=tune.search.BasicVariantGenerator(random_state=0),
                                                  scheduler=tune.schedulers.ASHAScheduler(
                                                      max_t=XGB_ROUNDS, grace_period=3, reduction_factor=3)),
                      run_config=tune.RunConfig(storage_path=storage, verbose=0, name="xgb")).fit()
    elapsed = time.perf_counter() - t0
    best = grid.get_best_result().metrics["logloss"]
    rounds = sum(r.metrics.get("training_iteration", 0) for r in grid)
    ray.shutdown()
    import shutil
    shutil.rmtree(storage, ignore_errors=True)
    return {"fit_s": elapsed, "trials_ok": len(grid) - grid.num_errors, "best_logloss": best, "rounds": rounds}


# ----------------------------------------------------------------------------- child side
def child(lib: str, workload: str, trials: int) -> dict:
    if workload == "xgb_asha":
        return child_xgb(lib)
    storage = tempfile.mkdtemp(prefix=f"tune-bench-{lib}-")
    if lib == "ray":
        import logging
        import ray
        from ray import tune
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    else:
        import strato as ray
        from strato import tune
        ray.init(num_cpus=2)
    t0 = time.perf_counter()

    class Progress(tune.Callback):
        """Prints how many trials are done (a run stopped at its bound still tells its rate)."""
        done = 0

        def on_trial_complete(self, iteration, trials, trial, **info):
            Progress.done += 1
            print(json.dumps({"progress": Progress.done, "t": time.perf_counter() - t0}), flush=True)

    grid = tune.Tuner(trivial, param_space={"x": tune.grid_search(list(range(trials))), "__lib": lib},
                      tune_config=tune.TuneConfig(metric="score", mode="max", reuse_actors=workload.endswith("reuse")),
                      run_config=tune.RunConfig(storage_path=storage, verbose=0, name="bench",
                                                callbacks=[Progress()])).fit()
    elapsed = time.perf_counter() - t0
    ok = sum(1 for r in grid if r.metrics.get("training_iteration") == REPORTS)
    ray.shutdown()
    import shutil
    shutil.rmtree(storage, ignore_errors=True)
    return {"fit_s": elapsed, "trials_ok": ok}


# ----------------------------------------------------------------------------- parent side
def measure(lib: str, workload: str, trials: int, timeout: float) -> dict:
    python = RAY_PYTHON if lib == "ray" else STRATO_PYTHON
    env = dict(os.environ, PYTHONPATH=BENCH, **(RAY_ENV if lib == "ray" else {}))
    cmd = [python, os.path.abspath(__file__), "--child", lib, workload, "--trials", str(trials)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        progress = [json.loads(line) for line in out.decode().splitlines() if line.startswith('{"progress"')]
        last = progress[-1] if progress else {"progress": 0, "t": 0.0}
        return {"error": f"over the {timeout:.0f} s bound", "wall_s": time.perf_counter() - t0,
                "done_at_bound": last["progress"], "done_t": last["t"]}
    lines = [line for line in out.decode().splitlines() if line.startswith("{") and '"progress"' not in line]
    if proc.returncode != 0 or not lines:
        return {"error": err.decode()[-800:], "wall_s": time.perf_counter() - t0}
    return dict(json.loads(lines[-1]), wall_s=time.perf_counter() - t0)


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def version(python: str, module: str) -> str:
    try:
        return subprocess.run([python, "-c", f"import {module}; print({module}.__version__)"], capture_output=True,
                              text=True, timeout=60, env=dict(os.environ, **RAY_ENV)).stdout.strip()
    except Exception:
        return "?"


def render(results: dict, trials: int, load: str) -> str:
    lines = [START, "## Tune: trivial trials (`bench/tune_bench.py`), issue 13", "",
             f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}",
             f"- strato {version(STRATO_PYTHON, 'strato')} (`.venv`), Ray {version(RAY_PYTHON, 'ray')} "
             f"(`bench/.ray-venv`), both `init(num_cpus=2)`, 1 CPU per trial, {trials} trials x {REPORTS} reports",
             f"- Load average when the run started: {load} (other engineers' work shared the 2 cores)", "",
             "| workload | strato fit | Ray fit | strato per-trial overhead | Ray per-trial overhead | strato vs Ray |",
             "|---|---|---|---|---|---|"]
    for wl in WORKLOADS:
        s, r = results.get(("strato", wl), {}), results.get(("ray", wl), {})
        if wl == "xgb_asha":
            continue
        def cell(x):
            return f"{x['fit_s']:.1f} s ({x['trials_ok']}/{trials} ok)" if "fit_s" in x else x.get("error", "?")[:60]
        def per_ms(x):
            if "fit_s" in x:
                return x["fit_s"] * 2 / trials * 1000
            if x.get("done_at_bound"):
                return x["done_t"] * 2 / x["done_at_bound"] * 1000
            return None

        def per(x):
            v = per_ms(x)
            extra = f" ({x['done_at_bound']} trials done in {x['done_t']:.0f} s)" if "fit_s" not in x and v else ""
            return f"{v:.0f} ms{extra}" if v is not None else "-"
        if "fit_s" in s and "fit_s" in r:
            ratio = f"{r['fit_s'] / s['fit_s']:.1f}x faster"
        elif per_ms(s) and per_ms(r):
            ratio = f"{per_ms(r) / per_ms(s):.1f}x less overhead per trial (Ray stopped at its bound)"
        else:
            ratio = "-"
        lines.append(f"| `{wl}` | {cell(s)} | {cell(r)} | {per(s)} | {per(r)} | {ratio} |")
    s, r = results.get(("strato", "xgb_asha"), {}), results.get(("ray", "xgb_asha"), {})
    if s or r:
        def xcell(x):
            return (f"{x['fit_s']:.1f} s, best logloss {x['best_logloss']:.4f}, {x['rounds']} rounds in all"
                    if "fit_s" in x else f"error: {x.get('error', '?')[:60]}")
        lines += ["", f"`xgb_asha` ({XGB_TRIALS} trials, ASHA, up to {XGB_ROUNDS} rounds each, seeded "
                  f"random configs, each library's own sampler): strato {xcell(s)}; Ray {xcell(r)}."]
    lines += ["", "Per-trial overhead = fit time x 2 CPUs / trials (the trials do no work). Target from the issue: "
              "strato at least 5x faster than Ray Tune on `trivial`.", END]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"))
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds a Ray (or strato) run may take")
    ap.add_argument("--libs", default="strato,ray")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--merge", help="a JSON file of earlier results (this script's --save) to merge in")
    ap.add_argument("--save", help="write this run's results as JSON here")
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.trials)), flush=True)
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results = {}
    if args.merge:
        results.update({tuple(k.split("/")): v for k, v in json.load(open(args.merge)).items()})
    for wl in args.workloads.split(","):
        for lib in args.libs.split(","):
            results[(lib, wl)] = measure(lib, wl, args.trials, args.timeout)
            print(lib, wl, results[(lib, wl)], flush=True)
    if args.save:
        json.dump({f"{k[0]}/{k[1]}": v for k, v in results.items()}, open(args.save, "w"))
    table = render(results, args.trials, load)
    print(table)
    if args.write_results:
        path = os.path.join(BENCH, "RESULTS.md")
        text = open(path).read()
        if START in text and END in text:
            text = text[:text.index(START)] + table + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + table + "\n"
        open(path, "w").write(text)


if __name__ == "__main__":
    main()
