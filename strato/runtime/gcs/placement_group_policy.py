"""Where a placement group's bundles go: a pure function over the nodes' resources (no IO).

    place_bundles(bundles, strategy, nodes, fixed={})  ->  Placement(outcome, nodes, reason)

      PLACED      `nodes[i]` is the node for bundle i; the GCS then prepares and commits them
      WAIT        the cluster could hold the group, but not with what is free now
      INFEASIBLE  the cluster as it is could never hold it (too few nodes for STRICT_SPREAD, no node
                  big enough for STRICT_PACK, ...): the group stays pending until a node joins

The strategies, as in Ray:

    PACK           all bundles on one node if one fits them all, else on as few nodes as fit
    STRICT_PACK    all bundles on one node, or not at all
    SPREAD         each bundle on a node of its own while there are such nodes, then reuse nodes
    STRICT_SPREAD  each bundle on a node of its own, or not at all

`nodes` maps node id -> NodeResources (total and available), in the order ties are broken.
`fixed` names bundles that already hold a node (the rest of a group being rescheduled after a node
died): the others are placed around them, under the same strategy. The GCS's placement-group
manager (placement_group_manager.py) is the IO shell that applies the result.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Mapping

EPS = 1e-9
STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
#: How many partial assignments STRICT_SPREAD's search may try before it gives up.
MAX_SEARCH_STEPS = 20_000


class Outcome(enum.Enum):
    PLACED = "placed"
    WAIT = "wait"
    INFEASIBLE = "infeasible"


@dataclasses.dataclass(frozen=True)
class NodeResources:
    total: dict
    available: dict


@dataclasses.dataclass(frozen=True)
class Placement:
    outcome: Outcome
    nodes: tuple = ()          # one node id per bundle when PLACED
    reason: str = ""


def place_bundles(bundles: list[dict], strategy: str, nodes: Mapping[bytes, NodeResources],
                  fixed: Mapping[int, bytes] | None = None) -> Placement:
    """Choose a node for every bundle (see the module docstring). Raises ValueError on an unknown strategy."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown placement strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    fixed = dict(fixed or {})
    free = {nid: _demand(n.available) for nid, n in nodes.items()}
    got = _assign(bundles, strategy, free, fixed)
    if got is not None:
        return Placement(Outcome.PLACED, tuple(got))
    total = {nid: _demand(n.total) for nid, n in nodes.items()}
    if _assign(bundles, strategy, total, fixed) is not None:
        return Placement(Outcome.WAIT, (), f"the cluster could hold these bundles under {strategy}, but "
                                           f"not with the resources free now; waiting for them to be freed")
    return Placement(Outcome.INFEASIBLE, (), _infeasible_reason(bundles, strategy, nodes))


# ------------------------------------------------------------------ internals
def _demand(resources: dict) -> dict:
    return {k: float(v) for k, v in resources.items() if v}


def _fits(need: dict, have: dict) -> bool:
    return all(have.get(k, 0.0) + EPS >= v for k, v in need.items())


def _take(have: dict, need: dict) -> None:
    for k, v in need.items():
        have[k] = have.get(k, 0.0) - v


def _give(have: dict, need: dict) -> None:
    for k, v in need.items():
        have[k] = have.get(k, 0.0) + v


def _size(bundle: dict) -> float:
    return sum(bundle.values())


def _leftover(have: dict, need: dict) -> float:
    """What a node would have left of the resources `need` names: small = a tight fit."""
    return sum(have.get(k, 0.0) - v for k, v in need.items())


def _assign(bundles: list[dict], strategy: str, capacity: dict, fixed: dict) -> list | None:
    """Node per bundle within `capacity` (node -> free resources), or None. Does not change `capacity`."""
    have = {nid: dict(c) for nid, c in capacity.items()}
    needs = [_demand(b) for b in bundles]
    out: list = [fixed.get(i) for i in range(len(bundles))]
    todo = [i for i in range(len(bundles)) if out[i] is None]
    order = list(have)                                   # tie-break: the caller's node order
    rank = {nid: r for r, nid in enumerate(order)}
    if strategy == "STRICT_PACK":
        pinned = {out[i] for i in range(len(out)) if out[i] is not None}
        if len(pinned) > 1:
            return None
        total = {}
        for i in todo:
            _give(total, needs[i])
        candidates = [nid for nid in (pinned or order) if nid in have and _fits(total, have[nid])]
        if not candidates:
            return None
        best = min(candidates, key=lambda nid: (_leftover(have[nid], total), rank[nid]))
        return [best] * len(bundles)
    if strategy == "STRICT_SPREAD":
        return _strict_spread(needs, todo, out, have, order)
    count = {nid: 0 for nid in order}
    for i in range(len(out)):
        if out[i] is not None and out[i] in count:
            count[out[i]] += 1
    if strategy == "PACK":
        total = {}
        for i in todo:
            _give(total, needs[i])
        used = [nid for nid in order if count[nid]] or order
        one = [nid for nid in used if _fits(total, have[nid])]
        if one:
            best = min(one, key=lambda nid: (-count[nid], _leftover(have[nid], total), rank[nid]))
            for i in todo:
                out[i] = best
            return out
        for i in sorted(todo, key=lambda i: -_size(needs[i])):
            room = [nid for nid in order if _fits(needs[i], have[nid])]
            if not room:
                return None
            # a node already in the group first (the fullest of them), else the roomiest new one
            best = min(room, key=lambda nid: (count[nid] == 0, _leftover(have[nid], needs[i]) if count[nid]
                                              else -_leftover(have[nid], needs[i]), rank[nid]))
            out[i] = best
            count[best] += 1
            _take(have[best], needs[i])
        return out
    # SPREAD: the node with the fewest of the group's bundles, the roomiest of those
    for i in todo:
        room = [nid for nid in order if _fits(needs[i], have[nid])]
        if not room:
            return None
        best = min(room, key=lambda nid: (count[nid], -_leftover(have[nid], needs[i]), rank[nid]))
        out[i] = best
        count[best] += 1
        _take(have[best], needs[i])
    return out


def _strict_spread(needs: list, todo: list, out: list, have: dict, order: list) -> list | None:
    """A distinct node per bundle: depth-first search, biggest bundles first, roomiest nodes first."""
    taken = {nid for nid in out if nid is not None}
    if len(taken) < sum(1 for nid in out if nid is not None):
        return None                      # two fixed bundles share a node: not strict any more
    todo = sorted(todo, key=lambda i: -_size(needs[i]))
    free_nodes = [nid for nid in order if nid not in taken]
    if len(free_nodes) < len(todo):
        return None
    steps = 0

    def search(k: int) -> bool:
        nonlocal steps
        if k == len(todo):
            return True
        i = todo[k]
        room = [nid for nid in free_nodes if nid not in taken and _fits(needs[i], have[nid])]
        room.sort(key=lambda nid: -_leftover(have[nid], needs[i]))
        for nid in room:
            steps += 1
            if steps > MAX_SEARCH_STEPS:
                return False
            taken.add(nid)
            out[i] = nid
            if search(k + 1):
                return True
            taken.discard(nid)
            out[i] = None
        return False

    return out if search(0) else None


def _infeasible_reason(bundles: list[dict], strategy: str, nodes: Mapping[bytes, NodeResources]) -> str:
    n = len(nodes)
    if strategy == "STRICT_SPREAD" and len(bundles) > n:
        return (f"STRICT_SPREAD needs {len(bundles)} nodes, one per bundle, and the cluster has {n}; "
                f"the group is placed when enough nodes have joined")
    if strategy == "STRICT_PACK":
        total: dict = {}
        for b in bundles:
            _give(total, _demand(b))
        return (f"STRICT_PACK needs one node with {total} for all {len(bundles)} bundles, and no node of the "
                f"cluster has that; the group is placed when such a node joins")
    return (f"no arrangement of the bundles {bundles} under {strategy} fits the cluster's nodes; the group is "
            f"placed when nodes that fit them join")
