"""Placement-group bundles held by a raylet (pure: names and bookkeeping, no IO).

A bundle goes through two steps, driven by the GCS (gcs/placement_group_manager.py):

    prepare   its resources are taken from the node's free ones (so no other lease can use them),
              all bundles of one request or none
    commit    the reservation becomes resources of its own, named as in Ray, e.g. a bundle
              {"CPU": 1} at index 0 of group <pg> adds
                  CPU_group_0_<pg>: 1      this bundle
                  CPU_group_<pg>: 1        any bundle of the group on this node (summed)
                  bundle_group_0_<pg>: 1000, bundle_group_<pg>: 1000 per bundle
    return    a rollback or the group's removal: the bundle's resources go back to the node

A lease in a bundle asks for the bundle's names instead of the plain ones
(`bundle_request`), so the lease scheduler and the placement policy treat them
like any other resource: they are free only where the bundle lives, and the
cluster view (heartbeats) carries them to every raylet.
"""
from __future__ import annotations

import dataclasses

#: What each committed bundle adds of its marker resource, and what a lease in it takes, as Ray does:
#: a lease that asks for nothing else still lands on the bundle's node.
BUNDLE_MARKER = 1000.0
MARKER_REQUEST = 0.001


def indexed_name(resource: str, pg_id: bytes, index: int) -> str:
    return f"{resource}_group_{index}_{pg_id.hex()}"


def wildcard_name(resource: str, pg_id: bytes) -> str:
    return f"{resource}_group_{pg_id.hex()}"


def is_group_resource(name: str, pg_id: bytes | None = None) -> bool:
    """Whether `name` is a bundle's resource (of the group `pg_id`, if given)."""
    if "_group_" not in name:
        return False
    return pg_id is None or name.endswith("_" + pg_id.hex())


def is_cpu(name: str) -> bool:
    """CPU, or a bundle's CPU: what a worker blocked in `get` gives back while it waits."""
    return name == "CPU" or name.startswith("CPU_group_")


def plain_resources(lease: dict) -> dict:
    """A lease's resources under their own names: a bundle's node-wide names (CPU_group_<pg>) become
    CPU; its indexed names and markers, which repeat them, are dropped."""
    out: dict = {}
    for name, value in lease.items():
        if "_group_" not in name:
            out[name] = out.get(name, 0.0) + value
            continue
        base, _, rest = name.partition("_group_")
        if base != "bundle" and "_" not in rest:        # CPU_group_<pg>, not CPU_group_<i>_<pg>
            out[base] = out.get(base, 0.0) + value
    return out


def bundle_request(resources: dict, pg_id: bytes, index: int) -> dict:
    """A lease's resources as a request against bundle `index` of the group (-1: any of its bundles
    on one node). An indexed request takes from both the bundle and the group's node-wide sum."""
    out: dict = {}
    for k, v in resources.items():
        if not v:
            continue
        out[wildcard_name(k, pg_id)] = float(v)
        if index >= 0:
            out[indexed_name(k, pg_id, index)] = float(v)
    out[wildcard_name("bundle", pg_id)] = MARKER_REQUEST
    if index >= 0:
        out[indexed_name("bundle", pg_id, index)] = MARKER_REQUEST
    return out


def committed_resources(resources: dict, pg_id: bytes, index: int) -> dict:
    """The resources a committed bundle adds to its node (the wildcard names add up across bundles)."""
    out = {indexed_name("bundle", pg_id, index): BUNDLE_MARKER, wildcard_name("bundle", pg_id): BUNDLE_MARKER}
    for k, v in resources.items():
        if v:
            out[indexed_name(k, pg_id, index)] = float(v)
            out[wildcard_name(k, pg_id)] = float(v)
    return out


@dataclasses.dataclass
class Bundle:
    resources: dict
    committed: bool = False


class BundleTable:
    """The bundles reserved on one node, applied to the node's `total` and `available` dicts (which
    the lease scheduler owns and passes in)."""

    def __init__(self):
        self.bundles: dict[tuple[bytes, int], Bundle] = {}

    def prepare(self, specs: list[tuple[bytes, int, dict]], available: dict) -> str:
        """Reserve every (pg_id, index, resources) in `specs`, or none: "" when done, else why not.
        A bundle prepared already is not taken twice (the GCS may retry a prepare)."""
        new = [(pg, i, {k: float(v) for k, v in r.items() if v}) for pg, i, r in specs
               if (pg, i) not in self.bundles]
        need: dict = {}
        for _, _, r in new:
            for k, v in r.items():
                need[k] = need.get(k, 0.0) + v
        short = {k: v for k, v in need.items() if available.get(k, 0.0) + 1e-9 < v}
        if short:
            return (f"this node cannot reserve {need}: it has only "
                    f"{ {k: available.get(k, 0.0) for k in short} } free")
        for pg, i, r in new:
            _add(available, r, -1)
            self.bundles[(pg, i)] = Bundle(r)
        return ""

    def commit(self, pg_id: bytes, indexes: list[int], total: dict, available: dict) -> bool:
        """Make prepared bundles usable; False when one of them was never prepared here."""
        ok = True
        for i in indexes:
            b = self.bundles.get((pg_id, i))
            if b is None:
                ok = False
                continue
            if not b.committed:
                b.committed = True
                added = committed_resources(b.resources, pg_id, i)
                _add(total, added, 1)
                _add(available, added, 1)
        return ok

    def give_back(self, pg_id: bytes, indexes: list[int] | None, total: dict, available: dict) -> list[int]:
        """Return bundles of a group (None: all of them here) to the node: their own resources are
        dropped whatever leases hold of them (the caller stops those leases' workers), and the
        plain resources they reserved become free again. Returns the indexes given back."""
        keys = [k for k in self.bundles if k[0] == pg_id and (indexes is None or k[1] in indexes)]
        for key in keys:
            b = self.bundles.pop(key)
            if b.committed:
                for name, v in committed_resources(b.resources, pg_id, key[1]).items():
                    for d in (total, available):
                        d[name] = d.get(name, 0.0) - v
            _add(available, b.resources, 1)
        if keys:                             # drop what is left of the group's names (leases' shares)
            still = any(k[0] == pg_id for k in self.bundles)
            for d in (total, available):
                for name in [n for n in d if is_group_resource(n, pg_id)]:
                    if not still or abs(total.get(name, 0.0)) < 1e-9:
                        del d[name]
        return sorted(k[1] for k in keys)


def _add(d: dict, r: dict, sign: int) -> None:
    for k, v in r.items():
        d[k] = d.get(k, 0.0) + sign * v
        if abs(d[k]) < 1e-9:
            d[k] = 0.0
