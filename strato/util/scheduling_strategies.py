"""Scheduling strategies for `.options(scheduling_strategy=...)`, as in Ray.

    "DEFAULT"                                  the hybrid policy (local node first, then spread)
    "SPREAD"                                   across nodes (actors take turns over the nodes)
    NodeAffinitySchedulingStrategy(node_id, soft=False)
                                               on that node; a dead or unknown node fails the task
                                               (TaskUnschedulableError) or actor (ActorUnschedulableError)
                                               unless soft=True, which runs it elsewhere
    PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=-1,
                                     placement_group_capture_child_tasks=False)
                                               in a bundle of a placement group (strato.util.placement_group)

The classes are defined next to the option checks (strato/remote_function.py):
`strato.util` builds on the handles (Queue makes an actor), so they must not
import it back. This module is their public, Ray-compatible path.
"""
from strato.remote_function import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

__all__ = ["NodeAffinitySchedulingStrategy", "PlacementGroupSchedulingStrategy"]
