"""The hybrid placement policy: a pure function over the cluster view.

Prefer the local node while its utilization is below the spread threshold,
then the least-utilized node that has room (the local one on ties); honour
node affinity (hard or soft) and SPREAD. A request that fits no node's
*total* resources is infeasible; one that fits somewhere but has no room
anywhere now waits (locally when the local node could ever run it).
"""
from __future__ import annotations

import dataclasses
import enum

EPS = 1e-9


class Decision(enum.Enum):
    RUN = "run"                  # grant on node_id now
    WAIT = "wait"                # queue at node_id until room frees up
    INFEASIBLE = "infeasible"    # no node can ever run it


@dataclasses.dataclass(frozen=True)
class NodeView:
    node_id: bytes
    total: dict
    available: dict
    alive: bool = True


def feasible(resources: dict, node: NodeView) -> bool:
    return all(node.total.get(k, 0.0) + EPS >= v for k, v in resources.items())


def fits(resources: dict, node: NodeView) -> bool:
    return all(node.available.get(k, 0.0) + EPS >= v for k, v in resources.items())


def utilization(node: NodeView) -> float:
    used = [1.0 - node.available.get(k, 0.0) / t for k, t in node.total.items()
            if t > 0 and not k.startswith("node:") and k != "memory"]
    return max(used, default=0.0)


def pick_node(resources: dict, nodes: dict[bytes, NodeView], local_id: bytes, *, strategy: str = "DEFAULT",
              affinity: bytes | None = None, affinity_soft: bool = False, spread_threshold: float = 0.5,
              local_only: bool = False) -> tuple[Decision, bytes | None]:
    alive = {nid: n for nid, n in nodes.items() if n.alive}
    if affinity:
        target = alive.get(affinity)
        if target is not None and feasible(resources, target):
            return (Decision.RUN if fits(resources, target) else Decision.WAIT), affinity
        if not affinity_soft:
            return Decision.INFEASIBLE, None
    local = alive.get(local_id)
    if local_only:
        if local is None or not feasible(resources, local):
            return Decision.INFEASIBLE, None
        return (Decision.RUN if fits(resources, local) else Decision.WAIT), local_id
    candidates = [n for n in alive.values() if feasible(resources, n)]
    if not candidates:
        return Decision.INFEASIBLE, None

    def rank(n: NodeView):
        return (utilization(n), n.node_id != local_id, n.node_id)

    room = [n for n in candidates if fits(resources, n)]
    if not room:
        if local is not None and feasible(resources, local):
            return Decision.WAIT, local_id
        return Decision.WAIT, min(candidates, key=rank).node_id
    if strategy == "SPREAD":
        return Decision.RUN, min(room, key=rank).node_id
    if local is not None and local in room and utilization(local) < spread_threshold:
        return Decision.RUN, local_id
    return Decision.RUN, min(room, key=rank).node_id
