"""The owner's reference counts (pure logic: no IO, no threads).

For every object a process knows of, count
  * local refs: live ObjectRef instances in this process;
  * submitted refs: pending tasks of this process that take it as an argument;
  * escaped: a ref to it was serialized into another value (an argument
    nesting it, a put, a return) -- a borrower elsewhere may hold it.
When local and submitted both reach zero and it has not escaped, the object
is out of scope: every call that can cause that returns the ids to free.
Escaped objects stay until their owner exits; tracking borrowers precisely
(so they can be freed earlier) is the object-store issue's work.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class RefEntry:
    owned: bool
    owner_address: str
    local: int = 0
    submitted: int = 0
    escaped: bool = False

    def in_scope(self) -> bool:
        return self.local > 0 or self.submitted > 0 or self.escaped


class ReferenceTable:
    def __init__(self, my_address: str):
        self.my_address = my_address
        self.entries: dict[bytes, RefEntry] = {}

    def add_owned(self, oid: bytes) -> None:
        """A new object this process owns (a task return or a put), with no refs yet."""
        if oid not in self.entries:
            self.entries[oid] = RefEntry(owned=True, owner_address=self.my_address)

    def add_local(self, oid: bytes, owner_address: str) -> None:
        entry = self.entries.get(oid)
        if entry is None:
            entry = self.entries[oid] = RefEntry(owned=owner_address == self.my_address,
                                                 owner_address=owner_address)
        entry.local += 1

    def remove_local(self, oid: bytes) -> list[bytes]:
        entry = self.entries.get(oid)
        if entry is None:
            return []
        entry.local -= 1
        if entry.local < 0:
            raise AssertionError(f"local refcount of {oid.hex()} went negative")
        return self._maybe_free(oid, entry)

    def add_submitted(self, oids) -> None:
        for oid in oids:
            entry = self.entries.get(oid)
            if entry is not None:
                entry.submitted += 1

    def remove_submitted(self, oids) -> list[bytes]:
        freed = []
        for oid in oids:
            entry = self.entries.get(oid)
            if entry is not None:
                entry.submitted -= 1
                freed += self._maybe_free(oid, entry)
        return freed

    def mark_escaped(self, oids) -> None:
        for oid in oids:
            entry = self.entries.get(oid)
            if entry is not None and entry.owned:
                entry.escaped = True

    def owned(self, oid: bytes) -> bool:
        entry = self.entries.get(oid)
        return entry is not None and entry.owned

    def __contains__(self, oid: bytes) -> bool:
        return oid in self.entries

    def _maybe_free(self, oid: bytes, entry: RefEntry) -> list[bytes]:
        if entry.in_scope():
            return []
        del self.entries[oid]
        return [oid]
