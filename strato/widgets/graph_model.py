"""The task graph as plain data (pure: no widgets, no IO; unit-tested alone).

    task records (runtime/gcs/state_rows.graph_dict)
        --add()--> nodes: one per task, placed by depth
                   edges: producer -> consumer ("data"), parent -> child ("call")
        --groups()--> one node per (function, depth) when there are many tasks

Depth is 1 + the deepest task it depends on (data or call), fixed when the
task is first seen, so positions never move and a plot can stream rows in.
An edge whose other end is not known yet waits until that task shows up.
"""
from __future__ import annotations

import collections
import dataclasses

STATE_COLORS = {
    "PENDING_ARGS": "#9e9e9e",
    "RETRY": "#ff9800",
    "RUNNING": "#1e88e5",
    "FINISHED": "#43a047",
    "FAILED": "#e53935",
    "CANCELLED": "#8e24aa",
}
EDGE_COLORS = {"data": "#607d8b", "call": "#ff7043"}


@dataclasses.dataclass
class GraphNode:
    id: str
    index: int                     # row in the plot's node source
    name: str
    state: str
    depth: int
    x: float
    y: float
    node: str = ""
    cell: int | None = None
    error: str = ""
    start: float = 0.0
    end: float = 0.0

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start) if self.start and self.end else 0.0


class GraphModel:
    def __init__(self, cell: int | None = None):
        self.cell = cell
        self.nodes: dict[str, GraphNode] = {}
        self.order: list[str] = []
        self.edges: list[tuple[str, str, str]] = []
        self._edge_set: set[tuple[str, str, str]] = set()
        self._producer: dict[str, str] = {}              # object id -> task id
        self._waiting: dict[str, list[tuple[str, str, str]]] = collections.defaultdict(list)
        self._rows_at_depth: collections.Counter = collections.Counter()
        # Kept as tasks come and change, so that groups() costs the number of groups, not tasks.
        self._groups: dict[tuple, dict] = {}
        self._group_rows: collections.Counter = collections.Counter()
        self._group_edges: collections.Counter = collections.Counter()

    def add(self, records: list[dict]) -> tuple[list[GraphNode], list[GraphNode], list[tuple]]:
        """Fold task records in; returns (new nodes, nodes whose state changed, new edges)."""
        new, changed, new_edges = [], [], []
        # Producers before consumers when both are new; a task is placed only once its owner's
        # submission event (arguments, parent, returns) is known: the worker's RUNNING event
        # may reach the GCS first, and the record comes again when the submission arrives.
        for r in sorted(records, key=lambda r: r["created"]):
            if self.cell is not None and r.get("cell") != self.cell:
                continue
            n = self.nodes.get(r["id"])
            if n is None:
                if not r["created"]:
                    continue
                n = self._place(r)
                new.append(n)
                new_edges += self._link(r)
            elif (n.state, n.node, n.error, n.end) != (r["state"], r["node"], r["error"], r["end"]):
                g = self._groups[(n.name, n.depth)]
                g["states"][n.state] -= 1
                g["states"][r["state"]] += 1
                g["errors"] += bool(r["error"]) - bool(n.error)
                n.state, n.node, n.error, n.start, n.end = r["state"], r["node"], r["error"], r["start"], r["end"]
                if n not in new:
                    changed.append(n)
        return new, changed, new_edges

    def _upstream(self, r: dict) -> list[tuple[str, str]]:
        ups = [(self._producer.get(a, ""), "data") for a in r["args"]]
        if r["parent"]:
            ups.append((r["parent"], "call"))
        return ups

    def _place(self, r: dict) -> GraphNode:
        for ret in r["returns"]:
            self._producer[ret] = r["id"]
        depths = [self.nodes[u].depth for u, _ in self._upstream(r) if u in self.nodes]
        depth = 1 + max(depths) if depths else 0
        y = self._rows_at_depth[depth]
        self._rows_at_depth[depth] += 1
        n = GraphNode(r["id"], len(self.order), r["name"], r["state"], depth, float(depth), float(-y),
                      r["node"], r.get("cell"), r["error"], r["start"], r["end"])
        self.nodes[n.id] = n
        self.order.append(n.id)
        key = (n.name, depth)
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = {"key": key, "name": n.name, "depth": depth, "count": 0,
                                     "states": collections.Counter(), "errors": 0,
                                     "x": float(depth), "y": float(-self._group_rows[depth])}
            self._group_rows[depth] += 1
        g["count"] += 1
        g["states"][n.state] += 1
        g["errors"] += bool(n.error)
        return n

    def _link(self, r: dict) -> list[tuple[str, str, str]]:
        out = []
        me = r["id"]
        for a in r["args"]:
            src = self._producer.get(a)
            if src is None:
                # The producer may not be known yet (events arrive in any order); puts never are.
                self._waiting["obj:" + a].append(("obj:" + a, me, "data"))
            else:
                out += self._edge(src, me, "data")
        if r["parent"]:
            if r["parent"] in self.nodes:
                out += self._edge(r["parent"], me, "call")
            else:
                self._waiting[r["parent"]].append((r["parent"], me, "call"))
        # Edges that waited for this task (as a parent, or as the producer of an object).
        for src, dst, kind in self._waiting.pop(me, []):
            out += self._edge(me, dst, kind)
        for ret in r["returns"]:
            for src, dst, kind in self._waiting.pop("obj:" + ret, []):
                out += self._edge(me, dst, kind)
        return out

    def _edge(self, src: str, dst: str, kind: str) -> list[tuple[str, str, str]]:
        e = (src, dst, kind)
        if e in self._edge_set or src == dst:
            return []
        self._edge_set.add(e)
        self.edges.append(e)
        a, b = self.nodes[src], self.nodes[dst]
        self._group_edges[((a.name, a.depth), (b.name, b.depth), kind)] += 1
        return [e]

    # ------------------------------------------------------------ summaries
    def state_counts(self) -> dict[str, int]:
        total: collections.Counter = collections.Counter()
        for g in self._groups.values():
            total.update(g["states"])
        return {k: v for k, v in total.items() if v > 0}

    def groups(self) -> tuple[list[dict], list[tuple[tuple, tuple, str, int]]]:
        """Tasks grouped by (function, depth): [{key, name, depth, count, states, errors, x, y}],
        and the edges between groups with their counts."""
        return (list(self._groups.values()),
                [(a, b, k, c) for (a, b, k), c in self._group_edges.items()])


def dominant_state(states: collections.Counter) -> str:
    """The state a group is coloured by: failures first, then work in flight, then done."""
    for s in ("FAILED", "RUNNING", "RETRY", "PENDING_ARGS", "CANCELLED", "FINISHED"):
        if states.get(s):
            return s
    return "FINISHED"


def layout_groups(names: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """(x, y) of each function group: x is its depth along the edges (longest path; cycles, as in
    recursion, stop growing after len(names) rounds), y its row among the groups at that depth."""
    depth = {n: 0 for n in names}
    for _ in range(len(names)):
        moved = False
        for a, b in edges:
            if a in depth and b in depth and a != b and depth[b] < depth[a] + 1:
                depth[b] = depth[a] + 1
                moved = True
        if not moved:
            break
    rows: collections.Counter = collections.Counter()
    out = {}
    for n in names:
        out[n] = (float(depth[n]), float(-rows[depth[n]]))
        rows[depth[n]] += 1
    return out
