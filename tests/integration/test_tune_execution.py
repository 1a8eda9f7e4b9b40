"""strato.tune on a real cluster: trials as actors, results and files, checkpoints, schedulers, resources,
failures. One 2-CPU cluster for the module; trials are short (a few reports, small sleeps)."""
import json
import os
import time

import numpy as np
import pytest

import strato
from strato import tune
from strato.util import state

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]


def run(trainable, tmp_path, name, *, param_space=None, **kw):
    run_kw = {k: kw.pop(k) for k in ("stop", "checkpoint_config", "failure_config", "callbacks") if k in kw}
    return tune.Tuner(trainable, param_space=param_space or {},
                      tune_config=tune.TuneConfig(**kw),
                      run_config=tune.RunConfig(name=name, storage_path=str(tmp_path), verbose=0, **run_kw)).fit()


def with_checkpoints(config):
    start = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            start = json.load(open(os.path.join(d, "state.json")))["i"]
    for i in range(start, 5):
        score = config["x"] * (i + 1)
        if i % 2 == 1:
            d = os.path.join(tune.get_context().get_trial_dir(), f"tmp{i}")
            os.makedirs(d, exist_ok=True)
            json.dump({"i": i + 1, "score": score}, open(os.path.join(d, "state.json"), "w"))
            tune.report({"score": score}, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report({"score": score})


class Recorder(tune.Callback):
    def __init__(self):
        self.calls = []

    def on_trial_start(self, iteration, trials, trial, **info):
        self.calls.append("start")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.calls.append("result")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.calls.append("complete")

    def on_experiment_end(self, trials, **info):
        self.calls.append(f"end {len(trials)}")


def test_fit_writes_results_and_keeps_the_best_checkpoints(tmp_path):
    recorder = Recorder()
    grid = run(with_checkpoints, tmp_path, "files", param_space={"x": tune.grid_search([1, 2, 3])},
               metric="score", mode="max", callbacks=[recorder],
               checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="score"))
    assert [recorder.calls.count(c) for c in ("start", "result", "complete")] == [3, 15, 3]
    assert recorder.calls[-1] == "end 3"
    assert len(grid) == 3 and grid.num_terminated == 3 and grid.num_errors == 0
    best = grid.get_best_result()
    assert best.config == {"x": 3} and best.metrics["score"] == 15 and best.metrics["training_iteration"] == 5
    assert grid.get_best_result("score", "min").config == {"x": 1}
    df = grid.get_dataframe()
    assert sorted(df["config/x"]) == [1, 2, 3] and set(df["training_iteration"]) == {5}
    trial_dir = best.path
    lines = [json.loads(line) for line in open(os.path.join(trial_dir, "result.json"))]
    assert [r["training_iteration"] for r in lines] == [1, 2, 3, 4, 5]
    assert lines[-1]["config"] == {"x": 3} and lines[0]["trial_id"]
    assert json.load(open(os.path.join(trial_dir, "params.json"))) == {"x": 3}
    assert open(os.path.join(trial_dir, "progress.csv")).read().count("\n") == 6     # header + 5 rows
    assert len(best.metrics_dataframe) == 5
    ckpts = sorted(d for d in os.listdir(trial_dir) if d.startswith("checkpoint_"))
    assert ckpts == ["checkpoint_000004"]                      # reported at 2 and 4; num_to_keep=1
    with best.checkpoint.as_directory() as d:
        assert json.load(open(os.path.join(d, "state.json"))) == {"i": 4, "score": 12}


def quality(config):
    for i in range(12):
        time.sleep(0.03)
        tune.report({"acc": config["q"] * (1 - 0.5 ** (i + 1))})


def test_asha_stops_bad_trials_early_and_runs_fewer_iterations_than_fifo(tmp_path):
    space = {"q": tune.grid_search([1.0, 0.9, 0.1, 0.2, 0.3, 0.4])}     # good configs first: rungs fill
    fifo = run(quality, tmp_path, "fifo", param_space=space, metric="acc", mode="max", reuse_actors=True)
    asha = run(quality, tmp_path, "asha", param_space=space, metric="acc", mode="max", reuse_actors=True,
               scheduler=tune.ASHAScheduler(max_t=12, grace_period=2, reduction_factor=2))
    iters = lambda g: sum(r.metrics["training_iteration"] for r in g)  # noqa: E731
    assert iters(fifo) == 6 * 12
    assert iters(asha) < iters(fifo) - 12, [(r.config, r.metrics["training_iteration"]) for r in asha]
    stopped = [r for r in asha if r.stop_reason]
    assert stopped and all(r.stop_reason.startswith("ASHA: below rung") for r in stopped)
    assert {0.1, 0.2, 0.3, 0.4} <= {r.config["q"] for r in stopped}     # the obviously bad configs
    assert 1.0 not in {r.config["q"] for r in stopped}
    assert asha.get_best_result().config == {"q": 1.0}
    runs = {r["name"]: r for r in state.list_tune_runs()}
    assert runs["asha"]["status"] == "TERMINATED" and runs["asha"]["trials_by_state"] == {"TERMINATED": 6}
    assert runs["asha"]["best_metric"] == pytest.approx(asha.get_best_result().metrics["acc"])
    assert runs["asha"]["path"] == asha.experiment_path and len(runs["asha"]["trials"]) == 6
    by_q = {r.config["q"]: r for r in asha}           # each published row carries its curve and config
    for row in runs["asha"]["trials"]:
        result = by_q[row["config"]["q"]]
        assert [it for it, _ in row["history"]] == list(range(1, result.metrics["training_iteration"] + 1))
        assert row["history"][-1][1] == pytest.approx(result.metrics["acc"])


def timed(config):
    ctx = tune.get_context()
    start = time.time()
    time.sleep(0.3)
    tune.report({"start": start, "end": time.time(), "cpus": ctx.get_trial_resources().required_resources["CPU"]})


def _max_overlap(results):
    spans = sorted((r.metrics["start"], r.metrics["end"]) for r in results)
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


@pytest.mark.parametrize("resources", [{"cpu": 2}, tune.PlacementGroupFactory([{"CPU": 1}, {"CPU": 1}]),
                                       lambda config: {"CPU": 2}], ids=["dict", "pgf", "callable"])
def test_with_resources_bounds_concurrency(tmp_path, resources):
    grid = run(tune.with_resources(timed, resources), tmp_path, "res", param_space={"i": tune.grid_search([0, 1, 2])})
    assert grid.num_terminated == 3
    assert _max_overlap(grid) == 1                              # 2 CPUs each on a 2-CPU cluster
    assert {r.metrics["cpus"] for r in grid} == {2}


def rendezvous(config):
    """Mark itself running in a shared folder; until some pair of trials has met, wait (bounded) for a
    partner. Reports the most trials it saw running at once, so the test does not depend on how long
    a trial's worker takes to start."""
    here, me = config["dir"], os.path.join(config["dir"], f"running-{config['i']}")
    open(me, "w").close()
    start, seen = time.time(), 0
    deadline = start + 10
    while True:
        seen = max(seen, sum(1 for f in os.listdir(here) if f.startswith("running-")))
        if seen >= 2 and not os.path.exists(os.path.join(here, "paired")):
            open(os.path.join(here, "paired"), "w").close()
        if os.path.exists(os.path.join(here, "paired")) or time.time() > deadline:
            break
        time.sleep(0.02)
    time.sleep(0.1)
    seen = max(seen, sum(1 for f in os.listdir(here) if f.startswith("running-")))
    end = time.time()
    os.remove(me)
    tune.report({"start": start, "end": end, "seen": seen})


def test_trials_run_in_parallel_with_one_cpu_each(tmp_path):
    meet = tmp_path / "meet"
    meet.mkdir()
    grid = run(rendezvous, tmp_path, "par", max_concurrent_trials=2,
               param_space={"i": tune.grid_search([0, 1, 2, 3]), "dir": str(meet)})
    assert grid.num_terminated == 4
    assert max(r.metrics["seen"] for r in grid) == 2            # two ran at once, never more
    assert _max_overlap(grid) <= 2


def test_infeasible_resources_fail_with_a_clear_error(tmp_path):
    with pytest.raises(tune.TuneError, match="lower the trial's resources"):
        run(tune.with_resources(timed, {"cpu": 64}), tmp_path, "big")
    spread = tune.PlacementGroupFactory([{"CPU": 0.5}, {"CPU": 0.5}], strategy="STRICT_SPREAD")   # 1 node here
    with pytest.raises(tune.TuneError, match="can never be placed: STRICT_SPREAD needs 2 nodes"):
        run(tune.with_resources(timed, spread), tmp_path, "spread")


def crash_once(config):
    ckpt = tune.get_checkpoint()
    start = 0
    if ckpt is not None:
        start = json.load(open(os.path.join(ckpt.path, "i.json")))
    marker = os.path.join(config["dir"], "crashed")
    for i in range(start, 6):
        if i == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)                                          # the actor's process dies
        d = os.path.join(config["dir"], f"c{i}")
        os.makedirs(d, exist_ok=True)
        json.dump(i + 1, open(os.path.join(d, "i.json"), "w"))
        tune.report({"i": i + 1, "restored": ckpt is not None}, checkpoint=tune.Checkpoint.from_directory(d))


def test_a_crashing_trial_resumes_from_its_latest_checkpoint(tmp_path):
    grid = run(crash_once, tmp_path, "crash", param_space={"dir": str(tmp_path)},
               failure_config=tune.FailureConfig(max_failures=1))
    r = grid[0]
    assert r.error is None and r.metrics["i"] == 6 and r.metrics["training_iteration"] == 6
    assert r.metrics["restored"] is True
    rows = [json.loads(line) for line in open(os.path.join(r.path, "result.json"))]
    assert [x["training_iteration"] for x in rows] == [1, 2, 3, 4, 5, 6]    # the count continues
    assert grid._trials[0].num_failures == 1


def fails(config):
    tune.report(a=1)                                             # the old keyword form
    raise ValueError("bad config")


def test_an_error_without_retries_is_reported_and_tune_run_raises(tmp_path):
    grid = run(fails, tmp_path, "err")
    assert grid.num_errors == 1 and "ValueError: bad config" in str(grid.errors[0])
    assert grid[0].metrics["a"] == 1
    assert os.path.exists(os.path.join(grid[0].path, "error.txt"))
    with pytest.raises(tune.TuneError, match="bad config"):
        tune.run(fails, storage_path=str(tmp_path), name="err2", verbose=0)


class Counter(tune.Trainable):
    def setup(self, config):
        self.total = 0
        self.step_size = config["step"]

    def step(self):
        self.total += self.step_size
        return {"total": self.total}

    def save_checkpoint(self, checkpoint_dir):
        return {"total": self.total}

    def load_checkpoint(self, checkpoint):
        self.total = checkpoint["total"]


def test_class_trainable_with_stop_and_checkpoints_and_tune_run(tmp_path):
    analysis = tune.run(Counter, config={"step": tune.grid_search([1, 3])}, stop={"training_iteration": 4},
                        metric="total", mode="max", checkpoint_freq=2, storage_path=str(tmp_path), name="cls",
                        verbose=0)
    assert analysis.best_config == {"step": 3}
    assert analysis.best_result["total"] == 12 and analysis.best_result["training_iteration"] == 4
    best = analysis.best_trial
    assert sorted(os.listdir(best.local_path)).count("checkpoint_000004") == 1
    assert analysis.get_best_checkpoint(best).path.endswith("checkpoint_000004")
    assert len(analysis.dataframe()) == 2


class Resettable(tune.Trainable):
    def setup(self, config):
        self.resets, self.pid = 0, os.getpid()

    def step(self):
        return {"resets": self.resets, "pid": self.pid, "k": self.config["k"], "done": True}

    def reset_config(self, new_config):
        self.resets += 1
        return True


def test_reuse_actors_resets_a_class_trainable(tmp_path):
    grid = run(Resettable, tmp_path, "reset", param_space={"k": tune.grid_search([1, 2, 3])}, reuse_actors=True,
               max_concurrent_trials=1)
    rows = sorted((r.metrics["k"], r.metrics["resets"], r.metrics["pid"]) for r in grid)
    assert [(k, resets) for k, resets, _ in rows] == [(1, 0), (2, 1), (3, 2)]   # one object, reset twice
    assert len({pid for _, _, pid in rows}) == 1


def uses_data(config, data=None):
    tune.report({"sum": float(data.sum()) * config["k"]})


def test_with_parameters_passes_large_objects_by_reference(tmp_path):
    data = np.ones(1_000_000)
    grid = run(tune.with_parameters(uses_data, data=data), tmp_path, "params",
               param_space={"k": tune.grid_search([1, 2])}, metric="sum", mode="max")
    assert sorted(r.metrics["sum"] for r in grid) == [1e6, 2e6]


def test_time_budget_and_stop_function(tmp_path):
    def slow(config):
        for i in range(1000):
            time.sleep(0.05)
            tune.report({"i": i})
    t0 = time.time()
    grid = run(slow, tmp_path, "budget", param_space={"x": tune.grid_search([1, 2])}, time_budget_s=1.5)
    assert time.time() - t0 < 15 and grid.num_terminated == 2
    assert all(r.metrics.get("i", 0) < 999 for r in grid)          # (a slow start may leave no result)
    assert all(r.stop_reason == "time budget 1.5 s reached" for r in grid)
    grid = run(slow, tmp_path, "stopfn", stop=lambda trial_id, result: result["i"] >= 3)
    assert grid[0].metrics["i"] == 3
