"""Bundle placement (strato/runtime/gcs/placement_group_policy.py) and the group lifecycle table, without processes."""
import pytest

from strato.exceptions import InvalidTransition, InvariantError
from strato.runtime.gcs.placement_group_policy import NodeResources, Outcome, place_bundles
from strato.runtime.gcs.placement_group_state import TRANSITIONS, PgState, check_transition, validate

A, B, C, D = b"a" * 16, b"b" * 16, b"c" * 16, b"d" * 16


def nodes(*specs):
    """specs: (id, total cpus, free cpus) -> the policy's node map, in that order."""
    return {nid: NodeResources({"CPU": float(t)}, {"CPU": float(f)}) for nid, t, f in specs}


# ------------------------------------------------------------------ PACK
def test_pack_puts_every_bundle_on_one_node_when_one_fits_them_all():
    got = place_bundles([{"CPU": 1}] * 3, "PACK", nodes((A, 2, 2), (B, 4, 4), (C, 4, 4)))
    assert got.outcome is Outcome.PLACED
    assert got.nodes == (B, B, B)          # the tightest node that holds all three, first of equals


def test_pack_falls_back_to_few_nodes_when_none_fits_all():
    got = place_bundles([{"CPU": 1}] * 3, "PACK", nodes((A, 1, 1), (B, 2, 2), (C, 1, 1)))
    assert got.outcome is Outcome.PLACED
    assert sorted(got.nodes) == [A, B, B]  # two nodes, not three


def test_pack_waits_when_resources_are_only_busy():
    got = place_bundles([{"CPU": 2}], "PACK", nodes((A, 2, 1), (B, 1, 1)))
    assert got.outcome is Outcome.WAIT


# ------------------------------------------------------------ STRICT_PACK
def test_strict_pack_uses_one_node_or_none():
    assert place_bundles([{"CPU": 1}] * 2, "STRICT_PACK", nodes((A, 1, 1), (B, 2, 2))).nodes == (B, B)
    got = place_bundles([{"CPU": 1}] * 2, "STRICT_PACK", nodes((A, 1, 1), (B, 1, 1)))
    assert got.outcome is Outcome.INFEASIBLE
    assert "one node with {'CPU': 2.0}" in got.reason


def test_strict_pack_with_a_fixed_bundle_stays_on_its_node():
    free = nodes((A, 4, 4), (B, 4, 2))
    assert place_bundles([{"CPU": 1}] * 2, "STRICT_PACK", free, fixed={0: B}).nodes == (B, B)
    assert place_bundles([{"CPU": 3}] * 2, "STRICT_PACK", free, fixed={0: B}).outcome is Outcome.WAIT


# ----------------------------------------------------------------- SPREAD
def test_spread_uses_a_node_per_bundle_while_it_can():
    got = place_bundles([{"CPU": 1}] * 3, "SPREAD", nodes((A, 2, 2), (B, 2, 2), (C, 2, 2)))
    assert sorted(got.nodes) == [A, B, C]


def test_spread_reuses_nodes_when_there_are_too_few():
    got = place_bundles([{"CPU": 1}] * 4, "SPREAD", nodes((A, 2, 2), (B, 2, 2)))
    assert got.outcome is Outcome.PLACED
    assert sorted(got.nodes) == [A, A, B, B]


def test_spread_avoids_nodes_of_fixed_bundles():
    got = place_bundles([{"CPU": 1}] * 2, "SPREAD", nodes((A, 2, 2), (B, 2, 2)), fixed={0: A})
    assert got.nodes == (A, B)


# ---------------------------------------------------------- STRICT_SPREAD
def test_strict_spread_needs_a_node_per_bundle():
    got = place_bundles([{"CPU": 1}] * 3, "STRICT_SPREAD", nodes((A, 1, 1), (B, 1, 1)))
    assert got.outcome is Outcome.INFEASIBLE
    assert "needs 3 nodes" in got.reason and "has 2" in got.reason
    got = place_bundles([{"CPU": 1}] * 3, "STRICT_SPREAD", nodes((A, 1, 1), (B, 1, 1), (C, 1, 1)))
    assert sorted(got.nodes) == [A, B, C]


def test_strict_spread_searches_past_a_greedy_dead_end():
    # The big bundle must take the only big node; a greedy pass in bundle order would spend it first.
    free = {A: NodeResources({"CPU": 4}, {"CPU": 4}), B: NodeResources({"CPU": 1}, {"CPU": 1})}
    got = place_bundles([{"CPU": 1}, {"CPU": 3}], "STRICT_SPREAD", free)
    assert got.nodes == (B, A)


def test_strict_spread_waits_while_a_node_is_busy():
    got = place_bundles([{"CPU": 1}] * 2, "STRICT_SPREAD", nodes((A, 1, 0), (B, 1, 1)))
    assert got.outcome is Outcome.WAIT


def test_strict_spread_rescheduling_skips_nodes_of_fixed_bundles():
    got = place_bundles([{"CPU": 1}] * 2, "STRICT_SPREAD", nodes((A, 2, 1), (B, 1, 1)), fixed={0: A})
    assert got.nodes == (A, B)


# ------------------------------------------------------------ all of them
@pytest.mark.parametrize("strategy", ["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"])
def test_custom_resources_route_bundles(strategy):
    free = {A: NodeResources({"CPU": 2}, {"CPU": 2}), B: NodeResources({"CPU": 2, "gpu_x": 1}, {"CPU": 2, "gpu_x": 1})}
    got = place_bundles([{"gpu_x": 1}], strategy, free)
    assert got.nodes == (B,)
    assert place_bundles([{"gpu_x": 2}], strategy, free).outcome is Outcome.INFEASIBLE


@pytest.mark.parametrize("strategy", ["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"])
def test_no_nodes_is_infeasible(strategy):
    assert place_bundles([{"CPU": 1}], strategy, {}).outcome is Outcome.INFEASIBLE


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown placement strategy 'PACKED'"):
        place_bundles([{"CPU": 1}], "PACKED", nodes((A, 1, 1)))


def test_input_is_not_changed():
    free = nodes((A, 2, 2), (B, 2, 2))
    place_bundles([{"CPU": 1}] * 3, "SPREAD", free)
    assert free == nodes((A, 2, 2), (B, 2, 2))


# -------------------------------------------------------------- lifecycle
def test_lifecycle_table_is_valid():
    validate()


def test_validate_names_a_broken_rule(monkeypatch):
    monkeypatch.setitem(TRANSITIONS, PgState.CREATED, frozenset({PgState.RESCHEDULING}))
    with pytest.raises(InvariantError, match="CREATED cannot be removed"):
        validate()


@pytest.mark.parametrize("old,new", [(o, n) for o in PgState for n in PgState if n not in TRANSITIONS[o]])
def test_every_move_outside_the_table_raises(old, new):
    with pytest.raises(InvalidTransition):
        check_transition(old, new)


def test_the_usual_path_is_allowed():
    for old, new in [(PgState.PENDING, PgState.PREPARED), (PgState.PREPARED, PgState.CREATED),
                     (PgState.PREPARED, PgState.PENDING), (PgState.CREATED, PgState.RESCHEDULING),
                     (PgState.RESCHEDULING, PgState.PREPARED), (PgState.CREATED, PgState.REMOVED)]:
        check_transition(old, new)


def test_stale_bundles_are_those_the_table_does_not_put_on_the_node():
    from strato.runtime.gcs.placement_group_state import stale_bundles
    P, Q, R, S = b"p" * 16, b"q" * 16, b"r" * 16, b"s" * 16
    groups = {P: (PgState.CREATED, [A, B]), Q: (PgState.REMOVED, [A]), R: (PgState.PENDING, [b""])}
    held = [(P, 0), (P, 1), (Q, 0), (R, 0), (S, 0)]
    assert stale_bundles(held, groups, A, set()) == [(P, 1), (Q, 0), (R, 0), (S, 0)]
    assert stale_bundles(held, groups, A, {R, S}) == [(P, 1), (Q, 0)]     # being reserved right now: kept
