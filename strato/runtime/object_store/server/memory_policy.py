"""The store's memory policy (pure): who must give memory back, and who gets it next.

The IO shell (StoreServer) reports what happened -- a read, a release, a
client gone, an object being freed, a spill finished or failed, a request
that found no memory, a tick of the clock -- and carries out what comes
back: `Revoke` (send StoreRevoke to that client's listening connection),
`Admit` / `Fail` (answer a waiting request) and the accounting's
`SpillBatch` / `DeleteSpillFile`. Nothing here touches a socket, a file, a
future or the clock; the unit tests drive it with plain values.

Read leases. Every read counts its client as a reader of the object's
region until the client releases it. A client that listens for revokes
keeps its reads as *leases*: it may read the object again without asking,
and gives the region back when revoked and no value of its views it. A
lease is revoked, and forgotten at once (the client releases its reads):

    * when its object is freed (`freeing`);
    * when its object left the region -- spilled or freed while being
      read: only readers hold such a region (`revoke_detached`);
    * every lease, when memory is short: the bytes in use (plus what a
      request needs) are above the spill threshold, or requests are waiting
      for memory (`relieve`) -- leased objects can neither be spilled nor
      evicted.

Admission. A create or a restore gets a region at once when the accounting
can reserve one (evicting unpinned copies if need be; `reserve`). Otherwise
it waits (`wait`): `relieve` then revokes leases and spills primaries to make
room, and each `retry` -- after anything that may have given memory back --
admits, in arrival order, every waiting request that now fits, leaving the
others waiting. A waiting request fails with ObjectStoreFullError when its
deadline passes (`expire`), or at once when nothing can make room any more
(`stuck`: writing to disk failed, nothing is evictable, no spill is under
way and no reader is left to let go); a waiting restore whose object was
freed meanwhile fails with ObjectLostError.

A waiter's lifecycle: WAITING -> ADMITTED | FAILED | CANCELLED (the request
went away; cancelling an answered waiter changes nothing). `story(key)`
tells the recent decisions about an object id or a client.
"""
from __future__ import annotations

import collections
import dataclasses
import enum
from typing import Hashable

from strato import exceptions
from strato.exceptions import InvalidTransition, InvariantError
from strato.runtime.object_store.server.accounting import ObjectState, ObjectTooLarge, Region, StoreAccounting

S = ObjectState


class WaiterState(enum.Enum):
    WAITING = "WAITING"
    ADMITTED = "ADMITTED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


W = WaiterState
WAITER_TRANSITIONS: dict[WaiterState, frozenset[WaiterState]] = {
    W.WAITING: frozenset({W.ADMITTED, W.FAILED, W.CANCELLED}),
    W.ADMITTED: frozenset(),
    W.FAILED: frozenset(),
    W.CANCELLED: frozenset(),
}


class NotAReader(ValueError):
    """A client released a region it does not read."""


@dataclasses.dataclass(eq=False)
class Waiter:
    """A create or restore waiting for memory. `token`: whatever the IO shell answers it through."""
    kind: str                   # "create" | "restore"
    oid: bytes
    size: int
    deadline: float
    kw: dict
    token: object = None
    state: WaiterState = W.WAITING

    def set_state(self, new: WaiterState) -> None:
        if new not in WAITER_TRANSITIONS[self.state]:
            raise InvalidTransition(f"a waiting request cannot go from {self.state.name} to {new.name}")
        self.state = new


# ------------------------------------------------------------ instructions
@dataclasses.dataclass(frozen=True)
class Revoke:
    """Ask `client` to give back its lease on the region at `offset` (holding `oid` when read)."""
    client: Hashable
    offset: int
    oid: bytes


@dataclasses.dataclass(frozen=True)
class Admit:
    waiter: Waiter
    region: Region


@dataclasses.dataclass(frozen=True)
class Fail:
    waiter: Waiter
    error: Exception


class MemoryPolicy:
    def __init__(self, acct: StoreAccounting, *, full_timeout_s: float = 30.0, node: str = "",
                 spill_dir: str = "", log_size: int = 1000):
        self.acct = acct
        self.full_timeout_s = full_timeout_s
        self.node = node                    # for messages: which node's store
        self.spill_dir = spill_dir          # for messages: where spilling writes
        self.reads: dict[Hashable, dict[int, int]] = {}          # client -> region offset -> reads
        self.leases: dict[int, dict[Hashable, bytes]] = {}       # region offset -> leasing client -> oid
        self.waiting: collections.deque[Waiter] = collections.deque()
        self.disk_error = ""                # the last spill's failure, until one succeeds
        self.stopped = False
        self._log: collections.deque = collections.deque(maxlen=log_size)

    # ------------------------------------------------------------ reads and leases
    def read(self, client: Hashable, oid: bytes, *, listening: bool) -> tuple[Region, bool]:
        """`client` maps `oid`: (its region, whether the read is a lease). Leases only for listeners."""
        region = self.acct.add_reader(oid)
        counts = self.reads.get(client)
        if counts is None:
            counts = self.reads[client] = {}        # kept until the client is gone: reads come and go
        offset = region.offset
        counts[offset] = counts.get(offset, 0) + 1
        if listening:
            self.leases.setdefault(region.offset, {})[client] = oid
        return region, listening

    def release(self, client: Hashable, offset: int) -> list:
        """`client` lets go of one read of the region; its lease ends with its last read."""
        counts = self.reads.get(client)
        n = counts.get(offset, 0) if counts else 0
        if n <= 0:
            raise NotAReader(f"release of a region this client does not read ({offset})")
        if n == 1:
            del counts[offset]
            self._end_lease(client, offset)
        else:
            counts[offset] = n - 1
        self.acct.remove_reader(offset)
        if self.waiting:
            return self.retry() + self.relieve()
        return self.relieve()

    def client_gone(self, client: Hashable) -> None:
        """Its process exited: its reads and leases end (the caller then retries the waiting)."""
        counts = self.reads.pop(client, None) or {}
        for offset in counts:
            self._end_lease(client, offset)
        for offset, n in counts.items():
            for _ in range(n):
                self.acct.remove_reader(offset)
        if counts:
            self._note("client gone", client, f"{sum(counts.values())} read(s) released")

    def freeing(self, oid: bytes) -> list:
        """`oid` is about to be freed: revoke the leases on its region."""
        entry = self.acct.objects.get(oid)
        if entry is None or entry.region is None or entry.region.offset not in self.leases:
            return []
        return self._revoke([entry.region.offset], "object freed")

    def revoke_detached(self) -> list:
        """Revoke leases on regions whose object left them (spilled, freed): only readers hold those."""
        regions = self.acct.regions
        stale = [o for o in self.leases if (r := regions.get(o)) is None or r.oid is None]
        return self._revoke(stale, "object left its region") if stale else []

    def relieve(self, need: int = 0) -> list:
        """Memory short (above the spill threshold with `need` more bytes, or requests waiting):
        revoke every lease; then the accounting's spill decision."""
        if self.stopped:
            return []
        out = []
        acct = self.acct
        if self.leases and (self.waiting or acct.alloc.used + need > acct.capacity * acct.spill_threshold):
            out = self._revoke(list(self.leases), "memory short")
        return out + acct.maybe_spill(need)

    def _end_lease(self, client: Hashable, offset: int) -> None:
        holders = self.leases.get(offset)
        if holders is not None:
            holders.pop(client, None)
            if not holders:
                del self.leases[offset]

    def _revoke(self, offsets, why: str) -> list:
        out = []
        for offset in offsets:
            for client, oid in self.leases.pop(offset, {}).items():
                out.append(Revoke(client, offset, oid))
                self._note("revoke", oid, why, client)
        return out

    # ------------------------------------------------------------ admission
    def reserve(self, kind: str, oid: bytes, size: int, **kw) -> Region | None:
        """A region now (a create, or the restore of a spilled object), or None: the request must wait.
        `kw` (creates): the accounting's create arguments -- primary, owner, call_site, now."""
        acct = self.acct
        try:
            if kind == "create":
                return acct.create(oid, size, **kw)
            return acct.restore_start(oid)
        except ObjectTooLarge:
            raise exceptions.ObjectStoreFullError(
                f"Object {oid.hex()} is {size / 2**20:.1f} MiB, larger than this node's whole object store "
                f"({acct.capacity / 2**20:.1f} MiB). Start the cluster with a larger object_store_memory "
                f"(strato.init(object_store_memory=...) or `strato start --object-store-memory`), or split "
                f"the value into smaller objects.") from None

    def wait(self, kind: str, oid: bytes, size: int, kw: dict | None = None, *, now: float,
             token=None) -> tuple[Waiter, list]:
        """A request that `reserve` could not place (with the same `kw`) waits until
        `now + full_timeout_s` at most."""
        waiter = Waiter(kind, oid, size, now + self.full_timeout_s, dict(kw or {}), token)
        self.waiting.append(waiter)
        self._note("wait", oid, f"{kind} of {size} bytes")
        return waiter, self.relieve(size) + self.stuck()

    def cancel(self, waiter: Waiter) -> bool:
        """The request went away; False when it was answered already (nothing changes)."""
        if waiter.state is not W.WAITING:
            return False
        waiter.set_state(W.CANCELLED)
        self.waiting.remove(waiter)
        self._note("cancel", waiter.oid, waiter.kind)
        return True

    def retry(self) -> list:
        """Memory may have come back: admit, in arrival order, each waiting request that fits now."""
        if not self.waiting:
            return []
        out, still = [], collections.deque()
        while self.waiting:
            w = self.waiting.popleft()
            try:
                if w.kind == "restore" and self.acct.state(w.oid) is not S.SPILLED:
                    out.append(self._fail(w, exceptions.ObjectLostError(f"object {w.oid.hex()} was freed")))
                    continue
                region = self.reserve(w.kind, w.oid, w.size, **w.kw)
            except Exception as exc:
                out.append(self._fail(w, exc))
                continue
            if region is None:
                still.append(w)
            else:
                w.set_state(W.ADMITTED)
                self._note("admit", w.oid, f"{w.kind} at {region.offset}")
                out.append(Admit(w, region))
        self.waiting = still
        if still:
            out += self.relieve(still[0].size)
            out += self.stuck()
        return out

    def expire(self, now: float) -> list:
        """Waiting requests whose deadline passed fail with ObjectStoreFullError."""
        return self._fail_waiting(lambda w: w.deadline <= now)

    def stuck(self) -> list:
        """Fail every waiting request at once when nothing can make room: memory and disk are both full."""
        acct = self.acct
        if not self.waiting or not self.disk_error or acct.can_evict() or acct.spilling:
            return []
        if any(r.readers for r in acct.regions.values()):
            return []       # readers may still let go; the deadline decides
        return self._fail_waiting(lambda w: True)

    def _fail_waiting(self, pred) -> list:
        out, keep = [], collections.deque()
        for w in self.waiting:
            if pred(w):
                out.append(self._fail(w, exceptions.ObjectStoreFullError(self.full_message(w.size))))
            else:
                keep.append(w)
        self.waiting = keep
        return out

    def _fail(self, waiter: Waiter, error: Exception) -> Fail:
        waiter.set_state(W.FAILED)
        self._note("fail", waiter.oid, f"{waiter.kind}: {type(error).__name__}")
        return Fail(waiter, error)

    def full_message(self, size: int) -> str:
        acct = self.acct
        st = acct.stats(top=3)
        held = st["released_but_read_bytes"]
        read = sum(r.size for r in acct.regions.values() if r.readers)
        disk = (f"spilling to {self.spill_dir} failed ({self.disk_error})" if self.disk_error
                else f"nothing more could be spilled within {self.full_timeout_s:g} s")
        top = ", ".join(f"{o['size'] / 2**20:.0f} MiB from {o['call_site'] or '?'}" for o in st["largest"])
        return (f"The object store of node {self.node} is full: {size / 2**20:.1f} MiB requested, "
                f"{st['used'] / 2**20:.0f} of {acct.capacity / 2**20:.0f} MiB in use ({read / 2**20:.0f} MiB "
                f"mapped by readers, {held / 2**20:.0f} MiB of it already freed), and {disk}. Delete refs you "
                f"no longer need (and values from strato.get that view them), free disk space, or raise "
                f"object_store_memory. Largest objects: {top or 'none'}.")

    # ------------------------------------------------------------ spilling
    def spill_done(self, path: str, placed: dict) -> list:
        """A batch is on disk: its regions wait for their readers, memory came back."""
        self.disk_error = ""
        out = self.acct.spill_done(path, placed)
        out += self.revoke_detached()       # read while being spilled: those regions wait for their readers
        out += self.retry()
        return out + self.relieve()

    def spill_failed(self, oids, error: str) -> list:
        """Writing a batch failed (`error`): its objects stay pinned; nothing may be left to try."""
        self.disk_error = error
        self.acct.spill_failed(oids)
        return self.stuck()

    def stop(self) -> None:
        """The store is closing: no more revokes or spills."""
        self.stopped = True

    # ------------------------------------------------------------ the story
    def _note(self, event: str, key, detail: str = "", client=None) -> None:
        self._log.append((event, key, detail, client))

    def story(self, key) -> list[tuple]:
        """Recent decisions about an object id or a client: (event, key, detail, client)."""
        return [e for e in self._log if e[1] == key or (e[3] is not None and e[3] == key)]

    def validate(self) -> None:
        """Invariants the tests check after every step; raises InvariantError naming the one broken."""
        for offset, holders in self.leases.items():
            if not holders:
                raise InvariantError(f"a leased region has a leasing client: {offset}")
            for client in holders:
                if self.reads.get(client, {}).get(offset, 0) <= 0:
                    raise InvariantError(f"a lease is held by a reader of its region: {client!r} at {offset}")
        per_region = collections.Counter()
        for client, counts in self.reads.items():
            for offset, n in counts.items():
                if n <= 0 or offset not in self.acct.regions:
                    raise InvariantError(f"a client's reads are of a listed region: {client!r} at {offset}")
                per_region[offset] += n
        for offset, n in per_region.items():
            if self.acct.regions[offset].readers < n:
                raise InvariantError(f"a region counts every client's reads of it: {offset}")
        seen = set()
        for w in self.waiting:
            if w.state is not W.WAITING or id(w) in seen:
                raise InvariantError(f"a queued request is waiting, and queued once: {w!r}")
            seen.add(id(w))
