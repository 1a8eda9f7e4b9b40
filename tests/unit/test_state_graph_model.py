"""The task graph's plain-data model (strato.widgets.graph_model): no processes, no widgets."""
from strato.widgets import graph_model as gm


def rec(tid, name="f", args=(), returns=None, parent="", state="PENDING_ARGS", created=1.0, cell=None):
    return {"id": tid, "name": name, "state": state, "parent": parent, "args": list(args),
            "returns": list(returns if returns is not None else [tid + "r0"]), "node": "", "cell": cell,
            "actor": "", "error": "", "created": created, "start": 0.0, "end": 0.0, "attempt": 0}


def test_data_and_call_edges_and_depths():
    g = gm.GraphModel()
    new, changed, edges = g.add([rec("a"), rec("b", args=["ar0"], created=2), rec("c", parent="b", created=3)])
    assert [n.id for n in new] == ["a", "b", "c"]
    assert edges == [("a", "b", "data"), ("b", "c", "call")]
    assert [g.nodes[x].depth for x in "abc"] == [0, 1, 2]


def test_an_edge_waits_for_its_producer():
    g = gm.GraphModel()
    g.add([rec("b", args=["ar0"], created=2)])
    assert g.edges == []
    _, _, edges = g.add([rec("a", created=1)])
    assert edges == [("a", "b", "data")]


def test_a_task_is_placed_once_its_submission_is_known():
    g = gm.GraphModel()
    new, _, _ = g.add([rec("b", args=[], returns=[], created=0.0, state="RUNNING")])
    assert new == [] and g.nodes == {}
    new, _, _ = g.add([rec("b", created=2.0, state="RUNNING")])
    assert [n.id for n in new] == ["b"]


def test_state_changes_are_reported_once():
    g = gm.GraphModel()
    g.add([rec("a")])
    _, changed, _ = g.add([rec("a", state="FINISHED")])
    assert [n.state for n in changed] == ["FINISHED"]
    _, changed, _ = g.add([rec("a", state="FINISHED")])
    assert changed == []


def test_cell_filter():
    g = gm.GraphModel(cell=3)
    g.add([rec("a", cell=3), rec("b", cell=4)])
    assert list(g.nodes) == ["a"]


def test_groups_by_function_and_depth():
    g = gm.GraphModel()
    g.add([rec(f"s{i}", "src", created=1 + i) for i in range(100)])
    g.add([rec(f"d{i}", "dst", args=[f"s{i}r0"], created=100 + i, state="RUNNING" if i < 3 else "PENDING_ARGS")
           for i in range(100)])
    groups, edges = g.groups()
    assert sorted((x["name"], x["depth"], x["count"]) for x in groups) == [("dst", 1, 100), ("src", 0, 100)]
    assert edges == [(("src", 0), ("dst", 1), "data", 100)]
    dst = next(x for x in groups if x["name"] == "dst")
    assert gm.dominant_state(dst["states"]) == "RUNNING"
