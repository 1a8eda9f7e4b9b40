"""strato.xgboost on a cluster of two 1-CPU nodes (the second one on its own loopback address).

Each node can hold one training actor, so the placement group puts one on
each; the collective then runs between two raylets' workers, and the model
matches single-process xgboost as on one node.
"""
import numpy as np
import pytest
import xgboost as xgb

import strato
from strato.cluster_utils import Cluster
from strato.xgboost import RayDMatrix, RayParams, predict, train

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def two_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.2")
        strato.init(address=cluster.address)
        yield cluster
    finally:
        strato.shutdown()
        cluster.shutdown()


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
