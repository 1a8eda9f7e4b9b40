"""PBT exploiting a checkpoint with an explored config, and Optuna / HyperOpt searching a quadratic, on a
real 2-CPU cluster."""
import json
import os
import time

import pytest

from strato import tune

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]


def grow(config):
    """value grows by lr per step; the checkpoint records whose it was."""
    me = tune.get_context().get_trial_id()
    value, step, restored_from = 0.0, 0, ""
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            saved = json.load(open(os.path.join(d, "state.json")))
        value, step, restored_from = saved["value"], saved["step"], saved["owner"]
    while True:
        time.sleep(0.03)
        step += 1
        value += config["lr"]
        d = os.path.join(tune.get_context().get_trial_dir(), f"tmp_{step}")
        os.makedirs(d, exist_ok=True)
        json.dump({"value": value, "step": step, "owner": me}, open(os.path.join(d, "state.json"), "w"))
        tune.report({"value": value, "lr": config["lr"], "restored_from": restored_from},
                    checkpoint=tune.Checkpoint.from_directory(d))


def test_pbt_changes_a_config_and_restores_the_clones_checkpoint(tmp_path):
    pbt = tune.PopulationBasedTraining(time_attr="training_iteration", metric="value", mode="max",
                                       perturbation_interval=2, quantile_fraction=0.25, resample_probability=0.0,
                                       hyperparam_mutations={"lr": [0.01, 0.1, 1.0, 2.0, 3.0]}, seed=1)
    # half a CPU each: all four run at once on the 2-CPU cluster (no time-multiplexing pauses)
    grid = tune.Tuner(tune.with_resources(grow, {"cpu": 0.5}), param_space={"lr": tune.grid_search([0.01, 0.1, 1.0, 2.0])},
                      tune_config=tune.TuneConfig(scheduler=pbt, reuse_actors=False),
                      run_config=tune.RunConfig(name="pbt", storage_path=str(tmp_path), verbose=0,
                                                stop={"training_iteration": 8},
                                                checkpoint_config=tune.CheckpointConfig(num_to_keep=2))).fit()
    assert grid.num_terminated == 4 and grid.num_errors == 0
    trials = grid._trials
    exploited = [t for t in trials if getattr(t, "exploited_from", None)]
    assert exploited, [(t.config, t.last_result.get("value")) for t in trials]
    ids = {t.trial_id for t in trials}
    for t in exploited:
        assert "@perturbed[" in t.experiment_tag
        rows = [json.loads(line) for line in open(os.path.join(t.local_path, "result.json"))]
        restored = [r for r in rows if r["restored_from"] and r["restored_from"] != t.trial_id]
        assert restored, "no result after restoring another trial's checkpoint"
        clone = restored[0]["restored_from"]
        assert clone in ids and clone in t.exploited_from
        # the first result after the exploit continues the clone's value with the new lr
        first = restored[0]
        assert first["lr"] in (0.01, 0.1, 1.0, 2.0, 3.0)
        json.load(open(os.path.join(t.local_path, "params.json")))["lr"] == t.config["lr"]
    lrs_before = {0.01, 0.1}
    assert any(t.config["lr"] not in lrs_before for t in trials if t.last_result["value"] > 1)
    best = grid.get_best_result()
    assert best.metrics["training_iteration"] == 8 and best.metrics["value"] >= 2.0 * 8 - 1e-6


def quadratic(config):
    tune.report({"loss": (config["x"] - 3) ** 2 + (config["y"] + 1) ** 2})


@pytest.mark.parametrize("which", ["optuna", "hyperopt"])
def test_model_based_searchers_improve_on_a_quadratic(tmp_path, which):
    if which == "optuna":
        from strato.tune.search.optuna import OptunaSearch
        searcher = OptunaSearch(seed=0)
    else:
        from strato.tune.search.hyperopt import HyperOptSearch
        searcher = HyperOptSearch(n_initial_points=6, random_state_seed=0)
    space = {"x": tune.uniform(-10, 10), "y": tune.uniform(-10, 10)}
    grid = tune.Tuner(quadratic, param_space=space,
                      tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=24, reuse_actors=True,
                                                  search_alg=tune.ConcurrencyLimiter(searcher, 1)),   # seeded: reproducible
                      run_config=tune.RunConfig(name=which, storage_path=str(tmp_path), verbose=0)).fit()
    assert len(grid) == 24 and grid.num_errors == 0
    order = sorted(grid._trials, key=lambda t: t.trial_id)
    losses = [t.last_result["loss"] for t in order]
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    assert median(losses[12:]) < median(losses[:6]), losses
    assert grid.get_best_result().metrics["loss"] < 2.0
