"""Reference counts of one process, owned and borrowed objects alike (pure logic: no IO, no threads).

For every object a process knows of it counts what keeps the object alive here:
  * local:        live ObjectRef instances in this process;
  * submitted:    pending tasks of this process that take it as an argument, at top level or
                  nested inside one (released when the task finishes, retries included);
  * contained_in: live objects owned here whose value nests a ref to it (a put of `[ref]`, a
                  task return holding refs) -- released when that outer object is freed;
  * transit:      worker only: refs returned inside a task's result, held until the caller
                  has registered as their borrower and says so;
  * borrowers:    owned objects only: other processes that registered as holding a ref,
                  with a count per borrower.
When all of these are zero the entry goes (`freed`, cascading to the refs it contains).

Borrowing (Ray's ownership protocol, DESIGN.md section 3): a process that holds a ref it
does not own tells the owner once (a registration, +1) and again when its entry goes (a
release, -1). The table only decides *what* to send; the core worker sends `adds` and
`removes` and must not send a release before every earlier registration is acknowledged,
so the owner always hears "+1 from B" before anything that lets it drop its own hold.
Refs rebuilt from a task's arguments are `deferred`: the submitter holds them until the
task ends, so they are registered only if still alive then (`register_deferred`) -- a ref
used and dropped inside the task costs no message at all.
"""
from __future__ import annotations

import dataclasses

from strato.exceptions import InvariantError


@dataclasses.dataclass
class RefEntry:
    owned: bool
    owner_address: str
    local: int = 0
    submitted: int = 0
    contained_in: int = 0
    transit: int = 0
    borrowers: dict | None = None       # owned: borrower address -> count
    contains: tuple = ()                # owned: ids nested in this object's value (held while it lives)
    registered: bool = False            # borrowed: the owner was told (+1 sent)

    def in_scope(self) -> bool:
        return bool(self.local or self.submitted or self.contained_in or self.transit or self.borrowers)


class ReferenceTable:
    def __init__(self, my_address: str):
        self.my_address = my_address
        self.entries: dict[bytes, RefEntry] = {}
        self.adds: list[tuple[str, bytes]] = []      # (owner, oid): registrations to send
        self.removes: list[tuple[str, bytes]] = []   # (owner, oid): releases to send
        self.deferred: set[bytes] = set()            # borrowed entries from task arguments, not registered
        self.by_borrower: dict[str, set[bytes]] = {}

    # ------------------------------------------------------------- creation
    def add_owned(self, oid: bytes, contains=()) -> None:
        """A new object this process owns (a task return or a put). `contains`: (id, owner) of the
        refs nested in its value -- each is held until this object is freed."""
        if oid not in self.entries:
            self.entries[oid] = RefEntry(owned=True, owner_address=self.my_address)
        if contains:
            self.add_contained(oid, contains)

    def _entry(self, oid: bytes, owner_address: str, defer: bool, register: bool = True) -> RefEntry:
        entry = self.entries.get(oid)
        if entry is None:
            owned = owner_address == self.my_address
            entry = self.entries[oid] = RefEntry(owned=owned, owner_address=owner_address)
            if not owned and register:
                if defer:
                    self.deferred.add(oid)
                else:
                    entry.registered = True
                    self.adds.append((owner_address, oid))
        elif not defer and oid in self.deferred:
            self.deferred.discard(oid)
            entry.registered = True
            self.adds.append((entry.owner_address, oid))
        return entry

    def add_local(self, oid: bytes, owner_address: str, defer: bool = False, register: bool = True) -> None:
        """One more ObjectRef instance here. `defer`: it was rebuilt from a running task's arguments.
        `register=False`: something else holds it for as long as it can be used here (a ref captured
        in an exported function: its definition and pending tasks in the driver); never registered."""
        self._entry(oid, owner_address, defer and register, register).local += 1

    def add_contained(self, outer: bytes, inner) -> bool:
        """Owned object `outer` nests refs `inner` [(id, owner)]: hold them while `outer` lives.
        False (nothing held) when `outer` is no longer in this table."""
        entry = self.entries.get(outer)
        if entry is None or not entry.owned:
            return False
        ids = []
        for oid, owner in inner:
            self._entry(oid, owner, False).contained_in += 1
            ids.append(oid)
        entry.contains = entry.contains + tuple(ids)
        return True

    def register_deferred(self) -> None:
        """A task ended: borrowed refs from its arguments that are still alive get registered now."""
        for oid in self.deferred:
            entry = self.entries[oid]
            entry.registered = True
            self.adds.append((entry.owner_address, oid))
        self.deferred.clear()

    # ------------------------------------------------------------- counts
    def remove_local(self, oid: bytes) -> list[tuple[bytes, bool]]:
        entry = self.entries.get(oid)
        if entry is None:
            return []
        entry.local -= 1
        if entry.local < 0:
            raise InvariantError(f"local refcount of {oid.hex()} went negative")
        return self._maybe_free(oid, entry)

    def add_submitted(self, oids) -> None:
        for oid in oids:
            entry = self.entries.get(oid)
            if entry is not None:
                entry.submitted += 1

    def remove_submitted(self, oids) -> list[tuple[bytes, bool]]:
        freed = []
        for oid in oids:
            entry = self.entries.get(oid)
            if entry is not None:
                entry.submitted -= 1
                if entry.submitted < 0:
                    raise InvariantError(f"submitted refcount of {oid.hex()} went negative")
                freed += self._maybe_free(oid, entry)
        return freed

    def add_transit(self, oids) -> None:
        for oid in oids:
            entry = self.entries.get(oid)
            if entry is not None:
                entry.transit += 1

    def remove_transit(self, oids) -> list[tuple[bytes, bool]]:
        freed = []
        for oid in oids:
            entry = self.entries.get(oid)
            if entry is not None and entry.transit > 0:
                entry.transit -= 1
                freed += self._maybe_free(oid, entry)
        return freed

    # ------------------------------------------------------------- borrowers
    def add_borrower(self, oid: bytes, borrower: str) -> bool:
        """The owner's side of a registration; False when the object is unknown (already freed)."""
        entry = self.entries.get(oid)
        if entry is None or not entry.owned:
            return False
        if entry.borrowers is None:
            entry.borrowers = {}
        entry.borrowers[borrower] = entry.borrowers.get(borrower, 0) + 1
        self.by_borrower.setdefault(borrower, set()).add(oid)
        return True

    def remove_borrower(self, oid: bytes, borrower: str) -> list[tuple[bytes, bool]]:
        entry = self.entries.get(oid)
        if entry is None or not entry.borrowers or borrower not in entry.borrowers:
            return []   # the borrower was dropped already (its connection closed)
        n = entry.borrowers[borrower] - 1
        if n > 0:
            entry.borrowers[borrower] = n
            return []
        del entry.borrowers[borrower]
        held = self.by_borrower.get(borrower)
        if held is not None:
            held.discard(oid)
            if not held:
                del self.by_borrower[borrower]
        return self._maybe_free(oid, entry)

    def drop_borrower(self, borrower: str) -> list[tuple[bytes, bool]]:
        """A borrower process is gone: whatever it held is released."""
        freed = []
        for oid in self.by_borrower.pop(borrower, ()):
            entry = self.entries.get(oid)
            if entry is not None and entry.borrowers:
                entry.borrowers.pop(borrower, None)
                freed += self._maybe_free(oid, entry)
        return freed

    # ------------------------------------------------------------- queries
    def owned(self, oid: bytes) -> bool:
        entry = self.entries.get(oid)
        return entry is not None and entry.owned

    def __contains__(self, oid: bytes) -> bool:
        return oid in self.entries

    def take_messages(self) -> tuple[list, list]:
        adds, removes = self.adds, self.removes
        self.adds, self.removes = [], []
        return adds, removes

    # ------------------------------------------------------------- freeing
    def _maybe_free(self, oid: bytes, entry: RefEntry) -> list[tuple[bytes, bool]]:
        """[(id, owned)] of the entries that went: this one and, in turn, what it contained."""
        if entry.in_scope():
            return []
        freed = []
        stack = [(oid, entry)]
        while stack:
            oid, entry = stack.pop()
            del self.entries[oid]
            freed.append((oid, entry.owned))
            if not entry.owned:
                if entry.registered:
                    self.removes.append((entry.owner_address, oid))
                else:
                    self.deferred.discard(oid)
            for inner in entry.contains:
                inner_entry = self.entries.get(inner)
                if inner_entry is None:
                    continue
                inner_entry.contained_in -= 1
                if not inner_entry.in_scope():
                    stack.append((inner, inner_entry))
        return freed
