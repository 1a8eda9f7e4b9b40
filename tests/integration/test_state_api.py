"""The state API on a real cluster: strato.util.state and the head's HTTP endpoint."""
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

import strato
from strato import _context
from strato._testing import wait_for
from strato.util import state


@strato.remote
def square(x):
    return x * x


@strato.remote
def fails():
    raise ValueError("on purpose")


@strato.remote
def outer():
    return strato.get(square.remote(3))


@strato.remote
class Counter:
    def incr(self):
        return 1



@pytest.fixture(scope="module")
def ran(cluster):
    refs = [square.remote(i) for i in range(20)]
    bad = fails.remote()
    nested = outer.remote()
    counter = Counter.options(name="state-counter").remote()
    strato.get(refs + [nested, counter.incr.remote()])
    with pytest.raises(ValueError):
        strato.get(bad)
    big = strato.put(np.ones(4 << 20, dtype=np.uint8))
    # Events reach the GCS within about a second of each change.
    # Wait for every task above, the nested square included (its owner is a worker, whose
    # events can come a flush later than the driver's).
    def all_reported():
        done = state.list_tasks(filters=[("state", "=", "FINISHED")], limit=1000)
        names = [t["func_or_class_name"] for t in done]
        failed = state.list_tasks(filters=[("state", "=", "FAILED")], limit=1000)
        return names.count("square") >= 21 and "outer" in names and bool(failed)

    wait_for(all_reported, 30, interval=0.2)         # the tests below say what is missing, if anything
    return {"refs": refs, "big": big, "counter": counter, "bad": bad}


def test_init_returns_the_dashboard_url(cluster):
    url = strato.init(ignore_reinit_error=True)["dashboard_url"]
    assert url.startswith("http://127.0.0.1:")


def test_list_tasks_in_rays_shape_with_filters_and_limits(ran):
    tasks = state.list_tasks(filters=[("func_or_class_name", "=", "square")], limit=1000)
    assert len(tasks) == 21 and {t["state"] for t in tasks} == {"FINISHED"}
    t = tasks[0]
    for key in ("task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type", "func_or_class_name",
                "parent_task_id", "node_id", "worker_id", "error_type"):
        assert key in t
    assert len(state.list_tasks(limit=5)) == 5
    assert {t["task_id"] for t in state.list_tasks(filters=[("state", "!=", "FINISHED")], limit=1000)} == {
        ran["bad"].task_id()}


def test_failed_task_carries_its_error(ran):
    [t] = state.list_tasks(filters=[("name", "=", "fails")], detail=True)
    assert t["state"] == "FAILED" and t["error_type"] == "ValueError"
    assert "on purpose" in t["error_message"]
    assert t["end_time_ms"] >= t["creation_time_ms"]


def test_nested_task_names_its_parent(ran):
    [parent] = state.list_tasks(filters=[("name", "=", "outer")])
    children = state.list_tasks(filters=[("parent_task_id", "=", parent["task_id"])])
    assert [c["name"] for c in children] == ["square"]


def test_actor_tasks_and_actors(ran):
    [call] = state.list_tasks(filters=[("type", "=", "ACTOR_TASK")])
    assert call["actor_id"] == ran["counter"]._actor_id.hex()
    actors = state.list_actors(filters=[("name", "=", "state-counter")])
    assert [(a["class_name"], a["state"]) for a in actors] == [("Counter", "ALIVE")]


def test_summarize_tasks(ran):
    s = state.summarize_tasks()["cluster"]
    assert s["summary"]["square"]["state_counts"]["FINISHED"] == 21
    assert s["summary"]["fails"]["state_counts"] == {"FAILED": 1}
    assert s["total_actor_tasks"] == 1


def test_nodes_workers_jobs(ran):
    [node] = state.list_nodes()
    assert node["state"] == "ALIVE" and node["is_head_node"] and node["resources_total"]["CPU"] == 2
    workers = state.list_workers()
    assert workers and all(w["pid"] > 0 and w["node_id"] == node["node_id"] for w in workers)
    jobs = state.list_jobs()
    assert any(j["status"] == "RUNNING" for j in jobs)


def test_objects_include_the_large_put_with_its_call_site(ran):
    objs = state.list_objects(limit=1000)
    mine = [o for o in objs if o["object_id"] == ran["big"].hex()]
    assert mine and mine[0]["object_size"] >= 4 << 20
    if mine[0]["store_state"] != "IN_PROCESS":      # in the node's shared-memory store
        assert "test_state_api.py" in mine[0]["call_site"]


def _get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_http_endpoint_needs_the_cluster_token(ran):
    url = strato.init(ignore_reinit_error=True)["dashboard_url"] + "/api/v0/nodes"
    token = _context.worker().token
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(url, headers)
        assert err.value.code == 401
    assert _get(url, {"Authorization": f"Bearer {token}"})["data"]["result"]["total"] == 1
    for headers, target in (({"X-Strato-Token": token}, url), ({}, f"{url}?token={token}")):
        with pytest.raises(urllib.error.HTTPError) as err:     # only the Authorization header is read
            _get(target, headers)
        assert err.value.code == 401


def test_http_endpoint_reports_bad_requests(ran):
    base = strato.init(ignore_reinit_error=True)["dashboard_url"]
    token = _context.worker().token
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(f"{base}/api/v0/nope", {"Authorization": f"Bearer {token}"})
    assert err.value.code == 404
    with pytest.raises(ValueError, match="Cannot filter"):
        state.list_tasks(filters=[("colour", "=", "red")])


def test_task_changes_are_incremental(ran):
    c = state.client()
    first = c.get("/api/strato/task_changes", {"since": 0})
    assert len(first["tasks"]) >= 23
    again = c.get("/api/strato/task_changes", {"since": first["version"]})
    assert again["tasks"] == [] and again["version"] == first["version"]


def test_widgets_print_a_summary_outside_a_notebook(ran, capsys):
    from strato import widgets
    from IPython.display import display
    display(widgets.dashboard())
    out = capsys.readouterr().out
    assert "Cluster: 1 node(s) alive" in out
    assert "TaskGraph:" in out and "square" in out
    assert "Object store:" in out
    assert "tasks:" in out


def test_task_graph_is_grouped_by_function_past_max_tasks(ran):
    c = state.client()
    small = c.get("/api/strato/task_graph", {"since": 0, "max_tasks": 100000})
    assert small["grouped"] is False and len(small["tasks"]) == small["num_tasks"]
    big = c.get("/api/strato/task_graph", {"since": 0, "max_tasks": 5})
    assert big["grouped"] is True
    groups = {g["name"]: g for g in big["groups"]}
    assert groups["square"]["count"] == 21 and groups["square"]["states"] == {"FINISHED": 21}
    assert groups["fails"]["states"] == {"FAILED": 1}
    assert ["outer", "square", "call", 1] in big["edges"]


def test_task_graph_widget_groups_many_tasks(ran):
    from strato import widgets
    tg = widgets.TaskGraph(group_above=5).refresh()
    assert tg.grouped and "grouped by function" in tg.text()
    assert tg.num_tasks >= 23
