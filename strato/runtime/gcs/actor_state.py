"""An actor's lifecycle in the GCS's actor table (pure logic).

    DEPENDENCIES_UNREADY --args resolved--> PENDING_CREATION --constructor ran--> ALIVE
            |                                   |      ^                            |
            |                                   |      +------ RESTARTING <---------+ process died,
            +--------------> DEAD <-------------+-----------------+-----------------+ restarts left
                 (killed, owner gone, constructor raised, out of restarts, node died)
"""
from __future__ import annotations

import enum

from strato.exceptions import InvalidTransition, InvariantError


class ActorState(enum.Enum):
    DEPENDENCIES_UNREADY = "DEPENDENCIES_UNREADY"
    PENDING_CREATION = "PENDING_CREATION"
    ALIVE = "ALIVE"
    RESTARTING = "RESTARTING"
    DEAD = "DEAD"


TRANSITIONS: dict[ActorState, frozenset[ActorState]] = {
    ActorState.DEPENDENCIES_UNREADY: frozenset({ActorState.PENDING_CREATION, ActorState.DEAD}),
    ActorState.PENDING_CREATION: frozenset({ActorState.ALIVE, ActorState.RESTARTING, ActorState.DEAD}),
    ActorState.ALIVE: frozenset({ActorState.RESTARTING, ActorState.DEAD}),
    ActorState.RESTARTING: frozenset({ActorState.PENDING_CREATION, ActorState.DEAD}),
    ActorState.DEAD: frozenset(),
}


def check_transition(old: ActorState, new: ActorState) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"actor cannot go from {old.name} to {new.name}")


def validate() -> None:
    """Every state is in the table, DEAD leads nowhere, and no state leads to itself.

    Raises InvariantError naming the first rule broken.
    """
    if set(TRANSITIONS) != set(ActorState):
        raise InvariantError(f"actor states missing from the transition table: "
                             f"{sorted(s.name for s in set(ActorState) - set(TRANSITIONS))}")
    if TRANSITIONS[ActorState.DEAD]:
        raise InvariantError("actor state DEAD has transitions")
    for state, targets in TRANSITIONS.items():
        if state in targets:
            raise InvariantError(f"actor state {state.name} leads to itself")


def should_restart(num_restarts: int, max_restarts: int, no_restart: bool = False) -> bool:
    """After a death: restart? max_restarts < 0 means unlimited."""
    if no_restart:
        return False
    return max_restarts < 0 or num_restarts < max_restarts
