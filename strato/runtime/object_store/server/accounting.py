r"""The store's accounting: capacity, pinning, eviction, spilling (pure logic).

An object's lifecycle in one node's store:

    ALLOCATED --seal--> SEALED <--pin/unpin--> PINNED --spill--> SPILLING --done--> SPILLED
        |                 |                      |  ^               |                |   ^
        |               evict                    |  +---- failed ---+             restore |
        v                 v                      |                                   v   | failed
      FREED            EVICTED                   |  PINNED <------ done ------ RESTORING -+
                                                 v
    (every non-terminal state) --free--> FREED

* SEALED is a complete copy nobody pins: a secondary copy pulled from
  another node. It may be evicted, least recently used first.
* PINNED is a primary copy: its owner still references it. It is never
  evicted; above `spill_threshold` of capacity primaries are spilled to disk
  in batches, and restored into memory when read.

Memory is tracked by region, not by object: a reader that mapped an object
holds its region, and a region whose object was freed, evicted or spilled
goes back to the allocator only when its last reader released it. So no
reader ever sees its memory reused under it.

Methods return the work the IO shell (store_server.py) must do as instruction
objects (`SpillBatch`, `DeleteSpillFile`); the unit tests drive this class
without files, sockets or threads.
"""
from __future__ import annotations

import collections
import dataclasses
import enum

from strato.exceptions import InvalidTransition, InvariantError
from strato.runtime.object_store.server.allocator import Allocator, OutOfMemory


class ObjectState(enum.Enum):
    ALLOCATED = "ALLOCATED"        # region reserved, the writer is filling it
    SEALED = "SEALED"              # complete and readable; unpinned (secondary copy)
    PINNED = "PINNED"              # complete and readable; primary copy pinned for its owner
    SPILLING = "SPILLING"          # primary being written to disk; still readable
    SPILLED = "SPILLED"            # on disk only
    RESTORING = "RESTORING"        # being read back from disk into a new region
    EVICTED = "EVICTED"            # gone (secondary copy dropped for space)
    FREED = "FREED"                # gone (its owner released it, or its writer died)


S = ObjectState
TRANSITIONS: dict[ObjectState, frozenset[ObjectState]] = {
    S.ALLOCATED: frozenset({S.SEALED, S.FREED}),
    S.SEALED: frozenset({S.PINNED, S.EVICTED, S.FREED}),
    S.PINNED: frozenset({S.SEALED, S.SPILLING, S.FREED}),
    S.SPILLING: frozenset({S.SPILLED, S.PINNED, S.FREED}),
    S.SPILLED: frozenset({S.RESTORING, S.FREED}),
    S.RESTORING: frozenset({S.PINNED, S.SPILLED, S.FREED}),
    S.EVICTED: frozenset(),
    S.FREED: frozenset(),
}
TERMINAL = frozenset({S.EVICTED, S.FREED})
IN_MEMORY = frozenset({S.ALLOCATED, S.SEALED, S.PINNED, S.SPILLING, S.RESTORING})
READABLE = frozenset({S.SEALED, S.PINNED, S.SPILLING})


class ObjectExists(Exception):
    pass


class ObjectTooLarge(Exception):
    pass


def check_transition(old: ObjectState, new: ObjectState) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"object cannot go from {old.name} to {new.name}")


def _require(ok: bool, rule: str, subject=None) -> None:
    """An invariant check that `python -O` keeps: raises InvariantError naming the rule (and what broke it)."""
    if not ok:
        raise InvariantError(rule if subject is None else f"{rule}: {subject!r}")


def validate_table() -> None:
    """Every state is in the table; terminal states lead nowhere; no self loops."""
    _require(set(TRANSITIONS) == set(ObjectState), "every object state is in the transition table",
             sorted(s.name for s in set(ObjectState) - set(TRANSITIONS)))
    for state in TERMINAL:
        _require(not TRANSITIONS[state], "a terminal object state leads nowhere", state)
    for state, targets in TRANSITIONS.items():
        _require(state not in targets, "no object state leads to itself", state)


# ------------------------------------------------------------ instructions
@dataclasses.dataclass(frozen=True)
class SpillBatch:
    """Write these objects' bytes (offset, size in the arena) to one new file."""
    objects: tuple  # of (oid, offset, size)


@dataclasses.dataclass(frozen=True)
class DeleteSpillFile:
    path: str


# ------------------------------------------------------------ records
@dataclasses.dataclass(eq=False)
class Region:
    offset: int
    size: int                       # reserved bytes (page multiple)
    readers: int = 0
    oid: bytes | None = None        # None: its object left memory; freed when readers reach 0


@dataclasses.dataclass(eq=False)
class ObjectEntry:
    oid: bytes
    size: int                       # bytes of the object's layout
    state: ObjectState
    primary: bool
    owner: str = ""                 # owner's address (primary copies)
    call_site: str = ""
    created: float = 0.0
    region: Region | None = None
    spill_path: str = ""
    spill_offset: int = 0

    def set_state(self, new: ObjectState) -> None:
        check_transition(self.state, new)
        self.state = new


class StoreAccounting:
    def __init__(self, capacity: int, *, spill_threshold: float = 0.8, min_spill_batch: int = 64 << 20,
                 max_spill_batch: int = 1 << 30):
        self.alloc = Allocator(capacity)
        self.capacity = self.alloc.capacity
        self.spill_threshold = spill_threshold
        self.min_spill_batch = min_spill_batch
        self.max_spill_batch = max_spill_batch
        self.objects: dict[bytes, ObjectEntry] = {}
        self.regions: dict[int, Region] = {}
        self.lru: collections.OrderedDict[bytes, None] = collections.OrderedDict()   # in-memory objects
        self.spill_files: dict[str, int] = {}          # path -> live objects in it
        self.spilling = False                          # one batch in flight at a time
        self.counters = collections.Counter()

    # ------------------------------------------------------------ create
    def create(self, oid: bytes, size: int, *, primary: bool = True, owner: str = "", call_site: str = "",
               now: float = 0.0) -> Region | None:
        """Reserve memory for a new object; None when it must wait for memory (see `wants_space`)."""
        if oid in self.objects:
            raise ObjectExists(oid.hex())
        if size > self.capacity:
            raise ObjectTooLarge(f"{size} bytes > capacity {self.capacity}")
        region = self._reserve(size)
        if region is None:
            return None
        entry = ObjectEntry(oid, size, S.ALLOCATED, primary, owner, call_site, now, region)
        region.oid = oid
        self.objects[oid] = entry
        self.lru[oid] = None
        self.counters["created"] += 1
        return region

    def _reserve(self, size: int) -> Region | None:
        while True:
            try:
                offset, reserved = self.alloc.alloc(size)
            except OutOfMemory:
                if not self._evict_one():
                    return None
                continue
            region = self.regions[offset] = Region(offset, reserved)
            return region

    def _evict_one(self) -> bool:
        for oid in self.lru:
            entry = self.objects[oid]
            if entry.state is S.SEALED and entry.region.readers == 0:
                self.evict(oid)
                return True
        return False

    def seal(self, oid: bytes, now: float = 0.0) -> None:
        entry = self._get(oid)
        entry.set_state(S.SEALED)
        if entry.primary:
            entry.set_state(S.PINNED)
        self._touch(oid)

    def abort(self, oid: bytes) -> list:
        """The writer went away before sealing: drop the partial object."""
        entry = self._get(oid)
        if entry.state is not S.ALLOCATED:
            raise InvalidTransition(f"abort of a {entry.state.name} object")
        return self.free(oid)

    # ------------------------------------------------------------ pinning
    def pin(self, oid: bytes) -> None:
        entry = self._get(oid)
        entry.set_state(S.PINNED)
        entry.primary = True

    def unpin(self, oid: bytes) -> None:
        entry = self._get(oid)
        entry.set_state(S.SEALED)
        entry.primary = False

    # ------------------------------------------------------------ readers
    def add_reader(self, oid: bytes) -> Region:
        """A process maps the object: its region stays until `remove_reader`."""
        entry = self._get(oid)
        if entry.state not in READABLE:
            raise InvalidTransition(f"read of a {entry.state.name} object")
        entry.region.readers += 1
        self._touch(oid)
        self.counters["reads"] += 1
        return entry.region

    def remove_reader(self, offset: int) -> None:
        region = self.regions.get(offset)
        if region is None or region.readers <= 0:
            raise ValueError(f"no reader holds the region at {offset}")
        region.readers -= 1
        if region.readers == 0 and region.oid is None:
            self._free_region(region)

    # ------------------------------------------------------------ leaving memory
    def evict(self, oid: bytes) -> None:
        entry = self._get(oid)
        if entry.state is S.SEALED and entry.region.readers:
            raise InvalidTransition("eviction of an object that is being read")
        entry.set_state(S.EVICTED)
        self._drop(entry)
        self.counters["evicted"] += 1

    def free(self, oid: bytes) -> list:
        """Its owner no longer references it (or its writer died): drop every local copy."""
        entry = self.objects.get(oid)
        if entry is None:
            return []
        out = []
        entry.set_state(S.FREED)
        if entry.spill_path:
            out += self._unref_spill_file(entry.spill_path)
        self._drop(entry)
        self.counters["freed"] += 1
        return out

    def _drop(self, entry: ObjectEntry) -> None:
        del self.objects[entry.oid]
        self.lru.pop(entry.oid, None)
        if entry.region is not None:
            self._detach(entry)

    def _detach(self, entry: ObjectEntry) -> None:
        region, entry.region = entry.region, None
        region.oid = None
        if region.readers == 0:
            self._free_region(region)

    def _free_region(self, region: Region) -> None:
        del self.regions[region.offset]
        self.alloc.free(region.offset, region.size)

    # ------------------------------------------------------------ spilling
    def maybe_spill(self, need: int = 0) -> list:
        """Above the threshold (or when `need` bytes do not fit), pick a batch of primaries to spill."""
        if self.spilling:
            return []
        target = int(self.capacity * self.spill_threshold)
        excess = self.alloc.used - target
        if need and not self.alloc.fits(need):
            excess = max(excess, need - (self.capacity - self.alloc.used), need)
        if excess <= 0:
            return []
        want = min(max(excess, self.min_spill_batch), self.max_spill_batch)
        batch, total = [], 0
        for oid in self.lru:
            entry = self.objects[oid]
            if entry.state is S.PINNED and entry.region.readers == 0:
                batch.append(entry)
                total += entry.region.size
                if total >= want:
                    break
        if not batch:
            return []
        for entry in batch:
            entry.set_state(S.SPILLING)
        self.spilling = True
        return [SpillBatch(tuple((e.oid, e.region.offset, e.size) for e in batch))]

    def spill_done(self, path: str, placed: dict) -> list:
        """The batch is on disk: `placed` maps oid -> offset in the file."""
        self.spilling = False
        live = 0
        for oid, file_offset in placed.items():
            entry = self.objects.get(oid)
            if entry is None or entry.state is not S.SPILLING:
                continue  # freed while being written
            entry.set_state(S.SPILLED)
            entry.spill_path, entry.spill_offset = path, file_offset
            self.lru.pop(oid, None)
            self._detach(entry)
            live += 1
            self.counters["spilled"] += 1
            self.counters["spilled_bytes"] += entry.size
        if live:
            self.spill_files[path] = live
            return []
        return [DeleteSpillFile(path)]

    def spill_failed(self, oids) -> None:
        self.spilling = False
        for oid in oids:
            entry = self.objects.get(oid)
            if entry is not None and entry.state is S.SPILLING:
                entry.set_state(S.PINNED)

    def restore_start(self, oid: bytes) -> Region | None:
        """Reserve memory to read a spilled object back; None when it must wait for memory."""
        entry = self._get(oid)
        check_transition(entry.state, S.RESTORING)
        region = self._reserve(entry.size)
        if region is None:
            return None
        entry.set_state(S.RESTORING)
        region.oid = oid
        entry.region = region
        self.lru[oid] = None
        return region

    def restore_done(self, oid: bytes) -> list:
        entry = self.objects.get(oid)
        if entry is None:
            return []
        entry.set_state(S.PINNED)
        path, entry.spill_path = entry.spill_path, ""
        self.counters["restored"] += 1
        self._touch(oid)
        return self._unref_spill_file(path)

    def restore_failed(self, oid: bytes) -> None:
        entry = self.objects.get(oid)
        if entry is None:
            return
        entry.set_state(S.SPILLED)
        self.lru.pop(oid, None)
        self._detach(entry)

    def _unref_spill_file(self, path: str) -> list:
        left = self.spill_files.get(path, 0) - 1
        if left > 0:
            self.spill_files[path] = left
            return []
        self.spill_files.pop(path, None)
        return [DeleteSpillFile(path)]

    # ------------------------------------------------------------ queries
    def _get(self, oid: bytes) -> ObjectEntry:
        entry = self.objects.get(oid)
        if entry is None:
            raise KeyError(oid.hex())
        return entry

    def _touch(self, oid: bytes) -> None:
        if oid in self.lru:
            self.lru.move_to_end(oid)

    def state(self, oid: bytes) -> ObjectState | None:
        entry = self.objects.get(oid)
        return entry.state if entry else None

    def objects_of_owner(self, owner: str) -> list[bytes]:
        return [oid for oid, e in self.objects.items() if e.owner == owner and e.primary]

    def can_make_room(self) -> bool:
        """Could memory still be freed without anyone releasing a reader?"""
        if self.spilling:
            return True
        return any(e.state in (S.PINNED, S.SEALED) and e.region.readers == 0 for e in self.objects.values())

    def can_evict(self) -> bool:
        return any(e.state is S.SEALED and e.region.readers == 0 for e in self.objects.values())

    def stats(self, top: int = 10) -> dict:
        primary = secondary = spilled = 0
        for e in self.objects.values():
            if e.state in (S.PINNED, S.SPILLING, S.RESTORING) or (e.state is S.ALLOCATED and e.primary):
                primary += e.size
            elif e.state in (S.SEALED, S.ALLOCATED):
                secondary += e.size
            if e.state in (S.SPILLED, S.RESTORING):
                spilled += e.size
        held = sum(r.size for r in self.regions.values() if r.oid is None)
        largest = sorted(self.objects.values(), key=lambda e: e.size, reverse=True)[:top]
        return {
            "capacity": self.capacity, "used": self.alloc.used, "primary_bytes": primary,
            "secondary_bytes": secondary, "spilled_bytes": spilled, "released_but_read_bytes": held,
            "num_objects": len(self.objects),
            "num_spilled": sum(1 for e in self.objects.values() if e.state is S.SPILLED),
            "largest": [{"object_id": e.oid.hex(), "size": e.size, "state": e.state.name,
                         "call_site": e.call_site, "owner": e.owner} for e in largest],
            "counters": dict(self.counters),
        }

    def validate(self) -> None:
        """Invariants the tests check after every step; raises InvariantError naming the one broken."""
        self.alloc.validate()
        used = sum(r.size for r in self.regions.values())
        _require(used == self.alloc.used, "regions add up to the allocator's used bytes", (used, self.alloc.used))
        for oid, e in self.objects.items():
            _require(e.oid == oid and e.state not in TERMINAL, "a listed object is live and listed under its id", e)
            if e.state in IN_MEMORY:
                _require(e.region is not None and e.region.oid == oid, "an object in memory has its region", e)
                _require(self.regions.get(e.region.offset) is e.region, "an object's region is listed", e)
                _require(oid in self.lru, "an object in memory is in the LRU", e)
            else:
                _require(e.region is None and oid not in self.lru, "an object out of memory has no region", e)
            if e.state is S.SPILLED:
                _require(e.spill_path in self.spill_files, "a spilled object's file is listed", e)
            if e.state is S.PINNED:
                _require(e.primary, "only a primary copy is pinned", e)
        for r in self.regions.values():
            _require(r.oid is not None or r.readers > 0, "a region without an object still has readers", r)
            if r.oid is not None:
                _require(self.objects[r.oid].region is r, "a region's object points back at it", r)
        _require(set(self.lru) <= set(self.objects), "the LRU lists only live objects",
                 set(self.lru) - set(self.objects))
        _require(self.spilling == any(e.state is S.SPILLING for e in self.objects.values()),
                 "the spilling flag matches the objects being spilled", self.spilling)
