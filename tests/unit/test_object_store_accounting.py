"""The object store's accounting as a pure state machine: no files, sockets or threads."""
import pytest

from strato.exceptions import InvariantError
from strato.runtime.object_store.server.accounting import (
    TERMINAL, TRANSITIONS, DeleteSpillFile, InvalidTransition, ObjectExists, ObjectState, ObjectTooLarge,
    SpillBatch, StoreAccounting, check_transition, validate_table)
from strato.runtime.object_store.server.allocator import PAGE, Allocator, OutOfMemory

S = ObjectState
MiB = 1 << 20


def oid(n: int) -> bytes:
    return n.to_bytes(20, "big")


def sealed(acct, n, size=MiB, primary=True):
    acct.create(oid(n), size, primary=primary, owner="driver:1", call_site=f"f{n}")
    acct.seal(oid(n))
    acct.validate()


# ------------------------------------------------------------------ the table
def test_table_is_valid():
    validate_table()


@pytest.mark.parametrize("old,new", [(o, n) for o in S for n in S if n not in TRANSITIONS[o]])
def test_every_invalid_transition_raises(old, new):
    with pytest.raises(InvalidTransition):
        check_transition(old, new)


def test_terminal_states():
    assert TERMINAL == {S.EVICTED, S.FREED}


@pytest.mark.parametrize("state,targets,rule", [
    (S.FREED, {S.PINNED}, "a terminal object state leads nowhere"),
    (S.SPILLED, {S.SPILLED, S.FREED}, "no object state leads to itself"),
    (S.RESTORING, None, "every object state is in the transition table"),
])
def test_validate_table_names_the_rule_a_broken_table_breaks(monkeypatch, state, targets, rule):
    if targets is None:
        monkeypatch.delitem(TRANSITIONS, state)
    else:
        monkeypatch.setitem(TRANSITIONS, state, frozenset(targets))
    with pytest.raises(InvariantError, match=rule):
        validate_table()


def test_validate_names_the_rule_broken_state_breaks():
    acct = StoreAccounting(16 * MiB)
    sealed(acct, 1)
    acct.lru.pop(oid(1))                          # an object in memory that eviction can no longer see
    with pytest.raises(InvariantError, match="an object in memory is in the LRU"):
        acct.validate()
    a = Allocator(4 * PAGE)
    a.alloc(PAGE)
    a.used += PAGE                                # bytes counted as used that no range accounts for
    with pytest.raises(InvariantError, match="!= capacity"):
        a.validate()


# ------------------------------------------------------------------ allocator
def test_allocator_first_fit_reuses_the_lowest_freed_range():
    a = Allocator(10 * PAGE)
    r1 = a.alloc(PAGE)
    r2 = a.alloc(3 * PAGE + 1)
    assert r1 == (0, PAGE) and r2 == (PAGE, 4 * PAGE)
    a.free(*r1)
    assert a.alloc(10) == (0, PAGE)
    a.free(0, PAGE)
    a.free(*r2)
    a.validate()
    assert a.free_ranges() == [(0, 10 * PAGE)]
    with pytest.raises(OutOfMemory):
        a.alloc(11 * PAGE)


def test_allocator_rejects_double_free():
    a = Allocator(4 * PAGE)
    off, size = a.alloc(PAGE)
    a.free(off, size)
    with pytest.raises(ValueError):
        a.free(off, size)


# ------------------------------------------------------------------ lifecycle
def test_allocate_seal_pin_unpin_free():
    acct = StoreAccounting(16 * MiB)
    region = acct.create(oid(1), MiB, owner="o", call_site="put at x.py:1")
    assert region.offset == 0 and acct.state(oid(1)) is S.ALLOCATED
    acct.validate()
    acct.seal(oid(1))
    assert acct.state(oid(1)) is S.PINNED          # primary copies are pinned when sealed
    acct.unpin(oid(1))
    assert acct.state(oid(1)) is S.SEALED
    acct.pin(oid(1))
    assert acct.state(oid(1)) is S.PINNED
    acct.validate()
    assert acct.free(oid(1)) == []
    assert acct.state(oid(1)) is None and acct.alloc.used == 0
    acct.validate()


def test_secondary_copies_seal_unpinned():
    acct = StoreAccounting(16 * MiB)
    sealed(acct, 1, primary=False)
    assert acct.state(oid(1)) is S.SEALED


def test_create_twice_and_too_large():
    acct = StoreAccounting(4 * MiB)
    acct.create(oid(1), MiB)
    with pytest.raises(ObjectExists):
        acct.create(oid(1), MiB)
    with pytest.raises(ObjectTooLarge):
        acct.create(oid(2), 5 * MiB)


def test_reading_an_unsealed_object_is_invalid():
    acct = StoreAccounting(4 * MiB)
    acct.create(oid(1), MiB)
    with pytest.raises(InvalidTransition):
        acct.add_reader(oid(1))
    with pytest.raises(InvalidTransition):
        acct.pin(oid(1))       # ALLOCATED -> PINNED skips the seal


def test_abort_drops_a_partial_object_only():
    acct = StoreAccounting(4 * MiB)
    acct.create(oid(1), MiB)
    acct.abort(oid(1))
    assert acct.state(oid(1)) is None and acct.alloc.used == 0
    sealed(acct, 2)
    with pytest.raises(InvalidTransition):
        acct.abort(oid(2))
    acct.validate()


# ------------------------------------------------------------------ eviction
def test_lru_eviction_of_secondaries_only():
    acct = StoreAccounting(4 * MiB)
    sealed(acct, 1, primary=False)
    sealed(acct, 2, primary=True)
    sealed(acct, 3, primary=False)
    sealed(acct, 4, primary=False)
    acct.add_reader(oid(1))                       # 1 is read: most recently used, and held
    acct.validate()
    region = acct.create(oid(5), MiB)             # full: evicts the least recently used free secondary (3)
    assert region is not None
    assert acct.state(oid(3)) is None and acct.state(oid(1)) is S.SEALED and acct.state(oid(2)) is S.PINNED
    assert acct.counters["evicted"] == 1
    acct.validate()
    with pytest.raises(InvalidTransition):
        acct.evict(oid(1))                        # being read
    with pytest.raises(InvalidTransition):
        acct.evict(oid(2))                        # primary (PINNED -> EVICTED is not allowed)


def test_create_waits_when_nothing_can_be_evicted():
    acct = StoreAccounting(2 * MiB)
    sealed(acct, 1)
    sealed(acct, 2)
    assert acct.create(oid(3), MiB) is None       # the caller waits (and spills)
    assert acct.state(oid(3)) is None
    acct.validate()


# ------------------------------------------------------------------ readers defer reuse
def test_freed_region_is_not_reused_while_read():
    acct = StoreAccounting(2 * MiB)
    sealed(acct, 1)
    region = acct.add_reader(oid(1))
    acct.free(oid(1))
    acct.validate()
    assert acct.alloc.used == MiB                 # still held by its reader
    second = acct.create(oid(2), MiB)
    assert second.offset != region.offset
    acct.remove_reader(region.offset)
    assert acct.alloc.used == MiB                 # now only object 2
    acct.validate()
    with pytest.raises(ValueError):
        acct.remove_reader(region.offset)


# ------------------------------------------------------------------ spilling
def test_spill_above_threshold_in_batches_and_restore():
    acct = StoreAccounting(10 * MiB, spill_threshold=0.8, min_spill_batch=2 * MiB)
    for n in range(8):
        sealed(acct, n)
    assert acct.maybe_spill() == []               # 8 of 10 MiB: at the threshold, not above
    sealed(acct, 8)
    ins = acct.maybe_spill()
    assert ins == [SpillBatch(((oid(0), 0, MiB), (oid(1), MiB, MiB)))]   # oldest first, >= min batch
    assert acct.state(oid(0)) is S.SPILLING
    assert acct.maybe_spill() == []               # one batch in flight at a time
    acct.validate()
    acct.add_reader(oid(0))                       # still readable while spilling
    acct.remove_reader(0)
    assert acct.spill_done("/spill/b0", {oid(0): 0, oid(1): MiB}) == []
    assert acct.state(oid(0)) is S.SPILLED and acct.alloc.used == 7 * MiB
    assert acct.stats()["spilled_bytes"] == 2 * MiB
    acct.validate()
    with pytest.raises(InvalidTransition):
        acct.add_reader(oid(0))                   # must be restored first
    region = acct.restore_start(oid(0))
    assert region is not None and acct.state(oid(0)) is S.RESTORING
    acct.validate()
    assert acct.restore_done(oid(0)) == []        # object 1 still lives in the file
    assert acct.state(oid(0)) is S.PINNED
    assert acct.free(oid(1)) == [DeleteSpillFile("/spill/b0")]
    acct.validate()


def test_spill_is_forced_when_a_create_does_not_fit():
    acct = StoreAccounting(4 * MiB, spill_threshold=0.99, min_spill_batch=MiB)
    sealed(acct, 1, size=2 * MiB)
    sealed(acct, 2, size=2 * MiB)
    assert acct.create(oid(3), 2 * MiB) is None
    (batch,) = acct.maybe_spill(need=2 * MiB)
    assert [o[0] for o in batch.objects] == [oid(1)]
    acct.spill_done("/b", {oid(1): 0})
    assert acct.create(oid(3), 2 * MiB) is not None
    acct.validate()


def test_spill_failure_pins_again_and_free_while_spilling():
    acct = StoreAccounting(4 * MiB, spill_threshold=0.1, min_spill_batch=MiB)
    sealed(acct, 1)
    sealed(acct, 2)
    (batch,) = acct.maybe_spill()
    acct.spill_failed([o[0] for o in batch.objects])
    assert acct.state(oid(1)) is S.PINNED
    acct.validate()
    (batch,) = acct.maybe_spill()
    for o in batch.objects:
        acct.free(o[0])                           # freed while being written
    assert acct.spill_done("/b", {o[0]: 0 for o in batch.objects}) == [DeleteSpillFile("/b")]
    acct.validate()


def test_restore_failure_and_free_of_spilled():
    acct = StoreAccounting(4 * MiB, spill_threshold=0.1, min_spill_batch=MiB)
    sealed(acct, 1)
    (batch,) = acct.maybe_spill()
    acct.spill_done("/b", {oid(1): 0})
    acct.restore_start(oid(1))
    acct.restore_failed(oid(1))
    assert acct.state(oid(1)) is S.SPILLED and acct.alloc.used == 0
    acct.validate()
    with pytest.raises(InvalidTransition):
        acct.seal(oid(1))
    assert acct.free(oid(1)) == [DeleteSpillFile("/b")]
    acct.validate()


def test_readers_block_spilling_and_eviction_choice():
    acct = StoreAccounting(4 * MiB, spill_threshold=0.1, min_spill_batch=MiB)
    sealed(acct, 1)
    acct.add_reader(oid(1))
    assert acct.maybe_spill() == []               # read objects are not picked: spilling frees nothing
    assert not acct.can_make_room()


# ------------------------------------------------------------------ stats
def test_stats_report_bytes_and_largest_with_call_site():
    acct = StoreAccounting(16 * MiB, spill_threshold=0.5, min_spill_batch=MiB)
    sealed(acct, 1, size=3 * MiB)
    sealed(acct, 2, size=MiB, primary=False)
    st = acct.stats()
    assert st["primary_bytes"] == 3 * MiB and st["secondary_bytes"] == MiB and st["num_objects"] == 2
    assert st["largest"][0]["call_site"] == "f1" and st["largest"][0]["size"] == 3 * MiB


def test_owner_lookup():
    acct = StoreAccounting(16 * MiB)
    sealed(acct, 1)
    sealed(acct, 2, primary=False)
    assert acct.objects_of_owner("driver:1") == [oid(1)]
