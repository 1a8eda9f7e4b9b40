"""Can the cluster ever hold N training actors? A pure count over the nodes' total resources.

Each actor needs its whole bundle ({"CPU": 1, "GPU": 0.5, "my_res": 1}) on
one node, so a node holds floor(min over the bundle's resources of
total / needed) actors, and the cluster the sum of that over its live nodes.
Totals, not what is free now: busy resources free up, missing ones never do
(until a node joins, which is why the coordinator re-asks for a few seconds).
"""
from __future__ import annotations

import math

EPS = 1e-9
UNBOUNDED = 1 << 30


def actors_per_node(node_total: dict, bundle: dict) -> int:
    """How many actors with this bundle fit in a node with these total resources."""
    fits = math.inf
    for name, need in bundle.items():
        if need <= 0:
            continue
        have = float(node_total.get(name, 0.0))
        fits = min(fits, math.floor(have / need + EPS))
    return UNBOUNDED if fits == math.inf else int(fits)   # an empty bundle fits without limit


def cluster_capacity(node_totals: list[dict], bundle: dict) -> int:
    """Actors with this bundle that the cluster (these live nodes' totals) can hold at once."""
    return sum(actors_per_node(total, bundle) for total in node_totals)


def infeasible_message(num_actors: int, capacity: int, bundle: dict, node_totals: list[dict]) -> str:
    return (f"The cluster can never place {num_actors} training actors of {bundle} each: its nodes "
            f"({[{k: v for k, v in t.items() if k in bundle} for t in node_totals]}) hold at most {capacity}. "
            f"Use fewer actors (RayParams(num_actors={max(capacity, 1)})), fewer resources per actor "
            f"(cpus_per_actor=...), or add nodes to the cluster.")
