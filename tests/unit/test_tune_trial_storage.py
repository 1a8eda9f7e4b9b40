"""The trial lifecycle, which checkpoints are kept, result scopes, the terminal table and the view's
parallel coordinates (pure: no cluster)."""
import pytest

from strato.exceptions import InvalidTransition
from strato.tune import trial as trial_mod
from strato.tune.checkpoint import Checkpoint
from strato.tune.config import CheckpointConfig, FailureConfig, TuneConfig
from strato.tune.progress_reporter import render_table
from strato.tune.resources import PlacementGroupFactory, normalize, trial_resources, with_resources
from strato.tune.result_grid import scoped_value
from strato.tune.storage import keep_checkpoints
from strato.tune.stopper import make_stopper
from strato.tune.trial import Trial, TrialStatus
from strato.widgets.tune_view import numeric_axes


def test_lifecycle_table_is_complete_and_enforced():
    trial_mod.validate()
    t = Trial("a", {})
    t.set_status(TrialStatus.RUNNING)
    t.set_status("PAUSED")
    t.set_status("RUNNING")
    t.set_status("TERMINATED")
    with pytest.raises(InvalidTransition, match="TERMINATED -> RUNNING"):
        t.set_status("RUNNING")
    e = Trial("b", {})
    e.set_status("RUNNING")
    e.set_status("ERROR")
    e.set_status("PENDING")                     # Tuner.restore(resume_errored / restart_errored)
    assert e.history == [("PENDING", "RUNNING"), ("RUNNING", "ERROR"), ("ERROR", "PENDING")]
    assert t.status == "TERMINATED"             # a str Enum: compares with Ray's strings


def _ckpts(*scores):
    return [(Checkpoint(f"/c{i}"), {"score": s}) for i, s in enumerate(scores)]


def test_keep_checkpoints_best_by_score_and_always_the_latest():
    items = _ckpts(5, 9, 1, 7, 2)
    kept, dropped = keep_checkpoints(items, CheckpointConfig(num_to_keep=2, checkpoint_score_attribute="score"))
    assert [c.path for c, _ in kept] == ["/c1", "/c4"]           # best (9) and the latest (2)
    kept, _ = keep_checkpoints(items, CheckpointConfig(num_to_keep=3, checkpoint_score_attribute="score",
                                                       checkpoint_score_order="min"))
    assert [c.path for c, _ in kept] == ["/c0", "/c2", "/c4"]    # lowest 1 and 2, 5; the latest is among them
    kept, dropped = keep_checkpoints(items, CheckpointConfig(num_to_keep=2))
    assert [c.path for c, _ in kept] == ["/c3", "/c4"] and len(dropped) == 3
    kept, dropped = keep_checkpoints(items, CheckpointConfig())
    assert len(kept) == 5 and dropped == []


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="num_to_keep"):
        CheckpointConfig(num_to_keep=0)
    with pytest.raises(ValueError, match="max_failures"):
        FailureConfig(max_failures=-2)
    with pytest.raises(ValueError, match="mode"):
        TuneConfig(mode="best")
    with pytest.raises(ValueError, match="num_samples"):
        TuneConfig(num_samples=0)
    with pytest.raises(TypeError, match="Stopper"):
        make_stopper(5)


def test_scopes():
    rows = [{"m": v} for v in (1.0, 5.0, 2.0, float("nan"), 3.0)]
    assert scoped_value(rows, "m", "max", "last") == 3.0
    assert scoped_value(rows, "m", "max", "all") == 5.0
    assert scoped_value(rows, "m", "min", "all") == 1.0
    assert scoped_value(rows, "m", "max", "avg") == pytest.approx(11 / 4)
    assert scoped_value(rows, "m", "max", "last-5-avg") == pytest.approx(11 / 4)
    assert scoped_value([{"x": 1}], "m", "max", "last") is None
    with pytest.raises(ValueError, match="scope"):
        scoped_value(rows, "m", "max", "best")


def test_resources_dict_pgf_and_callable():
    assert normalize({"cpu": 2, "gpu": 0, "custom": 1}) == {"CPU": 2, "custom": 1}
    pgf = PlacementGroupFactory([{"CPU": 1}, {"CPU": 2, "GPU": 1}])
    assert pgf.required_resources == {"CPU": 3, "GPU": 1} and normalize(pgf) == {"CPU": 3, "GPU": 1}
    f = with_resources(lambda c: None, lambda config: {"cpu": config["n"]})
    assert trial_resources(f, {"n": 3}) == ({"CPU": 3}, [{"CPU": 3}], None)
    assert trial_resources(lambda c: None, {}) == ({"CPU": 1}, [{"CPU": 1}], None)
    with pytest.raises(ValueError, match="number >= 0"):
        normalize({"cpu": -1})
    with pytest.raises(ValueError, match="non-empty"):
        PlacementGroupFactory([])
    with pytest.raises(ValueError, match="only the first"):
        PlacementGroupFactory([{"CPU": 1}, {}])
    g = with_resources(lambda c: None, pgf)
    assert trial_resources(g, {}) == ({"CPU": 3, "GPU": 1}, pgf.bundles, pgf)


def test_a_trial_group_leaves_out_an_empty_head_bundle_and_places_the_actor_in_bundle_0():
    from strato.tune.trial_actors import actor_options, head_offset, never_placed, placement_options
    assert placement_options([{"CPU": 1}, {"CPU": 2, "GPU": 0}]) == ([{"CPU": 1}, {"CPU": 2}], {"CPU": 1}, 0)
    assert placement_options([{"CPU": 0}, {"CPU": 1}, {"CPU": 1}]) == ([{"CPU": 1}, {"CPU": 1}], {}, -1)
    assert head_offset([{}, {"CPU": 1}]) == 0 and head_offset([{"CPU": 1}, {"CPU": 1}]) == 1
    assert actor_options({}) == {"num_cpus": 0, "num_gpus": 0, "max_concurrency": 4, "max_restarts": 0}
    assert actor_options({"CPU": 2, "GPU": 1, "memory": 10, "tpu": 1}) == {
        "num_cpus": 2, "num_gpus": 1, "memory": 10, "resources": {"tpu": 1}, "max_concurrency": 4,
        "max_restarts": 0}
    one_cpu_nodes = [{"CPU": 1.0}, {"CPU": 1.0}]
    assert never_placed(PlacementGroupFactory([{}, {"CPU": 1}, {"CPU": 1}]), one_cpu_nodes) is None
    assert "STRICT_PACK" in never_placed(PlacementGroupFactory([{"CPU": 1}, {"CPU": 1}], "STRICT_PACK"),
                                         one_cpu_nodes)
    assert "STRICT_SPREAD" in never_placed(PlacementGroupFactory([{"CPU": 1}] * 3, "STRICT_SPREAD"), one_cpu_nodes)
    assert never_placed(PlacementGroupFactory([{"CPU": 2}]), one_cpu_nodes)           # no node that big


def _snapshot():
    return {"name": "run", "metric": "loss", "mode": "min", "status": "RUNNING", "elapsed": 3.0, "version": 1,
            "trials": [
                {"trial_id": "a", "name": "f_a", "status": "TERMINATED", "config": {"lr": 0.1, "opt": "sgd"},
                 "iter": 3, "last": 0.5, "best": 0.4, "stop_reason": "ASHA: below rung 3 cutoff 0.31",
                 "error": "", "history": [(1, 0.9), (2, 0.4), (3, 0.5)]},
                {"trial_id": "b", "name": "f_b", "status": "RUNNING", "config": {"lr": 0.3, "opt": "adam"},
                 "iter": 5, "last": 0.2, "best": 0.2, "stop_reason": "", "error": "", "history": [(5, 0.2)]},
                {"trial_id": "c", "name": "f_c", "status": "PENDING", "config": {"lr": 0.2, "opt": "adam"},
                 "iter": 0, "last": None, "best": None, "stop_reason": "", "error": "", "history": []}]}


def test_terminal_table_shows_status_config_metrics_and_reason():
    text = render_table(_snapshot())
    lines = text.splitlines()
    assert lines[0].startswith("== Status ==  run  PENDING 1 | RUNNING 1 | TERMINATED 1") and "best loss 0.2" in lines[0]
    assert lines[1].split() == ["Trial", "name", "status", "lr", "opt", "iter", "loss", "best", "stop", "reason"]
    assert "ASHA: below rung 3 cutoff 0.31" in lines[2] and "0.1" in lines[2] and "sgd" in lines[2]


def test_parallel_coordinates_scale_each_axis():
    names, scaled = numeric_axes(_snapshot()["trials"], "loss")
    assert names == ["lr", "opt", "loss"]
    assert scaled[0] == [0.0, 1.0, 1.0]                  # lr 0.1 lowest; "sgd" after "adam"; loss 0.5 highest
    assert scaled[1] == [1.0, 0.0, 0.0]
    assert scaled[2] is None                             # no metric yet: not drawn


def test_tune_view_reads_a_run_from_its_folder(tmp_path):
    from strato.tune.storage import save_state
    from strato.widgets.tune_view import TuneView
    a, b = Trial("r_00000", {"lr": 0.1}), Trial("r_00001", {"lr": 0.2})
    a.set_status("RUNNING")
    a.last_result, a.metric_history = {"training_iteration": 2}, [(1, 0.5), (2, 0.4)]
    b.set_status("RUNNING")
    b.set_status("TERMINATED")
    b.stop_reason = "ASHA: below rung 1 cutoff 0.3"
    save_state(str(tmp_path), {"trials": [a, b], "name": "r", "search_alg": None, "scheduler": None})
    view = TuneView(str(tmp_path)).refresh()
    assert [(r["status"], r["iter"], r["stop_reason"]) for r in view.rows] == [
        ("RUNNING", 2, ""), ("TERMINATED", 0, "ASHA: below rung 1 cutoff 0.3")]
    assert "ASHA: below rung 1 cutoff 0.3" in view.text()
    with pytest.raises(TypeError, match="TuneView takes"):
        TuneView(42)
