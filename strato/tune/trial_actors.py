"""Creating and ending the trials' actors (in the driver, for the TuneController).

    resources a dict            -> TrialActor.options(num_cpus=.., num_gpus=.., resources=..)
    a PlacementGroupFactory     -> placement_group(its bundles, its strategy), then the TrialActor in
                                   bundle 0 with bundle 0's resources, capturing child tasks: what
                                   the trainable starts (strato.xgboost's training actors, tasks)
                                   lands in the group's other bundles, which may sit on other nodes
                                   (an empty head bundle is left out of the group, as in Ray Tune;
                                   the actor then runs in the group with no resources of its own)
    end(actor)                  -> kill it, and remove its group

`placement_options` and `never_placed` are the pure parts: the group's bundles and the actor's
options, and whether the cluster's nodes could ever hold the group.
"""
from __future__ import annotations

import logging

import strato

logger = logging.getLogger(__name__)


def actor_options(resources: dict) -> dict:
    """A TrialActor's options for plain resources ({"CPU": 2, "GPU": 1, "memory": .., custom: ..})."""
    res = dict(resources)
    opts = {"num_cpus": res.pop("CPU", 0), "num_gpus": res.pop("GPU", 0), "max_concurrency": 4, "max_restarts": 0}
    if "memory" in res:
        opts["memory"] = res.pop("memory")
    if res:
        opts["resources"] = res
    return opts


def placement_options(bundles: list[dict]) -> tuple[list[dict], dict, int]:
    """(the group's bundles, the actor's resources, the actor's bundle index: 0, or -1 when the head
    bundle is empty and left out of the group)."""
    cleaned = [{k: v for k, v in b.items() if v} for b in bundles]
    if cleaned[0]:
        return cleaned, cleaned[0], 0
    return cleaned[1:], {}, -1


def head_offset(bundles: list[dict]) -> int:
    """Where the bundles after the head start in the trial's group: 1, or 0 if the empty head was left out."""
    return 1 if any(v for v in bundles[0].values()) else 0


def never_placed(placement, node_totals: list[dict]) -> str | None:
    """Why the trial's group could never be placed on nodes of these total resources (the GCS's own
    placement rule, runtime/gcs/placement_group_policy.py), or None if it could."""
    from strato.runtime.gcs.placement_group_policy import NodeResources, Outcome, place_bundles
    bundles, _, _ = placement_options(placement.bundles)
    nodes = {i.to_bytes(4, "big"): NodeResources(t, t) for i, t in enumerate(node_totals)}
    result = place_bundles(bundles, placement.strategy, nodes)
    return result.reason if result.outcome is Outcome.INFEASIBLE else None


class TrialActors:
    """The running and idle trials' actors, each with the placement group made for it (if any)."""

    def __init__(self, actor_class):
        self._class = actor_class
        self._groups: dict[bytes, object] = {}        # actor id -> its PlacementGroup

    def create(self, resources: dict, placement=None):
        """An actor for a trial: `placement` is its PlacementGroupFactory, or None for plain resources."""
        if placement is None:
            return self._class.options(**actor_options(resources)).remote()
        from strato.util.placement_group import placement_group
        from strato.util.scheduling_strategies import PlacementGroupSchedulingStrategy
        group_bundles, own, index = placement_options(placement.bundles)
        pg = placement_group(group_bundles, strategy=placement.strategy)
        strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=index,
                                                    placement_group_capture_child_tasks=True)
        actor = self._class.options(**actor_options(own), scheduling_strategy=strategy).remote()
        self._groups[actor._actor_id] = pg
        return actor

    def has_group(self, actor) -> bool:
        return actor._actor_id in self._groups

    def end(self, actor) -> None:
        """Kill the actor and free its group (either may be gone already)."""
        try:
            strato.kill(actor)
        except Exception:
            pass
        pg = self._groups.pop(actor._actor_id, None)
        if pg is not None:
            from strato.util.placement_group import remove_placement_group
            try:
                remove_placement_group(pg)
            except Exception as exc:
                logger.debug("removing a trial's placement group failed: %s", exc)
