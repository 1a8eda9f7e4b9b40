"""The owner's lineage: how to rebuild a task's outputs if their only copy is lost (pure logic).

    task finished, a return lives in a node's store, retries left
        -> keep(entry, size)        the task's spec is kept and its argument refs stay held,
                                    so their own lineage (or value) stays too: rebuilding
                                    can recurse through the arguments
    an owned object went out of scope
        -> release([ids])           a record goes once none of its returns is referred to;
                                    the caller releases the argument refs it gives back
    the copy of a return is lost
        -> producer(id)             the record to run again (a new attempt, same return ids),
                                    or None, and `why_not(id)` says why it cannot be rebuilt

A record's size is its spec plus its arguments, large ones (in a node's store) at their full
size, since holding the record keeps them there. The records are bounded by `max_bytes`
(Ray's `max_lineage_bytes`, which counts specs only: Ray can drop a value and keep its
lineage; here an argument's value stays while a record holds it, so the core worker also
caps the bound at a quarter of its node's store): past it
the oldest records are evicted, their arguments released, and a later loss
of one of their outputs says the lineage was evicted. Callers hold the core
worker's lock around every call (outputs are freed from any thread).
"""
from __future__ import annotations

import collections

EVICTED = "evicted"
NO_RETRIES = "no retries"


class LineageRecord:
    __slots__ = ("entry", "live", "size", "arg_ids")

    def __init__(self, entry, live: set, size: int, arg_ids: list):
        self.entry = entry          # the TaskEntry of the latest attempt (its spec and retries left)
        self.live = live            # return ids still referred to
        self.size = size
        self.arg_ids = arg_ids      # the argument refs this record holds


class Lineage:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.total = 0
        self.records: collections.OrderedDict[bytes, LineageRecord] = collections.OrderedDict()  # task id ->
        self.by_output: dict[bytes, bytes] = {}      # return id -> task id
        self.gone: dict[bytes, str] = {}             # return id -> why its lineage is not kept (EVICTED)

    def __contains__(self, task_id: bytes) -> bool:
        return task_id in self.records

    def keep(self, entry, live_returns: list, size: int) -> list:
        """Keep `entry`'s spec for rebuilding `live_returns`; returns argument ids to release now
        (its own when it cannot be rebuilt, and those of records evicted to stay within max_bytes).
        The entry's arguments stay held until its record goes."""
        if not live_returns:
            return self._arg_ids(entry)
        if entry.retries_left == 0:                  # max_retries=0: only the reason is kept
            for oid in live_returns:
                self.gone[oid] = NO_RETRIES
            return self._arg_ids(entry)
        self.records[entry.task_id] = LineageRecord(entry, set(live_returns), size, self._arg_ids(entry))
        self.total += size
        for oid in live_returns:
            self.by_output[oid] = entry.task_id
        released = []
        while self.total > self.max_bytes and len(self.records) > 1:
            task_id, old = next(iter(self.records.items()))
            released += self._drop(task_id, old, evicted=True)
        return released

    def producer(self, oid: bytes):
        """The latest attempt's TaskEntry of the task whose output `oid` is, or None."""
        task_id = self.by_output.get(oid)
        return None if task_id is None else self.records[task_id].entry

    def replace(self, entry) -> None:
        """A rebuild started: `entry` (a new attempt) is now the task's latest spec."""
        self.records[entry.task_id].entry = entry

    def why_not(self, oid: bytes) -> str:
        return self.gone.get(oid, "")

    def release(self, oids) -> list:
        """Owned objects went out of scope; returns the argument ids of records that went with them."""
        released = []
        for oid in oids:
            self.gone.pop(oid, None)
            task_id = self.by_output.pop(oid, None)
            if task_id is None:
                continue
            record = self.records[task_id]
            record.live.discard(oid)
            if not record.live:
                released += self._drop(task_id, record, evicted=False)
        return released

    def _drop(self, task_id: bytes, record: LineageRecord, evicted: bool) -> list:
        del self.records[task_id]
        self.total -= record.size
        for oid in record.live:
            self.by_output.pop(oid, None)
            if evicted:
                self.gone[oid] = EVICTED
        return record.arg_ids

    @staticmethod
    def _arg_ids(entry) -> list:
        refs = entry.arg_refs
        return [r._id for r in refs] if refs else []
