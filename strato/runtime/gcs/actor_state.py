"""An actor's lifecycle in the GCS's actor table, and the actor manager's decisions (pure logic).

    DEPENDENCIES_UNREADY --args resolved--> PENDING_CREATION --constructor ran--> ALIVE
            |                                   |      ^                            |
            |                                   |      +------ RESTARTING <---------+ process died,
            +--------------> DEAD <-------------+-----------------+-----------------+ restarts left
                 (killed, owner gone, constructor raised, out of restarts, node died)

The decisions actor_manager.py (the IO shell) applies:
    creation_node     which node's raylet is asked first for the actor's worker
    after_creation    the constructor's reply -> ALIVE, or DEAD with the constructor's error
    after_death       a death report -> ignore it, restart, or DEAD with the cause to show
    dies_with_node / dies_with_job   which actors a dead node or a finished job takes along
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


def creation_node(nodes, owner_node_id: bytes, spread_turn: int | None = None):
    """The node whose raylet is asked first for an actor's worker: the owner's node while it is
    alive, else the first alive node (in registration order), else None (ask again later). That
    raylet may spill the request back to another node. `nodes`: objects with node_id and alive.

    `spread_turn` (SPREAD actors: a counter the manager bumps per creation): the alive nodes take
    turns instead, so actors that hold no CPU once running are spread too."""
    if spread_turn is not None:
        alive = [n for n in nodes if n.alive]
        return alive[spread_turn % len(alive)] if alive else None
    first = None
    for node in nodes:
        if node.alive:
            if node.node_id == owner_node_id:
                return node
            if first is None:
                first = node
    return first


def after_creation(reply: tuple) -> tuple[ActorState, str]:
    """The worker's reply to CreateActor, ("ok",) or ("error", blob, text) -> the actor's next state
    and its death cause."""
    if reply[0] == "ok":
        return ActorState.ALIVE, ""
    return ActorState.DEAD, f"the constructor raised: {reply[2]}"


class AfterDeath(enum.Enum):
    IGNORE = "ignore"        # stale (an earlier incarnation), or the actor is not running anyway
    RESTART = "restart"      # RESTARTING, then PENDING_CREATION on a new worker
    DEAD = "dead"


#: States a death report changes nothing in: not created yet, already being restarted, or dead.
_NOT_RUNNING = frozenset({ActorState.DEPENDENCIES_UNREADY, ActorState.RESTARTING, ActorState.DEAD})


def after_death(state: ActorState, *, current: bool, killed: bool, num_restarts: int, max_restarts: int,
                no_restart: bool, cause: str) -> tuple[AfterDeath, str]:
    """What a report that the actor's process died (`cause`) does: (decision, cause to record).

    `current`: the report is about the actor's present incarnation; `killed`: strato.kill(no_restart=True)
    was called; `no_restart`: this death must not restart it. A death with no restart left says how
    many there were, unless the actor was killed or never allowed any.
    """
    if not current or state in _NOT_RUNNING:
        return AfterDeath.IGNORE, ""
    if not killed and should_restart(num_restarts, max_restarts, no_restart):
        return AfterDeath.RESTART, cause
    if max_restarts and not killed:
        cause += f" (restarted {num_restarts} time(s), max_restarts={max_restarts})"
    return AfterDeath.DEAD, cause


def dies_with_node(state: ActorState, actor_node_id: bytes, dead_node_id: bytes) -> bool:
    """A node died: does the actor placed there die with it? Only if it is alive or being created there."""
    return actor_node_id == dead_node_id and state in (ActorState.ALIVE, ActorState.PENDING_CREATION)


def dies_with_job(state: ActorState, actor_job_id: bytes, detached: bool, finished_job_id: bytes) -> bool:
    """A job's driver went away: is the actor killed? Its own job's actors are, unless detached."""
    return actor_job_id == finished_job_id and not detached and state is not ActorState.DEAD


def lost_worker_cause(raylet_answers: bool, node_id: bytes) -> str:
    """Why an actor died when its connection closed without an exit report from its raylet."""
    if raylet_answers:
        return "its worker process died unexpectedly"
    return f"its node {node_id.hex()} died (its raylet stopped answering)"
