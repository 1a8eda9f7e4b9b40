"""Placement groups, as Ray's `ray.util.placement_group`: reserve bundles of resources across nodes at once.

    pg = placement_group([{"CPU": 1}] * 3, strategy="STRICT_SPREAD")
    strato.get(pg.ready())                         # or pg.wait(timeout_seconds=10)
    f.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)).remote()
    remove_placement_group(pg)                     # frees the bundles, kills what runs in them

The GCS reserves a group atomically (runtime/gcs/placement_group_manager.py:
prepare on every chosen raylet, then commit, or roll back) and keeps a group
that cannot be placed PENDING until a node joins or resources are freed.
Strategies: PACK (default), SPREAD, STRICT_PACK, STRICT_SPREAD
(runtime/gcs/placement_group_policy.py). A group lives until it is removed or
the job that made it ends; lifetime="detached" keeps it past its job.
"""
from __future__ import annotations

from strato import _context
from strato.remote_function import current_group
from strato.runtime import ids, serialization
from strato.runtime.core_worker.memory_store import StoredObject
from strato.runtime.protocol import gcs_pb2

__all__ = ["PlacementGroup", "get_current_placement_group", "get_placement_group", "placement_group",
           "placement_group_table", "remove_placement_group"]

STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


class PlacementGroupID(bytes):
    """A group's id: bytes, with Ray's `hex()` and `binary()`."""

    def binary(self) -> bytes:
        return bytes(self)

    def is_nil(self) -> bool:
        return not self


class PlacementGroup:
    """A handle to a placement group; pickles as its id (and bundles), so tasks can use it."""

    def __init__(self, id: bytes, bundle_cache: list | None = None):
        self.id = PlacementGroupID(id)
        self.bundle_cache = bundle_cache

    @staticmethod
    def empty() -> "PlacementGroup":
        return PlacementGroup(b"")

    @property
    def is_empty(self) -> bool:
        return not self.id

    def ready(self):
        """An ObjectRef that resolves (to this group) once every bundle is reserved; strato.get and
        strato.wait take it like any other ref. A group removed first makes it raise an error."""
        cw = _context.auto_init()
        ref = cw.pending_ref()
        oid, pg = ref.binary(), self

        async def wait_then_resolve():
            while True:
                try:
                    info = await _fetch(cw, pg.id, wait_s=30.0)
                except Exception as exc:       # the cluster is going away
                    value, is_error = ValueError(f"placement group {pg.id.hex()}: {exc}"), True
                    break
                if info is None or info.state == "REMOVED":
                    value, is_error = ValueError(
                        f"placement group {pg.id.hex()} was removed before it was placed"), True
                    break
                if info.state == "CREATED":
                    value, is_error = pg, False
                    break
            cw.store_result(oid, StoredObject(serialization.serialize(value)[0], is_error), owned=True)

        cw.loop.call_soon_threadsafe(cw.loop.create_task, wait_then_resolve())
        return ref

    def wait(self, timeout_seconds: float = 30) -> bool:
        """Block until the group is placed (True) or `timeout_seconds` pass (False)."""
        cw = _context.auto_init()
        info = cw.run_sync(_fetch(cw, self.id, wait_s=max(float(timeout_seconds), 0.001)))
        return info is not None and info.state == "CREATED"

    @property
    def bundle_specs(self) -> list[dict]:
        """The group's bundles, as given (list of resource dicts)."""
        if not self.bundle_cache:
            info = _info_or_raise(self)
            self.bundle_cache = [dict(b.resources) for b in info.bundles]
        return self.bundle_cache

    @property
    def bundle_count(self) -> int:
        return len(self.bundle_specs)

    def __eq__(self, other):
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self):
        return hash(bytes(self.id))

    def __reduce__(self):
        return (PlacementGroup, (bytes(self.id), self.bundle_cache))

    def __repr__(self):
        return f"PlacementGroup(id={self.id.hex()})"


def placement_group(bundles: list[dict], strategy: str = "PACK", name: str = "", lifetime: str | None = None,
                    _max_cpu_fraction_per_node: float | None = None,
                    _soft_target_node_id: str | None = None) -> PlacementGroup:
    """Ask the cluster to reserve `bundles` (resource dicts) together, placed by `strategy`.

    Returns at once; `ready()` / `wait()` tell when the group is placed. A group that cannot be
    placed now stays pending (placement_group_table shows why) until a node joins or resources free.
    """
    _check_bundles(bundles)
    if strategy not in STRATEGIES:
        raise ValueError(f"Invalid placement group strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    if lifetime not in (None, "detached", "non_detached"):
        raise ValueError(f"Placement group `lifetime` must be None, 'non_detached' or 'detached', got {lifetime!r}.")
    if not isinstance(name, str):
        raise TypeError(f"Placement group `name` must be a string, got {name!r}.")
    if _max_cpu_fraction_per_node is not None or _soft_target_node_id is not None:
        raise ValueError("_max_cpu_fraction_per_node and _soft_target_node_id are not supported by strato; "
                         "leave them out.")
    cw = _context.auto_init()
    pg_id = ids.random_id(16)
    specs = [{k: float(v) for k, v in b.items()} for b in bundles]
    info = gcs_pb2.PlacementGroupInfo(
        placement_group_id=pg_id, name=name, namespace=cw.job_namespace() if name else "", strategy=strategy,
        bundles=[gcs_pb2.Bundle(resources=b) for b in specs], creator_job_id=cw.job_id,
        detached=lifetime == "detached")
    reply = cw.run_sync(cw.gcs.call("CreatePlacementGroup", gcs_pb2.CreatePlacementGroupRequest(info=info)))
    if reply.error:
        raise ValueError(f"Cannot create the placement group: {reply.error}.")
    return PlacementGroup(pg_id, specs)


def remove_placement_group(placement_group: PlacementGroup) -> None:
    """Remove a group: its bundles are freed, its actors killed, its running tasks fail."""
    if not isinstance(placement_group, PlacementGroup):
        raise TypeError(f"remove_placement_group needs a PlacementGroup, got {placement_group!r}")
    cw = _context.auto_init()
    cw.run_sync(cw.gcs.call("RemovePlacementGroup", gcs_pb2.RemovePlacementGroupRequest(
        placement_group_id=bytes(placement_group.id))))


def get_placement_group(placement_group_name: str) -> PlacementGroup:
    """The live group of that name in this job's namespace; ValueError when there is none."""
    if not placement_group_name:
        raise ValueError("Please supply a non-empty value to get_placement_group")
    cw = _context.auto_init()
    reply = cw.run_sync(cw.gcs.call("GetPlacementGroup", gcs_pb2.GetPlacementGroupRequest(
        name=placement_group_name, namespace=cw.job_namespace())))
    if not reply.found or reply.info.state == "REMOVED":
        raise ValueError(f"Failed to look up placement group with name: {placement_group_name}")
    return PlacementGroup(reply.info.placement_group_id, [dict(b.resources) for b in reply.info.bundles])


def placement_group_table(placement_group: PlacementGroup | None = None) -> dict:
    """One group's state (Ray's fields: placement_group_id, name, bundles, bundles_to_node_id, strategy,
    state, stats), or every group's, keyed by id (hex)."""
    cw = _context.auto_init()
    if placement_group is not None:
        return _row(_info_or_raise(placement_group))
    reply = cw.run_sync(cw.gcs.call("ListPlacementGroups", gcs_pb2.Empty()))
    return {info.placement_group_id.hex(): _row(info) for info in reply.groups}


def get_current_placement_group() -> PlacementGroup | None:
    """The group the calling task or actor runs in; None in a driver or outside any group."""
    current = current_group()
    return None if current is None else PlacementGroup(current[0])


# ---------------------------------------------------------------- helpers
async def _fetch(cw, pg_id: bytes, wait_s: float = 0.0):
    reply = await cw.gcs.call("GetPlacementGroup", gcs_pb2.GetPlacementGroupRequest(
        placement_group_id=bytes(pg_id), wait_created_s=wait_s), timeout=wait_s + 10)
    return reply.info if reply.found else None


def _info_or_raise(pg: PlacementGroup):
    cw = _context.auto_init()
    info = cw.run_sync(_fetch(cw, pg.id))
    if info is None:
        raise ValueError(f"No placement group {pg.id.hex()} in this cluster.")
    return info


def _row(info) -> dict:
    return {
        "placement_group_id": info.placement_group_id.hex(),
        "name": info.name,
        "bundles": {i: dict(b.resources) for i, b in enumerate(info.bundles)},
        "bundles_to_node_id": {i: b.node_id.hex() for i, b in enumerate(info.bundles) if b.node_id},
        "strategy": info.strategy,
        "state": info.state,
        "is_detached": info.detached,
        "stats": {"scheduling_attempt": info.scheduling_attempts, "pending_reason": info.pending_reason,
                  "end_to_end_creation_latency_ms": (max(0.0, info.placed_time - info.create_time) * 1000.0
                                                     if info.placed_time else 0.0)},
    }


def _check_bundles(bundles) -> None:
    example = '[{"CPU": 1}, {"CPU": 1, "GPU": 1}]'
    if not isinstance(bundles, list) or not bundles:
        raise ValueError(f"Placement group bundles must be a non-empty list of resource dicts, e.g. {example}; "
                         f"got {bundles!r}.")
    for b in bundles:
        if not isinstance(b, dict) or not all(isinstance(k, str) for k in b) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in b.values()):
            raise ValueError(f"Each bundle must be a dict of resource name -> amount, e.g. {example}; got {b!r}.")
        if any(v < 0 for v in b.values()):
            raise ValueError(f"Bundle amounts must be >= 0, got {b!r}.")
        if not b or all(v == 0 for v in b.values()):
            raise ValueError(f"Bundles cannot be empty or hold only zeros; got {bundles!r}.")

