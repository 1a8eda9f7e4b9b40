"""The GCS's actor lifecycle: states, allowed transitions, restart decisions."""
import pytest

from strato.exceptions import InvariantError
from strato.runtime.gcs.actor_state import (
    TRANSITIONS, ActorState, InvalidTransition, check_transition, should_restart, validate)


def test_table_is_valid():
    validate()


@pytest.mark.parametrize("state,targets,rule", [
    (ActorState.DEAD, {ActorState.RESTARTING}, "DEAD has transitions"),
    (ActorState.ALIVE, {ActorState.ALIVE, ActorState.DEAD}, "ALIVE leads to itself"),
    (ActorState.RESTARTING, None, "missing from the transition table"),
])
def test_validate_names_the_rule_a_broken_table_breaks(monkeypatch, state, targets, rule):
    if targets is None:
        monkeypatch.delitem(TRANSITIONS, state)
    else:
        monkeypatch.setitem(TRANSITIONS, state, frozenset(targets))
    with pytest.raises(InvariantError, match=rule):
        validate()


@pytest.mark.parametrize("old,new", [(o, n) for o in ActorState for n in ActorState if n not in TRANSITIONS[o]])
def test_every_invalid_transition_raises(old, new):
    with pytest.raises(InvalidTransition):
        check_transition(old, new)


def test_a_restart_goes_through_restarting_and_pending_creation():
    path = [ActorState.DEPENDENCIES_UNREADY, ActorState.PENDING_CREATION, ActorState.ALIVE,
            ActorState.RESTARTING, ActorState.PENDING_CREATION, ActorState.ALIVE, ActorState.DEAD]
    for a, b in zip(path, path[1:]):
        check_transition(a, b)


def test_dead_is_final():
    for state in ActorState:
        with pytest.raises(InvalidTransition):
            check_transition(ActorState.DEAD, state)


def test_restart_budget():
    assert should_restart(0, 1)
    assert not should_restart(1, 1)
    assert should_restart(100, -1)
    assert not should_restart(0, 0)
    assert not should_restart(0, 5, no_restart=True)
