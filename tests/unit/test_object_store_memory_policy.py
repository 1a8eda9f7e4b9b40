"""The store's memory policy: read-lease revokes and admission of waiting requests, no sockets or clocks.

Every case is worked by hand on a small store of 1 MiB objects: what is revoked, who is admitted,
who fails, and why.
"""
import pytest

from strato.exceptions import InvalidTransition, InvariantError, ObjectLostError, ObjectStoreFullError
from strato.runtime.object_store.server.accounting import ObjectExists, SpillBatch, StoreAccounting
from strato.runtime.object_store.server.memory_policy import (
    WAITER_TRANSITIONS, Admit, Fail, MemoryPolicy, NotAReader, Revoke, WaiterState)

MiB = 1 << 20
W = WaiterState
A, B = "client-a", "client-b"          # clients are opaque keys to the policy


def oid(n: int) -> bytes:
    return n.to_bytes(20, "big")


def store(capacity_mib=8, threshold=1.0, timeout=30.0):
    acct = StoreAccounting(capacity_mib * MiB, spill_threshold=threshold, min_spill_batch=MiB)
    return MemoryPolicy(acct, full_timeout_s=timeout, node="node-1", spill_dir="/spill")


def put(p, n, size=MiB, primary=True):
    """A sealed object: pinned for its owner (primary) or an evictable copy (secondary)."""
    p.acct.create(oid(n), size, primary=primary)
    p.acct.seal(oid(n))
    return p.acct.objects[oid(n)].region.offset


def check(p):
    p.acct.validate()
    p.validate()


def kinds(instructions):
    return [type(i).__name__ for i in instructions]


# ------------------------------------------------------------------ leases
def test_a_read_is_a_lease_only_for_a_client_that_listens_for_revokes():
    p = store()
    off = put(p, 1)
    assert p.read(A, oid(1), listening=True) == (p.acct.regions[off], True)
    assert p.read(B, oid(1), listening=False) == (p.acct.regions[off], False)
    assert p.leases == {off: {A: oid(1)}}
    assert p.acct.regions[off].readers == 2
    check(p)


def test_a_lease_ends_with_the_clients_last_read_of_the_region():
    p = store()
    off = put(p, 1)
    p.read(A, oid(1), listening=True)
    p.read(A, oid(1), listening=True)
    assert p.release(A, off) == []
    assert p.leases == {off: {A: oid(1)}}          # one read left: still leased
    check(p)
    assert p.release(A, off) == []
    assert p.leases == {} and not p.reads[A] and p.acct.regions[off].readers == 0
    check(p)


@pytest.mark.parametrize("who,reads", [(A, 0), (B, 1)])
def test_release_of_a_region_the_client_does_not_read_is_refused(who, reads):
    p = store()
    off = put(p, 1)
    if reads:
        p.read(A, oid(1), listening=True)
    with pytest.raises(NotAReader):
        p.release(who, off)
    assert p.acct.regions[off].readers == reads      # nothing changed
    check(p)


def test_freeing_an_object_revokes_every_lease_on_its_region_once():
    p = store()
    off1, off2 = put(p, 1), put(p, 2)
    p.read(A, oid(1), listening=True)
    p.read(B, oid(1), listening=True)
    p.read(A, oid(2), listening=True)
    assert p.freeing(oid(1)) == [Revoke(A, off1, oid(1)), Revoke(B, off1, oid(1))]
    assert p.leases == {off2: {A: oid(2)}}           # the other object's lease stays
    assert p.freeing(oid(1)) == []                   # a revoked lease is forgotten: never revoked twice
    assert p.freeing(oid(3)) == []                   # unknown object
    p.acct.free(oid(1))
    check(p)                                         # the region waits for its two readers
    assert p.acct.regions[off1].oid is None and p.acct.regions[off1].readers == 2


def test_freeing_an_object_read_without_lease_revokes_nothing():
    p = store()
    put(p, 1)
    p.read(B, oid(1), listening=False)
    assert p.freeing(oid(1)) == []


def test_a_lease_on_a_region_its_object_left_by_spilling_is_revoked():
    """Read while being spilled: once the batch is on disk only the readers hold the region."""
    p = store(capacity_mib=3, threshold=1.0)
    off1, _, off3 = put(p, 1), put(p, 2), put(p, 3)
    assert p.reserve("create", oid(9), MiB) is None
    waiter, (batch,) = p.wait("create", oid(9), MiB, now=0.0)   # no room: a batch is spilled
    assert isinstance(batch, SpillBatch) and [o[0] for o in batch.objects] == [oid(1)]
    p.cancel(waiter)                                 # (nothing waits: memory is not short)
    p.read(A, oid(1), listening=True)                # readable while SPILLING
    p.read(A, oid(3), listening=True)
    assert p.spill_done("/spill/batch-0.bin", {oid(1): 0}) == [Revoke(A, off1, oid(1))]
    assert p.leases == {off3: {A: oid(3)}}           # oid(3) is still in its region
    assert p.acct.regions[off1].oid is None and p.acct.regions[off1].readers == 1
    check(p)
    assert p.revoke_detached() == []


def test_a_lease_on_a_region_whose_object_was_freed_is_revoked_at_the_next_look():
    p = store()
    off1, off2 = put(p, 1), put(p, 2)
    p.read(A, oid(1), listening=True)
    p.read(A, oid(2), listening=True)
    p.acct.free(oid(1))                              # freed without `freeing` (nothing revoked then)
    assert p.revoke_detached() == [Revoke(A, off1, oid(1))]
    assert p.leases == {off2: {A: oid(2)}}
    check(p)


def test_memory_short_revokes_every_lease_strictly_above_the_threshold():
    p = store(capacity_mib=10, threshold=0.8)        # threshold: 8 MiB
    offs = [put(p, n) for n in range(8)]             # exactly 8 MiB in use
    for n in range(8):
        p.read(A if n % 2 else B, oid(n), listening=True)
    assert p.relieve() == []                         # at the threshold, not above: leases kept
    assert len(p.leases) == 8
    out = p.relieve(need=1)                          # one more byte would cross it
    assert kinds(out) == ["Revoke"] * 8              # every object is read: nothing to spill
    assert {(r.client, r.offset) for r in out} == {(A if n % 2 else B, offs[n]) for n in range(8)}
    assert p.leases == {}
    check(p)


def test_requests_waiting_for_memory_revoke_every_lease_below_the_threshold():
    p = store(capacity_mib=2, threshold=1.0)
    off1, off2 = put(p, 1, primary=False), put(p, 2, primary=False)
    p.read(A, oid(1), listening=True)
    p.read(B, oid(2), listening=False)               # a plain read: nothing to revoke
    assert p.relieve() == []                         # 2 of 2 MiB: not above a threshold of 100 %
    assert p.reserve("create", oid(9), MiB) is None  # both copies are read: none can be evicted
    waiter, out = p.wait("create", oid(9), MiB, now=0.0)
    assert out == [Revoke(A, off1, oid(1))]
    assert waiter.state is W.WAITING and list(p.waiting) == [waiter]
    p.read(A, oid(2), listening=True)                # a new lease while the request waits...
    assert p.relieve() == [Revoke(A, off2, oid(2))]  # ...is revoked by the next look, at 100 % too
    out = p.release(A, off1)                         # the first revoked lease given back
    assert out == [Admit(waiter, p.acct.regions[off1])]   # its copy evicted, the region reused
    assert p.acct.regions[off1].oid == oid(9) and waiter.state is W.ADMITTED
    check(p)


def test_a_client_gone_releases_its_reads_and_leases_only():
    p = store()
    off1, off2 = put(p, 1), put(p, 2)
    p.read(A, oid(1), listening=True)
    p.read(A, oid(1), listening=True)
    p.read(A, oid(2), listening=True)
    p.read(B, oid(2), listening=True)
    p.client_gone(A)
    assert p.leases == {off2: {B: oid(2)}}
    assert p.acct.regions[off1].readers == 0 and p.acct.regions[off2].readers == 1
    assert A not in p.reads
    check(p)
    p.client_gone(A)                                 # twice: nothing left to do
    check(p)


def test_a_stopped_store_revokes_and_spills_nothing():
    p = store(capacity_mib=2, threshold=0.5)
    put(p, 1)
    put(p, 2)
    p.read(A, oid(1), listening=True)
    p.stop()
    assert p.relieve(need=MiB) == []
    assert p.leases


# ------------------------------------------------------------------ admission
def full_of_read_copies(p, n, first=1):
    """n secondary copies of 1 MiB, each read by B without a lease: none evictable until released."""
    ids = range(first, first + n)
    offs = [put(p, i, primary=False) for i in ids]
    for i in ids:
        p.read(B, oid(i), listening=False)
    return offs


def test_a_request_that_fits_gets_a_region_at_once():
    p = store(capacity_mib=4)
    region = p.reserve("create", oid(1), 3 * MiB, primary=True, owner="o:1", call_site="x.py:1", now=5.0)
    assert region.offset == 0 and p.acct.objects[oid(1)].owner == "o:1"
    assert not p.waiting


def test_an_object_larger_than_the_store_is_refused_with_what_to_do():
    p = store(capacity_mib=4)
    with pytest.raises(ObjectStoreFullError, match="larger than this node's whole object store.*"
                                                   "object_store_memory"):
        p.reserve("create", oid(1), 5 * MiB)


def test_waiting_requests_are_admitted_in_arrival_order_each_that_fits():
    """4 MiB, all read. Waiting: big (2 MiB) then small (1 MiB). One copy let go: the small one is
    admitted past the big one, which keeps its place; two more let go: the big one is admitted."""
    p = store(capacity_mib=4)
    o1, o2, o3, o4 = full_of_read_copies(p, 4)
    big, _ = p.wait("create", oid(10), 2 * MiB, now=0.0)
    small, _ = p.wait("create", oid(11), MiB, now=0.0)
    assert p.release(B, o1) == [Admit(small, p.acct.regions[o1])]
    assert list(p.waiting) == [big] and big.state is W.WAITING
    assert p.release(B, o2) == []                    # 1 MiB free: the big one still waits
    assert p.release(B, o3) == [Admit(big, p.acct.regions[o2])]   # o2 and o3 side by side: 2 MiB
    assert p.acct.regions[o2].size == 2 * MiB and not p.waiting
    check(p)


def test_two_creates_of_one_id_wait_the_second_is_told_it_exists():
    p = store(capacity_mib=1)
    (o1,) = full_of_read_copies(p, 1)
    first, _ = p.wait("create", oid(5), MiB, now=0.0)
    second, _ = p.wait("create", oid(5), MiB, now=0.0)
    out = p.release(B, o1)
    assert kinds(out) == ["Admit", "Fail"] and out[0].waiter is first and out[1].waiter is second
    assert isinstance(out[1].error, ObjectExists) and second.state is W.FAILED
    check(p)


def test_a_waiting_restore_of_an_object_freed_meanwhile_fails_as_lost():
    p = store(capacity_mib=2, threshold=0.1)
    put(p, 1)
    assert kinds(p.relieve()) == ["SpillBatch"]
    assert p.spill_done("/spill/b0.bin", {oid(1): 0}) == []     # oid(1) on disk only
    full_of_read_copies(p, 2, first=2)
    assert p.reserve("restore", oid(1), MiB) is None
    restore, _ = p.wait("restore", oid(1), MiB, now=0.0)
    p.acct.free(oid(1))                               # its owner let go while it waited
    out = p.retry()
    assert kinds(out) == ["Fail"] and isinstance(out[0].error, ObjectLostError)
    assert "was freed" in str(out[0].error) and not p.waiting
    check(p)


def test_a_request_fails_when_its_deadline_passes_and_not_before():
    p = store(capacity_mib=1, timeout=30.0)
    full_of_read_copies(p, 1)
    early, _ = p.wait("create", oid(7), MiB, now=100.0)
    late, _ = p.wait("create", oid(8), MiB, now=110.0)
    assert early.deadline == 130.0
    assert p.expire(129.9) == []
    out = p.expire(130.0)                            # at the deadline: fails
    assert [f.waiter for f in out] == [early] and isinstance(out[0].error, ObjectStoreFullError)
    msg = str(out[0].error)
    assert "node node-1 is full: 1.0 MiB requested" in msg and "within 30 s" in msg
    assert list(p.waiting) == [late] and early.state is W.FAILED
    check(p)


def stuck_store():
    """2 MiB of pinned primaries, nothing read; a 1 MiB create waits and a spill batch starts."""
    p = store(capacity_mib=2, threshold=1.0)
    put(p, 1)
    put(p, 2)
    assert p.reserve("create", oid(9), MiB) is None
    waiter, out = p.wait("create", oid(9), MiB, now=0.0)
    assert kinds(out) == ["SpillBatch"]              # to make room; nothing fails while it runs
    return p, waiter, out[0]


def test_when_memory_and_disk_are_both_full_every_waiter_fails_at_once():
    p, waiter, batch = stuck_store()
    out = p.spill_failed([o[0] for o in batch.objects], "OSError: [Errno 28] No space left on device")
    assert [type(i) for i in out] == [Fail] and out[0].waiter is waiter
    assert "spilling to /spill failed (OSError: [Errno 28] No space left on device)" in str(out[0].error)
    assert not p.waiting and p.acct.objects[oid(1)].state.name == "PINNED"
    check(p)


def test_a_reader_that_may_still_let_go_keeps_the_waiters_waiting():
    p, waiter, batch = stuck_store()
    p.read(A, oid(2), listening=False)
    assert p.spill_failed([o[0] for o in batch.objects], "OSError: disk full") == []
    assert list(p.waiting) == [waiter]               # the deadline decides
    check(p)


def test_without_a_disk_error_waiters_wait_for_their_deadline():
    """Memory full of objects still being written: nothing to evict, spill or release, but
    writing to disk has not failed -- the writers will seal and their objects may spill."""
    p = store(capacity_mib=2)
    p.acct.create(oid(1), MiB)
    p.acct.create(oid(2), MiB)
    waiter, out = p.wait("create", oid(9), MiB, now=0.0)
    assert out == [] and p.stuck() == [] and list(p.waiting) == [waiter]
    check(p)


def test_a_spill_that_succeeds_clears_the_disk_error_and_admits():
    p, waiter, batch = stuck_store()
    p.spill_failed([o[0] for o in batch.objects], "OSError: disk full")   # fails the first waiter
    second, out = p.wait("create", oid(10), MiB, now=1.0)
    (batch,) = out                                   # tries to spill again
    out = p.spill_done("/spill/b1.bin", {o[0]: 0 for o in batch.objects})
    assert p.disk_error == ""
    assert [type(i) for i in out] == [Admit] and out[0].waiter is second
    check(p)


def test_a_cancelled_request_leaves_the_queue_and_takes_no_memory():
    p = store(capacity_mib=1)
    (o1,) = full_of_read_copies(p, 1)
    gone, _ = p.wait("create", oid(5), MiB, now=0.0)
    assert p.cancel(gone) is True and gone.state is W.CANCELLED and not p.waiting
    assert p.cancel(gone) is False                   # answered already: nothing changes
    assert p.release(B, o1) == []
    assert p.acct.state(oid(5)) is None              # nobody took the memory
    check(p)


def test_cancelling_an_admitted_request_changes_nothing():
    p = store(capacity_mib=1)
    (o1,) = full_of_read_copies(p, 1)
    waiter, _ = p.wait("create", oid(5), MiB, now=0.0)
    p.release(B, o1)
    assert p.cancel(waiter) is False and waiter.state is W.ADMITTED


# ------------------------------------------------------------------ lifecycle, story, invariants
@pytest.mark.parametrize("old,new", [(o, n) for o in W for n in W if n not in WAITER_TRANSITIONS[o]])
def test_every_invalid_waiter_transition_raises(old, new):
    p = store(capacity_mib=1)
    full_of_read_copies(p, 1)
    waiter, _ = p.wait("create", oid(5), MiB, now=0.0)
    waiter.state = old
    with pytest.raises(InvalidTransition):
        waiter.set_state(new)


def test_answered_waiter_states_lead_nowhere():
    assert set(WAITER_TRANSITIONS) == set(W)
    assert {s for s, targets in WAITER_TRANSITIONS.items() if not targets} == {W.ADMITTED, W.FAILED, W.CANCELLED}


def test_the_story_of_an_object_tells_its_revokes_and_admission():
    p = store(capacity_mib=1)
    off = put(p, 2, primary=False)
    p.read(A, oid(2), listening=True)
    waiter, _ = p.wait("create", oid(5), MiB, now=0.0)          # waiting: the lease is revoked
    p.release(A, off)                                            # given back: the create admitted
    assert p.story(oid(2)) == [("revoke", oid(2), "memory short", A)]
    assert [e[0] for e in p.story(oid(5))] == ["wait", "admit"]
    assert [e[0] for e in p.story(A)] == ["revoke"]


def test_validate_names_the_rule_a_broken_state_breaks():
    p = store()
    off = put(p, 1)
    p.read(A, oid(1), listening=True)
    p.reads[A][off] = 0                              # a lease whose reads were lost
    with pytest.raises(InvariantError, match="a lease is held by a reader of its region"):
        p.validate()
    p = store()
    off = put(p, 1)
    p.read(A, oid(1), listening=False)
    p.reads[A][off] = 2                              # more reads than the region counts
    with pytest.raises(InvariantError, match="a region counts every client's reads of it"):
        p.validate()
