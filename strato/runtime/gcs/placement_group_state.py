"""A placement group's lifecycle in the GCS (pure: an Enum and its transition table).

    PENDING --placed, every raylet prepared--> PREPARED --every raylet committed--> CREATED
       ^  |                                        |                                  |
       |  +--- a raylet refused: rolled back -------+ (back to PENDING, retried)      | a node holding
       |                                                                              | bundles died
       +------------------------- RESCHEDULING <-------------------------------------+
    any state --remove_placement_group / its job ended--> REMOVED (final)

Names and meanings follow Ray's `placement_group_table()` states. RESCHEDULING is
a CREATED group that lost bundles with a node: its other bundles stay where
they are while the lost ones are placed again (through PREPARED, as at first).

`stale_bundles` decides which of a raylet's reservations the table does not
account for (left by a GCS that died between prepare and commit, or by a
removal the raylet never heard of): the manager returns them when the node
registers.
"""
from __future__ import annotations

import enum

from strato.exceptions import InvalidTransition, InvariantError


class PgState(enum.Enum):
    PENDING = "PENDING"
    PREPARED = "PREPARED"
    CREATED = "CREATED"
    REMOVED = "REMOVED"
    RESCHEDULING = "RESCHEDULING"


TRANSITIONS: dict[PgState, frozenset[PgState]] = {
    PgState.PENDING: frozenset({PgState.PREPARED, PgState.REMOVED}),
    PgState.PREPARED: frozenset({PgState.CREATED, PgState.PENDING, PgState.RESCHEDULING, PgState.REMOVED}),
    PgState.CREATED: frozenset({PgState.RESCHEDULING, PgState.REMOVED}),
    PgState.RESCHEDULING: frozenset({PgState.PREPARED, PgState.REMOVED}),
    PgState.REMOVED: frozenset(),
}

#: States in which a group is waiting for the manager to (re)place bundles.
WAITING = frozenset({PgState.PENDING, PgState.RESCHEDULING})


def stale_bundles(held: list[tuple[bytes, int]], groups: dict, node_id: bytes, in_flight: set) -> list:
    """The (group id, bundle index) pairs a raylet on `node_id` holds that no group accounts for:
    the group is unknown or REMOVED, or its table entry puts that bundle elsewhere (or nowhere) --
    unless the group is being reserved right now (`in_flight`). `groups`: id -> (PgState, [node id per
    bundle, b"" when not placed])."""
    out = []
    for pg_id, index in held:
        if pg_id in in_flight:
            continue
        entry = groups.get(pg_id)
        if entry is None or entry[0] is PgState.REMOVED:
            out.append((pg_id, index))
            continue
        nodes = entry[1]
        if index >= len(nodes) or nodes[index] != node_id:
            out.append((pg_id, index))
    return out


def check_transition(old: PgState, new: PgState) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"placement group cannot go from {old.name} to {new.name}")


def validate() -> None:
    """Every state is in the table, REMOVED is final and reachable from every other state, no state
    leads to itself. Raises InvariantError naming the first rule broken."""
    if set(TRANSITIONS) != set(PgState):
        raise InvariantError(f"placement group states missing from the transition table: "
                             f"{sorted(s.name for s in set(PgState) - set(TRANSITIONS))}")
    if TRANSITIONS[PgState.REMOVED]:
        raise InvariantError("placement group state REMOVED has transitions")
    for state, targets in TRANSITIONS.items():
        if state in targets:
            raise InvariantError(f"placement group state {state.name} leads to itself")
        if state is not PgState.REMOVED and PgState.REMOVED not in targets:
            raise InvariantError(f"placement group state {state.name} cannot be removed")
