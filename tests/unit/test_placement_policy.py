"""The hybrid placement policy, as a pure function over plain data."""
from strato.runtime.raylet.policy import Decision, NodeView, pick_node, utilization

A, B, C = b"a" * 16, b"b" * 16, b"c" * 16


def view(nid, total, avail=None, alive=True):
    return NodeView(nid, dict(total), dict(total if avail is None else avail), alive)


def test_local_node_preferred_while_below_threshold():
    nodes = {A: view(A, {"CPU": 4}, {"CPU": 3}), B: view(B, {"CPU": 4})}
    assert pick_node({"CPU": 1}, nodes, A) == (Decision.RUN, A)


def test_spreads_to_least_utilized_once_local_is_busy():
    nodes = {A: view(A, {"CPU": 4}, {"CPU": 1}), B: view(B, {"CPU": 4}, {"CPU": 2}), C: view(C, {"CPU": 4})}
    assert pick_node({"CPU": 1}, nodes, A) == (Decision.RUN, C)


def test_full_local_node_spills_to_node_with_room():
    nodes = {A: view(A, {"CPU": 2}, {"CPU": 0}), B: view(B, {"CPU": 2})}
    assert pick_node({"CPU": 1}, nodes, A) == (Decision.RUN, B)


def test_waits_locally_when_no_node_has_room():
    nodes = {A: view(A, {"CPU": 2}, {"CPU": 0}), B: view(B, {"CPU": 2}, {"CPU": 0})}
    assert pick_node({"CPU": 1}, nodes, A) == (Decision.WAIT, A)


def test_custom_resource_only_on_remote_node():
    nodes = {A: view(A, {"CPU": 2}), B: view(B, {"CPU": 2, "gpu_box": 1})}
    assert pick_node({"CPU": 1, "gpu_box": 1}, nodes, A) == (Decision.RUN, B)


def test_waits_at_the_only_feasible_remote_node():
    nodes = {A: view(A, {"CPU": 2}), B: view(B, {"CPU": 2, "x": 1}, {"CPU": 2, "x": 0})}
    assert pick_node({"x": 1}, nodes, A) == (Decision.WAIT, B)


def test_infeasible_when_no_node_is_big_enough():
    nodes = {A: view(A, {"CPU": 2}), B: view(B, {"CPU": 4})}
    assert pick_node({"CPU": 8}, nodes, A) == (Decision.INFEASIBLE, None)


def test_dead_nodes_are_ignored():
    nodes = {A: view(A, {"CPU": 1}, {"CPU": 0}), B: view(B, {"CPU": 8}, alive=False)}
    assert pick_node({"CPU": 4}, nodes, A) == (Decision.INFEASIBLE, None)


def test_hard_node_affinity():
    nodes = {A: view(A, {"CPU": 2}), B: view(B, {"CPU": 2}, {"CPU": 0})}
    assert pick_node({"CPU": 1}, nodes, A, affinity=B) == (Decision.WAIT, B)
    assert pick_node({"CPU": 1}, nodes, A, affinity=C) == (Decision.INFEASIBLE, None)


def test_soft_node_affinity_falls_back():
    nodes = {A: view(A, {"CPU": 2})}
    assert pick_node({"CPU": 1}, nodes, A, affinity=C, affinity_soft=True) == (Decision.RUN, A)


def test_spread_picks_least_utilized():
    nodes = {A: view(A, {"CPU": 4}, {"CPU": 3}), B: view(B, {"CPU": 4})}
    assert pick_node({"CPU": 1}, nodes, A, strategy="SPREAD") == (Decision.RUN, B)


def test_local_only_never_names_another_node():
    nodes = {A: view(A, {"CPU": 2}, {"CPU": 0}), B: view(B, {"CPU": 2})}
    assert pick_node({"CPU": 1}, nodes, A, local_only=True) == (Decision.WAIT, A)


def test_utilization_ignores_node_and_memory_markers():
    n = view(A, {"CPU": 4, "memory": 100, "node:1.2.3.4": 1}, {"CPU": 1, "memory": 0, "node:1.2.3.4": 1})
    assert utilization(n) == 0.75
