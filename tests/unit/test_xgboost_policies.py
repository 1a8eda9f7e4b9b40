"""strato.xgboost's pure rules: sharding, combining predictions, placement capacity, restart policy, RayParams."""
import numpy as np
import pytest

from strato.xgboost.params import RayParams, check_xgb_params
from strato.xgboost.placement import cluster_capacity, infeasible_message
from strato.xgboost.recovery import GiveUp, RestartPolicy, Resume, TrainingCheckpoint, merge_evals
from strato.xgboost.sharding import RayShardingMode, assign_files, batch_bounds, combine, shard_positions


# ------------------------------------------------------------------ sharding
def test_interleaved_rows_go_round_robin():
    positions = shard_positions(7, 3, RayShardingMode.INTERLEAVED)
    assert [list(range(7)[p]) for p in positions] == [[0, 3, 6], [1, 4], [2, 5]]


def test_batch_rows_are_contiguous_and_balanced():
    assert batch_bounds(7, 3) == [(0, 3), (3, 5), (5, 7)]
    positions = shard_positions(7, 3, RayShardingMode.BATCH)
    assert [list(range(7)[p]) for p in positions] == [[0, 1, 2], [3, 4], [5, 6]]


@pytest.mark.parametrize("mode", list(RayShardingMode))
def test_combine_restores_row_order(mode):
    n, shards = 11, 4
    values = np.arange(n) * 10.0
    positions = shard_positions(n, shards, mode)
    parts = [values[p] for p in positions]
    assert np.array_equal(combine(n, parts, positions), values)
    multi = np.stack([values, -values], axis=1)      # multi-class outputs keep their second axis
    assert np.array_equal(combine(n, [multi[p] for p in positions], positions), multi)


def test_combine_rejects_a_short_shard():
    positions = shard_positions(4, 2, RayShardingMode.BATCH)
    with pytest.raises(ValueError, match="returned 1 rows where 2"):
        combine(4, [np.zeros(2), np.zeros(1)], positions)


def test_files_are_assigned_whole_and_fewer_files_than_actors_is_an_error():
    assert assign_files(5, 2, RayShardingMode.INTERLEAVED) == [[0, 2, 4], [1, 3]]
    assert assign_files(5, 2, RayShardingMode.BATCH) == [[0, 1, 2], [3, 4]]
    with pytest.raises(ValueError, match="2 file\\(s\\) but 3 actors"):
        assign_files(2, 3, RayShardingMode.INTERLEAVED)


# ------------------------------------------------------------------ placement
def test_capacity_counts_whole_bundles_per_node():
    nodes = [{"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 3.0, "GPU": 1.0}]
    assert cluster_capacity(nodes, {"CPU": 1}) == 5
    assert cluster_capacity(nodes, {"CPU": 2}) == 1          # a bundle never straddles nodes
    assert cluster_capacity(nodes, {"CPU": 1, "GPU": 1}) == 1
    assert cluster_capacity(nodes, {"CPU": 0.5}) == 10
    assert "at most 1" in infeasible_message(3, 1, {"CPU": 2}, nodes)


# ------------------------------------------------------------------ restart policy
def ckpt(rounds):
    return TrainingCheckpoint(rounds, b"model", {"train": {"logloss": list(range(rounds))}})


def test_a_dead_actor_is_restarted_and_training_resumes_after_the_checkpoint():
    policy = RestartPolicy(num_boost_round=20, max_actor_restarts=2)
    assert policy.rounds_left(None) == 20
    decision = policy.on_failure(dead_ranks={1}, failed_ranks={0, 1}, checkpoint=ckpt(5))
    assert decision == Resume(restart_ranks=(1,), rounds_done=5, rounds_left=15, reason=decision.reason)
    assert policy.rounds_left(ckpt(5)) == 15


def test_without_a_checkpoint_training_starts_over():
    decision = RestartPolicy(10, 1).on_failure({0}, {0, 1}, None)
    assert isinstance(decision, Resume) and decision.rounds_done == 0 and decision.rounds_left == 10


def test_the_restart_budget_is_counted():
    policy = RestartPolicy(10, max_actor_restarts=1)
    assert isinstance(policy.on_failure({0}, {0}, None), Resume)
    decision = policy.on_failure({0}, {0}, ckpt(3))
    assert isinstance(decision, GiveUp) and "max_actor_restarts=1" in decision.reason


def test_unlimited_restarts_and_no_restarts():
    forever = RestartPolicy(10, max_actor_restarts=-1)
    assert all(isinstance(forever.on_failure({1}, {1}, None), Resume) for _ in range(50))
    assert isinstance(RestartPolicy(10, 0).on_failure({1}, {1}, None), GiveUp)


def test_errors_without_a_dead_actor_are_not_retried():
    decision = RestartPolicy(10, max_actor_restarts=5).on_failure(set(), {0, 1}, ckpt(5))
    assert isinstance(decision, GiveUp) and "without any actor dying" in decision.reason


def test_merge_evals_keeps_each_round_once():
    prefix = {"train": {"logloss": [0.9, 0.8, 0.7, 0.65]}}     # checkpoint after 3 rounds; a 4th was lost
    attempt = {"train": {"logloss": [0.6, 0.5]}, "test": {"logloss": [0.7, 0.6]}}
    merged = merge_evals(prefix, attempt, rounds_done=3)
    assert merged == {"train": {"logloss": [0.9, 0.8, 0.7, 0.6, 0.5]}, "test": {"logloss": [0.7, 0.6]}}


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("kwargs, match", [
    ({}, "num_actors"),
    ({"num_actors": 2.0}, "num_actors"),
    ({"num_actors": 2, "cpus_per_actor": -1}, "cpus_per_actor"),
    ({"num_actors": 2, "gpus_per_actor": "1"}, "gpus_per_actor"),
    ({"num_actors": 2, "max_actor_restarts": -2}, "max_actor_restarts"),
    ({"num_actors": 2, "checkpoint_frequency": 1.5}, "checkpoint_frequency"),
    ({"num_actors": 2, "resources_per_actor": {"x": -1}}, "resources_per_actor"),
])
def test_bad_ray_params_say_which_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RayParams(**kwargs).validate()


def test_elastic_training_is_refused_with_the_alternative():
    with pytest.raises(NotImplementedError, match="max_actor_restarts"):
        RayParams(num_actors=2, elastic_training=True).validate()


def test_resolve_shares_cluster_cpus_and_sets_resources():
    params = RayParams(num_actors=2).resolve(cluster_cpus=4)
    assert params.cpus_per_actor == 2 and params.nthread == 2
    assert RayParams(num_actors=3).resolve(cluster_cpus=2).cpus_per_actor == 1
    gpu = RayParams(num_actors=2, cpus_per_actor=1, gpus_per_actor=1, resources_per_actor={"r": 1}).resolve(2)
    assert gpu.actor_resources() == {"num_cpus": 1, "num_gpus": 1, "resources": {"r": 1}}
    assert gpu.bundle() == {"CPU": 1, "GPU": 1, "r": 1}


def test_exact_tree_method_is_refused():
    with pytest.raises(ValueError, match='tree_method="exact"'):
        check_xgb_params({"tree_method": "exact"})
    with pytest.raises(ValueError, match="grow_colmaker"):
        check_xgb_params({"updater": "grow_colmaker,prune"})
    check_xgb_params({"tree_method": "hist"})


# ------------------------------------------------------------------ tune callbacks (the pure parts)
def test_tune_callback_metric_names_and_when_it_wants_the_model():
    from strato.xgboost.tune import TuneReportCallback, TuneReportCheckpointCallback, flatten, split_callbacks

    evals = {"train": {"logloss": [0.6, 0.5]}, "valid": {"logloss": [0.7, 0.65], "error": [0.3, 0.2]}}
    assert flatten(evals) == {"train-logloss": 0.5, "valid-logloss": 0.65, "valid-error": 0.2}
    renamed = TuneReportCheckpointCallback(metrics={"loss": "valid-logloss"}, frequency=2)
    assert renamed._select(flatten(evals)) == {"loss": 0.65}
    assert TuneReportCheckpointCallback(metrics="valid-error")._select(flatten(evals)) == {"valid-error": 0.2}
    assert [r for r in range(1, 8) if renamed.wants_model(r, final_round=7)] == [2, 4, 6, 7]
    assert not any(TuneReportCallback().wants_model(r, final_round=7) for r in range(1, 8))
    actor_side, driver_side = split_callbacks(["an xgboost callback", renamed])
    assert actor_side == ["an xgboost callback"] and driver_side == [renamed]
    with pytest.raises(ValueError, match="frequency"):
        TuneReportCheckpointCallback(frequency=-1)
