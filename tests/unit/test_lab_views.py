"""The pure parts of the views the JupyterLab dashboard tabs draw (strato.widgets timeline, actors; a Tune run)
and of the server extension (cluster ids, addresses): hand-worked inputs, no processes."""
import pytest

from strato.server_extension.dashboards import PublishedRuns, origin_allowed, tune_snapshot
from strato.widgets.tune_view import TuneView
from strato.server_extension.manager import ManagerError, check_address, cluster_id
from strato.widgets.actor_view import STATE_COLORS, rows
from strato.widgets.timeline import PALETTE, bars, function_color


def test_function_colour_is_stable_and_from_the_palette():
    assert function_color("double") == function_color("double")
    assert function_color("double") in PALETTE
    assert len({function_color(f"f{i}") for i in range(50)}) > 5      # names spread over the palette


def test_timeline_bars_one_lane_per_worker_times_from_first_start():
    records = [
        {"id": "a", "name": "f", "state": "FINISHED", "node": "n1aaaa", "worker": "w1bbbbbbbb", "start": 1.0,
         "end": 1.5},
        {"id": "b", "name": "g", "state": "RUNNING", "node": "n1aaaa", "worker": "w2cccccccc", "start": 1.2,
         "end": 0.0},
        {"id": "c", "name": "f", "state": "PENDING", "node": "n1aaaa", "start": 0.0, "end": 0.0},  # not started
    ]
    lanes, cols = bars(records, now=2.0)
    assert lanes == ["n1aaaa/w1bbbbbb", "n1aaaa/w2cccccc"]
    assert cols["task_id"] == ["a", "b"]
    assert cols["left"] == [0.0, pytest.approx(0.2)] and cols["right"] == [0.5, 1.0]     # running: up to now
    assert cols["color"] == [function_color("f"), function_color("g")]
    assert bars([], 0) == ([], {c: [] for c in cols})


def test_timeline_packs_tasks_without_a_worker_into_slots_per_node():
    # node A: a [0,2], b [1,3] overlap -> two slots; c [2,4] reuses slot 0; node B: its own slot 0.
    records = [{"id": i, "name": "f", "state": "FINISHED", "node": node, "start": s, "end": e}
               for i, node, s, e in (("a", "A", 10.0, 12.0), ("b", "A", 11.0, 13.0), ("c", "A", 12.0, 14.0),
                                     ("d", "B", 11.0, 12.0))]
    lanes, cols = bars(records, now=20.0)
    assert dict(zip(cols["task_id"], cols["lane"])) == {"a": "A/slot 0", "b": "A/slot 1", "c": "A/slot 0",
                                                         "d": "B/slot 0"}
    assert lanes == ["A/slot 0", "A/slot 1", "B/slot 0"]


def test_actor_rows_alive_first_coloured_by_state():
    actors = [{"actor_id": "b" * 32, "class_name": "B", "state": "DEAD", "name": "", "node_id": "n" * 32,
               "num_restarts": 2},
              {"actor_id": "a" * 32, "class_name": "A", "state": "ALIVE", "name": "svc", "node_id": None,
               "num_restarts": 0}]
    cols = rows(actors)
    assert cols["state"] == ["ALIVE", "DEAD"]
    assert cols["color"] == [STATE_COLORS["ALIVE"], STATE_COLORS["DEAD"]]
    assert cols["label"][0] == "A 'svc' aaaaaaaa" and cols["restarts"] == [0, 2]
    assert cols["y"] == [2.0, 1.0] and cols["node"] == ["", "n" * 12]


def test_published_tune_run_becomes_a_tune_view_snapshot():
    runs = [{"name": "old", "id": "old:1", "status": "TERMINATED", "update_time": 5.0, "start_time": 1.0,
             "trials": []},
            {"name": "exp", "id": "exp:2", "status": "RUNNING", "metric": "score", "mode": "max",
             "update_time": 9.0, "start_time": 7.0,
             "trials": [{"trial_id": "t1", "status": "TERMINATED", "best": 0.5, "last": 0.4, "iter": 3,
                         "stop_reason": ""}]}]
    snap = tune_snapshot(runs, now=10.0)
    assert snap["name"] == "exp" and snap["version"] == 9.0 and snap["elapsed"] == 2.0   # update - start
    [t] = snap["trials"]
    assert (t["name"], t["status"], t["best"], t["last"], t["iter"]) == ("t1", "TERMINATED", 0.5, 0.4, 3)
    assert t["config"] == {} and t["history"] == [] and t["error"] == ""    # a summary without them
    assert tune_snapshot([], now=0) is None


def test_published_curves_and_configs_reach_the_tune_view_and_bad_points_are_dropped():
    runs = [{"name": "exp", "status": "RUNNING", "metric": "score", "mode": "max", "update_time": 2.0,
             "trials": [{"trial_id": "t1", "status": "RUNNING", "config": {"lr": 0.1, "opt": "adam", "x": [1]},
                         "history": [[1, 0.5], [2, 0.7], ["3", 0.9], [4], [5, True], "junk", [6, 0.8]]},
                        {"trial_id": "t2", "status": "PENDING", "config": "not a dict", "history": {"a": 1}}]}]
    first, second = tune_snapshot(runs, now=3.0)["trials"]
    assert first["config"] == {"lr": 0.1, "opt": "adam"}
    assert first["history"] == [[1, 0.5], [2, 0.7], [6, 0.8]]
    assert second["config"] == {} and second["history"] == []
    class Head:                   # the state API's reply, as the lab's Tune tab reads it
        def get(self, path):
            assert path == "/api/strato/tune_runs"
            return runs
    view = TuneView(PublishedRuns(Head()))
    curves = view._curve_data(view.source.snapshot())
    assert curves["xs"][0] == [1, 2, 6] and curves["ys"][0] == [0.5, 0.7, 0.8] and curves["xs"][1] == []


def test_a_published_summary_thins_each_curve_to_its_budget_and_keeps_scalar_configs():
    from strato.tune import publish
    hist = [(i, float(i) / 10) for i in range(1, 1001)] + [(1001, float("nan")), (1002, float("inf"))]
    thin = publish.thin_history(hist, 5)
    assert thin == [[1, 0.1], [251, 25.1], [501, 50.1], [750, 75.0], [1000, 100.0]]   # first and last kept
    assert publish.thin_history(hist[:3], 5) == [[1, 0.1], [2, 0.2], [3, 0.3]]
    assert publish.points_per_trial(1) == publish.TRIAL_POINTS
    assert publish.points_per_trial(500) == publish.HISTORY_POINTS // 500
    assert publish.points_per_trial(10**6) == 2 and publish.points_per_trial(0) == publish.TRIAL_POINTS
    cfg = {"lr": 0.01, "model": {"depth": 3, "name": "x" * 100, "layers": [1, 2]}, "on": True,
           "bad": float("nan"), "fn": print}
    assert publish.scalar_config(cfg) == {"lr": 0.01, "model/depth": 3, "model/name": "x" * publish.CONFIG_TEXT,
                                          "on": True}
    assert publish.scalar_config(None) == {}


def test_cluster_ids_and_addresses():
    assert cluster_id("127.0.0.1:6380") == "127.0.0.1_6380"
    assert check_address(" head-node:6380 ") == "head-node:6380"
    for bad in ("head-node", "http://x:1", "", None, "a b:1"):
        with pytest.raises(ManagerError, match="HOST:PORT"):
            check_address(bad)



def test_a_dashboard_websocket_must_come_from_its_own_page_or_an_origin_jupyter_allows():
    host = "localhost:8888"
    assert origin_allowed("http://localhost:8888", host)
    assert origin_allowed("https://LOCALHOST:8888", host)                # scheme and case do not matter
    assert origin_allowed(None, host)                                     # no browser page: the token decides
    assert not origin_allowed("http://evil.example", host)
    assert not origin_allowed("http://localhost:9999", host)              # another port is another origin
    assert not origin_allowed("http://localhost:8888.evil.example", host)
    assert not origin_allowed("null", host)                               # a sandboxed or file page
    assert not origin_allowed("http://x", "")                             # no Host header: nothing matches
    assert origin_allowed("http://evil.example", host, allow_origin="*")
    assert origin_allowed("https://hub.example", host, allow_origin="https://hub.example")
    assert not origin_allowed("https://hub.example.evil", host, allow_origin="https://hub.example")
    assert origin_allowed("https://a.hub.example", host, allow_origin_pat=r"https://[a-z]+\.hub\.example$")
    assert not origin_allowed("https://a.hub.example.evil", host, allow_origin_pat=r"https://[a-z]+\.hub\.example$")
