"""strato.xgboost on a cluster of two 1-CPU nodes (the second one on its own loopback address).

Each node can hold one training actor, so the placement group puts one on
each; the collective then runs between two raylets' workers, and the model
matches single-process xgboost as on one node.
"""
import numpy as np
import pytest
import xgboost as xgb

import strato
from strato._testing import two_node_cluster
from strato.xgboost import RayDMatrix, RayParams, predict, train

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def two_nodes():
    with two_node_cluster() as cluster:
        yield cluster


def test_two_one_cpu_nodes_train_one_actor_each(two_nodes):
    assert len([n for n in strato.nodes() if n["Alive"]]) == 2
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(2000, 5)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] + rng.normal(0, 1, 2000)) > 4).astype(np.float32)
    params = {"objective": "binary:logistic", "max_depth": 3}
    ray_params = RayParams(num_actors=2, cpus_per_actor=1)
    booster = train(params, RayDMatrix(X, label=y), 5, ray_params=ray_params)
    local = xgb.train({**params, "nthread": 1, "tree_method": "hist"}, xgb.DMatrix(X, label=y), 5)
    preds = predict(booster, RayDMatrix(X), ray_params=ray_params)
    assert np.abs(preds - local.predict(xgb.DMatrix(X))).mean() < 1e-3


def test_a_tune_trial_trains_on_both_one_cpu_nodes_in_its_placement_group(two_nodes, tmp_path):
    """The talk's tune-and-train on a cluster of 1-CPU nodes: each trial's bundles (an empty head, one
    per training actor) form a placement group spread over both nodes; the trial's actors take one
    each. (Held as one actor's resources, 2 CPUs would fit no node.)"""
    from strato import tune
    from strato.util.placement_group import get_current_placement_group, placement_group_table
    from strato.xgboost.tune import TuneReportCheckpointCallback

    rng = np.random.default_rng(1)
    X = rng.integers(0, 5, size=(1500, 4)).astype(np.float32)
    y = ((X[:, 0] - X[:, 1] + rng.normal(0, 1, 1500)) > 0).astype(np.float32)
    ray_params = RayParams(num_actors=2, cpus_per_actor=1)

    def trainable(config):
        dtrain = RayDMatrix(X, label=y)
        train({"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": config["depth"]}, dtrain, 4,
              evals=[(dtrain, "train")], ray_params=ray_params,
              callbacks=[TuneReportCheckpointCallback(metrics={"loss": "train-logloss"})])
        mine = placement_group_table(get_current_placement_group())
        tune.report({"loss": 0.0, "bundles": len(mine["bundles"]),
                     "spread": len(set(mine["bundles_to_node_id"].values())),
                     "nodes": len([n for n in strato.nodes() if n["Alive"]])})

    grid = tune.Tuner(tune.with_resources(trainable, ray_params.get_tune_resources()),
                      param_space={"depth": tune.grid_search([2, 3])},
                      tune_config=tune.TuneConfig(metric="loss", mode="min"),
                      run_config=tune.RunConfig(name="multinode", storage_path=str(tmp_path), verbose=0)).fit()
    assert grid.num_errors == 0 and grid.num_terminated == 2, [r.error for r in grid]
    for result in grid:
        assert result.metrics["training_iteration"] == 5             # 4 rounds, then the last report
        assert result.metrics["bundles"] == 2                          # the empty head bundle is left out
        assert result.metrics["spread"] == 2 == result.metrics["nodes"]
    assert all(r["state"] == "REMOVED" for r in placement_group_table().values())    # freed after each trial
