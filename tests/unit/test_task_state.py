"""The owner's task lifecycle and retry decisions."""
import pytest

from strato.exceptions import InvariantError
from strato.runtime.core_worker.task_state import (
    TERMINAL, TRANSITIONS, Failure, InvalidTransition, TaskState, check_transition, retry_decision, validate)


def test_table_is_valid():
    validate()


@pytest.mark.parametrize("state,targets,rule", [
    (TaskState.FINISHED, {TaskState.PENDING_LEASE}, "terminal task state FINISHED"),
    (TaskState.PENDING_LEASE, {TaskState.PENDING_LEASE, TaskState.SUBMITTED}, "PENDING_LEASE leads to itself"),
    (TaskState.CANCELLED, None, "missing from the transition table"),
])
def test_validate_names_the_rule_a_broken_table_breaks(monkeypatch, state, targets, rule):
    if targets is None:
        monkeypatch.delitem(TRANSITIONS, state)
    else:
        monkeypatch.setitem(TRANSITIONS, state, frozenset(targets))
    with pytest.raises(InvariantError, match=rule):
        validate()


@pytest.mark.parametrize("old,new", [(o, n) for o in TaskState for n in TaskState if n not in TRANSITIONS[o]])
def test_every_invalid_transition_raises(old, new):
    with pytest.raises(InvalidTransition):
        check_transition(old, new)


def test_happy_path_and_retry_are_allowed():
    path = [TaskState.PENDING_ARGS, TaskState.PENDING_LEASE, TaskState.SUBMITTED, TaskState.PENDING_LEASE,
            TaskState.SUBMITTED, TaskState.FINISHED]
    for a, b in zip(path, path[1:]):
        check_transition(a, b)
    assert TaskState.FINISHED in TERMINAL


def test_worker_death_retries_while_retries_left():
    assert retry_decision(Failure.WORKER_DIED, 3, False, None)
    assert retry_decision(Failure.WORKER_DIED, -1, False, None)
    assert not retry_decision(Failure.WORKER_DIED, 0, False, None)


def test_application_errors_retry_only_when_asked():
    assert not retry_decision(Failure.APPLICATION, 3, False, ValueError)
    assert retry_decision(Failure.APPLICATION, 3, True, ValueError)
    assert retry_decision(Failure.APPLICATION, 3, [LookupError], KeyError)
    assert not retry_decision(Failure.APPLICATION, 3, [LookupError], ValueError)


def test_cancelled_never_retries():
    assert not retry_decision(Failure.CANCELLED, 3, True, None)
