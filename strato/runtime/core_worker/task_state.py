r"""A submitted task's lifecycle, as its owner sees it (pure logic).

    PENDING_ARGS --args ready--> PENDING_LEASE --pushed--> SUBMITTED --> FINISHED
         |                           |    ^                   |     \--> FAILED
         |                           |    +----retry----------+     \--> CANCELLED
         +--> FAILED / CANCELLED     +--> CANCELLED

`retry_decision` says whether a failed attempt runs again.
"""
from __future__ import annotations

import enum

from strato.exceptions import InvalidTransition, InvariantError


class TaskState(enum.Enum):
    PENDING_ARGS = "PENDING_ARGS"          # waiting for argument objects
    PENDING_LEASE = "PENDING_LEASE"        # queued at the owner for a worker lease
    SUBMITTED = "SUBMITTED"                # pushed to a leased worker
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    # Members are singletons compared by identity: hash them by identity too, in C (Enum's own
    # __hash__ is Python code, and the owner hashes a task's state about six times per task).
    __hash__ = object.__hash__


TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.PENDING_ARGS: frozenset({TaskState.PENDING_LEASE, TaskState.FAILED, TaskState.CANCELLED}),
    TaskState.PENDING_LEASE: frozenset({TaskState.SUBMITTED, TaskState.CANCELLED, TaskState.FAILED}),
    TaskState.SUBMITTED: frozenset({TaskState.FINISHED, TaskState.FAILED, TaskState.CANCELLED,
                                    TaskState.PENDING_LEASE}),
    TaskState.FINISHED: frozenset(),
    TaskState.FAILED: frozenset(),
    TaskState.CANCELLED: frozenset(),
}

TERMINAL = frozenset({TaskState.FINISHED, TaskState.FAILED, TaskState.CANCELLED})


def check_transition(old: TaskState, new: TaskState) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"task cannot go from {old.name} to {new.name}")


def validate() -> None:
    """Every state is in the table, terminal states lead nowhere, and no state leads to itself.

    Raises InvariantError naming the first rule broken.
    """
    if set(TRANSITIONS) != set(TaskState):
        raise InvariantError(f"task states missing from the transition table: "
                             f"{sorted(s.name for s in set(TaskState) - set(TRANSITIONS))}")
    for state in TERMINAL:
        if TRANSITIONS[state]:
            raise InvariantError(f"terminal task state {state.name} has transitions")
    for state, targets in TRANSITIONS.items():
        if state in targets:
            raise InvariantError(f"task state {state.name} leads to itself")


class Failure(enum.Enum):
    WORKER_DIED = "worker_died"            # the process running it exited
    APPLICATION = "application"            # the user's code raised
    CANCELLED = "cancelled"


def retry_decision(failure: Failure, retries_left: int, retry_exceptions, exc_type: type | None) -> bool:
    """Should this failed attempt be retried? retries_left < 0 means unlimited."""
    if failure is Failure.CANCELLED or retries_left == 0:
        return False
    if failure is Failure.WORKER_DIED:
        return True
    if retry_exceptions is True:
        return True
    if isinstance(retry_exceptions, (list, tuple)) and exc_type is not None:
        return any(issubclass(exc_type, cls) for cls in retry_exceptions)
    return False
