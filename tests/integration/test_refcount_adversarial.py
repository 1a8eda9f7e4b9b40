"""Adversarial tests of distributed reference counting and object store read leases.

Each test checks one of two invariants on a real cluster:
  * an object is never freed while some process still holds a ref to it, and is freed
    (the store empties) once nobody does;
  * a value obtained by get never sees its memory reused while a view of it is alive, and
    the memory comes back once nothing views it.
"""
import os
import threading
import time

import numpy as np
import pytest

import strato
from strato._testing import (
    node_store_stats, num_objects, process_gone, settle, wait_collected, wait_for, wait_store_empty)
from strato.exceptions import ActorDiedError, TaskCancelledError, WorkerCrashedError

CLUSTER_KWARGS = {"num_cpus": 2, "object_store_memory": 160 << 20}
MiB = 1 << 20


def used_bytes():
    return node_store_stats()["used"]


def big(value, mib=2):
    return np.full(mib * MiB, value, dtype=np.uint8)


@pytest.fixture(autouse=True)
def _starts_empty(cluster):
    """Every test starts on an empty store: what an earlier test left behind is a leak."""
    assert wait_collected(lambda: num_objects() == 0 and used_bytes() == 0, 10), node_store_stats()
    yield


def wait_memory_returned(timeout=15.0):
    """No object left and no region still held by a reader."""
    return wait_collected(lambda: num_objects() == 0 and used_bytes() == 0, timeout)


def churn(n=24, mib=8):
    """Put more than the store holds, keeping every ref until the end: the store reuses any
    region it may, spills and restores."""
    held = []
    for i in range(n):
        held.append(strato.put(np.full(mib * MiB, 0xEE, dtype=np.uint8)))
    assert int(strato.get(held[0])[0]) == 0xEE      # restored from disk
    del held


# --------------------------------------------------------------------------- read leases

def test_a_slice_kept_after_its_base_and_ref_went_is_not_overwritten(cluster):
    ref = strato.put(big(7, mib=8))
    arr = strato.get(ref)
    part = arr[1 * MiB:2 * MiB]
    mv = memoryview(arr)[3 * MiB:4 * MiB]
    chain = memoryview(mv)[10:20]
    del arr, ref
    churn()
    assert np.all(part == 7)
    assert bytes(chain) == b"\x07" * 10
    assert np.frombuffer(mv, dtype=np.uint8).min() == 7
    del part, mv, chain
    assert wait_memory_returned(), node_store_stats()


def test_arrays_handed_to_other_threads_stay_valid(cluster):
    ref = strato.put(big(9, mib=8))
    arr = strato.get(ref)
    seen, errors = [], []
    start = threading.Event()

    def reader(a):
        start.wait()
        for _ in range(20):
            if a.min() != 9 or a.max() != 9:
                errors.append("corrupt")
            time.sleep(0.02)
        seen.append(int(a[0]))

    threads = [threading.Thread(target=reader, args=(arr[i * MiB:(i + 1) * MiB],)) for i in range(4)]
    for t in threads:
        t.start()
    del arr, ref
    start.set()
    churn()
    for t in threads:
        t.join()
    assert not errors and seen == [9] * 4
    del threads
    assert wait_memory_returned(), node_store_stats()


def test_many_threads_get_the_same_object_at_once_under_memory_pressure(cluster):
    """Gets of one object from several threads, while puts keep the store above its spill
    threshold (leases are revoked all the time): every value is intact, and once all of them
    are gone the store gives every byte back."""
    refs = [strato.put(big(i + 1, mib=4)) for i in range(6)]
    stop = threading.Event()
    errors = []

    def getter(k):
        while not stop.is_set():
            for i, r in enumerate(refs):
                v = strato.get(r)
                if v[0] != i + 1 or v[-1] != i + 1:
                    errors.append((k, i, int(v[0])))
                del v

    def churner():
        while not stop.is_set():
            churn(4, 12)

    threads = [threading.Thread(target=getter, args=(k,)) for k in range(4)] + [threading.Thread(target=churner)]
    for t in threads:
        t.start()
    time.sleep(6)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    del refs
    assert wait_memory_returned(), node_store_stats()


def test_get_racing_with_the_free_of_the_object(cluster):
    for round_ in range(10):
        ref = strato.put(big(round_ + 1, mib=4))
        got, errors = [], []

        def getter(r=ref):
            try:
                got.append(strato.get(r))
            except Exception as exc:     # not expected: the thread holds the ref
                errors.append(exc)

        t = threading.Thread(target=getter)
        t.start()
        del ref
        t.join()
        churn(3, 12)
        assert not errors
        assert got[0].min() == got[0].max() == round_ + 1
        del got, getter, t
    assert wait_memory_returned(), node_store_stats()


@strato.remote
class ValueKeeper:
    def __init__(self):
        self.values = []

    def keep_value(self, arr):
        self.values.append(arr)          # the array itself (a view of the store), not its ref
        return len(self.values)

    def check(self):
        return [(int(v.min()), int(v.max())) for v in self.values]

    def drop(self):
        self.values = []
        return 0


def test_an_actor_keeping_an_argument_array_sees_it_intact_after_the_object_is_freed(cluster):
    keeper = ValueKeeper.remote()
    ref = strato.put(big(5, mib=8))
    assert strato.get(keeper.keep_value.remote(ref)) == 1
    del ref
    assert wait_store_empty()
    churn()
    assert strato.get(keeper.check.remote()) == [(5, 5)]
    strato.get(keeper.drop.remote())
    assert wait_memory_returned(), node_store_stats()
    strato.kill(keeper)




# --------------------------------------------------------------------------- borrowing

@strato.remote
class Keeper:
    def __init__(self):
        self.refs = []

    def keep(self, refs):
        self.refs.extend(refs)
        return len(self.refs)

    def sums(self):
        return [int(a[0]) for a in strato.get(self.refs)]

    def give(self):
        return list(self.refs)

    def drop(self):
        self.refs = []
        return 0

    def die(self):
        os._exit(1)


@strato.remote
def via_subtask(keeper, refs):
    return strato.get(to_keeper.remote(keeper, refs))


@strato.remote
def to_keeper(keeper, refs):
    return strato.get(keeper.keep.remote(refs))


def test_a_ref_passed_driver_task_subtask_actor_lives_while_the_actor_holds_it(cluster):
    keeper = Keeper.remote()
    ref = strato.put(big(11))
    out = via_subtask.remote(keeper, [ref])
    del ref                                  # dropped right after submission
    assert strato.get(out) == 1
    del out
    settle()
    assert num_objects() == 1
    assert strato.get(keeper.sums.remote()) == [11]
    strato.get(keeper.drop.remote())
    assert wait_store_empty()
    strato.kill(keeper)


@strato.remote
def hand_over_and_vanish(keeper, refs):
    keeper.keep.remote(refs)                 # not waited for
    return 0


def test_a_task_that_hands_a_ref_to_an_actor_without_waiting(cluster):
    keeper = Keeper.remote()
    ref = strato.put(big(12))
    assert strato.get(hand_over_and_vanish.remote(keeper, [ref])) == 0
    del ref
    settle(1.0)
    assert strato.get(keeper.sums.remote()) == [12]
    strato.get(keeper.drop.remote())
    assert wait_store_empty()
    strato.kill(keeper)


@strato.remote(max_retries=2)
def die_once_then_keep(keeper, refs, marker):
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return strato.get(keeper.keep.remote(refs))


def test_a_retried_task_after_its_worker_died_hands_the_ref_on(cluster, tmp_path):
    keeper = Keeper.remote()
    ref = strato.put(big(13))
    out = die_once_then_keep.remote(keeper, [ref], str(tmp_path / "died"))
    del ref
    assert strato.get(out, timeout=30) == 1
    del out
    settle()
    assert strato.get(keeper.sums.remote()) == [13]
    strato.get(keeper.drop.remote())
    assert wait_store_empty()
    strato.kill(keeper)


@strato.remote(max_retries=0)
def die_holding(refs):
    os._exit(1)


@strato.remote
def wait_forever(refs):
    time.sleep(60)


def test_failed_and_cancelled_tasks_release_their_arguments(cluster):
    ref = strato.put(big(14))
    dead = die_holding.remote([ref])
    running = wait_forever.remote([ref])
    queued = [wait_forever.remote([ref]) for _ in range(3)]
    time.sleep(1.0)
    for r in [running] + queued:
        strato.cancel(r)
    with pytest.raises(WorkerCrashedError):
        strato.get(dead, timeout=20)
    for r in [running] + queued:
        with pytest.raises(TaskCancelledError):
            strato.get(r, timeout=20)
    assert int(strato.get(ref)[0]) == 14
    del ref, dead, running, queued
    assert wait_store_empty()


@strato.remote(max_concurrency=4)
class ThreadedKeeper:
    def __init__(self):
        self.refs = []
        self.lock = threading.Lock()

    def keep(self, refs):
        time.sleep(0.05)
        with self.lock:
            self.refs.extend(refs)
        return 1

    def sums(self):
        with self.lock:
            refs = list(self.refs)
        return sorted(int(a[0]) for a in strato.get(refs))

    def drop(self):
        with self.lock:
            self.refs = []
        return 0


@strato.remote
class AsyncKeeper:
    def __init__(self):
        self.refs = []

    async def keep_later(self, refs):
        import asyncio

        async def later():
            await asyncio.sleep(0.5)
            self.refs.extend(refs)
        asyncio.get_running_loop().create_task(later())   # the call returns before it stores
        return 1

    async def sums(self):
        import asyncio
        return sorted([int((await r)[0]) for r in self.refs])

    async def drop(self):
        self.refs = []
        return 0


def test_threaded_and_async_actors_keeping_refs_from_concurrent_calls(cluster):
    tk = ThreadedKeeper.remote()
    ak = AsyncKeeper.remote()
    refs = [strato.put(big(20 + i)) for i in range(6)]
    outs = [tk.keep.remote([r]) for r in refs] + [ak.keep_later.remote([r]) for r in refs]
    del refs
    assert strato.get(outs) == [1] * 12
    del outs
    settle(1.0)
    assert num_objects() == 6
    assert strato.get(tk.sums.remote()) == list(range(20, 26))
    assert strato.get(ak.sums.remote()) == list(range(20, 26))
    strato.get(tk.drop.remote())
    settle()
    assert num_objects() == 6
    strato.get(ak.drop.remote())
    assert wait_store_empty()
    strato.kill(tk)
    strato.kill(ak)


def test_a_borrower_that_dies_by_itself_releases_what_it_held(cluster):
    keeper = Keeper.remote()
    ref = strato.put(big(15))
    strato.get(keeper.keep.remote([ref]))
    del ref
    settle()
    assert num_objects() == 1
    with pytest.raises(ActorDiedError):
        strato.get(keeper.die.remote(), timeout=20)
    assert wait_store_empty()


def test_one_ref_nested_many_times_and_deep_nesting(cluster):
    pad = np.zeros(200 * 1024, dtype=np.uint8)          # every level large enough for the store
    inner = strato.put(big(16))
    many = strato.put([inner] * 50 + [{"x": inner, "y": (inner, [inner])}, pad])
    chain = inner
    for _ in range(25):
        chain = strato.put([chain, pad])
    del inner
    back = echo.remote([many, chain])
    del many, chain
    m, c = strato.get(back)
    del back
    settle()
    assert num_objects() == 27
    vals = strato.get(m)
    assert len({r.binary() for r in vals[:50]}) == 1
    del vals, m
    settle()
    assert num_objects() == 26
    for _ in range(25):
        c, _pad = strato.get(c)
    assert int(strato.get(c)[0]) == 16
    del c, _pad
    assert wait_store_empty()


@strato.remote
def echo(x):
    return x


@strato.remote
class Maker:
    def make(self, value):
        return [strato.put(big(value))]


@strato.remote
def relay_from(maker, value):
    (inner,) = strato.get(maker.make.remote(value))
    return [inner]


def test_a_return_nesting_a_ref_owned_by_a_third_process(cluster):
    maker = Maker.remote()
    out = relay_from.remote(maker, 17)
    strato.wait([out])
    settle()
    assert num_objects() == 1
    (inner,) = strato.get(out)
    del out
    settle()
    assert int(strato.get(inner)[0]) == 17
    del inner
    assert wait_store_empty()
    strato.kill(maker)


def test_a_ref_round_trips_to_its_owner_through_an_actor_after_the_owner_dropped_it(cluster):
    keeper = Keeper.remote()
    ref = strato.put(big(18))
    strato.get(keeper.keep.remote([ref]))
    del ref
    settle()
    back = keeper.give.remote()
    strato.get(keeper.drop.remote())          # the actor lets go while the result is in flight
    (again,) = strato.get(back)
    del back
    settle()
    assert int(strato.get(again)[0]) == 18
    del again
    assert wait_store_empty()
    strato.kill(keeper)


# --------------------------------------------------------------------------- actor handles

@strato.remote
class Pinger:
    def pid(self, delay=0.0):
        time.sleep(delay)
        return os.getpid()


@strato.remote
class HandleKeeper:
    def __init__(self):
        self.handles = []

    def keep(self, handles):
        self.handles.extend(handles)
        return len(self.handles)

    def call(self):
        return strato.get([h.pid.remote() for h in self.handles])

    def drop(self):
        self.handles = []
        return 0


def test_an_actor_whose_handle_was_dropped_right_after_a_call_finishes_it_then_ends(cluster):
    ref = Pinger.remote().pid.remote(0.5)      # the handle goes at once; the call holds the actor
    pid = strato.get(ref, timeout=30)
    assert wait_for(lambda: process_gone(pid), 15)


def test_an_actor_held_only_by_another_actor_lives_until_that_one_lets_go(cluster):
    pinger = Pinger.remote()
    pid = strato.get(pinger.pid.remote())
    keeper = HandleKeeper.remote()
    assert strato.get(keeper.keep.remote([pinger])) == 1
    del pinger
    settle(1.0)
    assert strato.get(keeper.call.remote(), timeout=30) == [pid]
    strato.get(keeper.drop.remote())
    assert wait_for(lambda: process_gone(pid), 15)
    strato.kill(keeper)


@strato.remote
def keep_handle_in_put(handle):
    return [strato.put([handle])]             # a put owned by this worker nests the handle


def test_an_actor_handle_nested_in_a_worker_owned_put_returned_to_the_driver(cluster):
    pinger = Pinger.remote()
    pid = strato.get(pinger.pid.remote())
    out = keep_handle_in_put.remote(pinger)
    del pinger
    (outer,) = strato.get(out)
    del out
    settle(1.0)
    (handle,) = strato.get(outer)
    del outer
    settle()
    assert strato.get(handle.pid.remote(), timeout=30) == pid
    del handle
    assert wait_for(lambda: process_gone(pid), 15)


# --------------------------------------------------------------------------- found bugs

@strato.remote
def slow_make(value, delay, mib=2):
    time.sleep(delay)
    return np.full(mib * MiB, value, dtype=np.uint8)


def test_large_return_of_a_task_whose_ref_was_dropped_at_once_is_freed(cluster):
    """A caller that drops the return ref before the task finishes: the store copy the
    worker wrote for it must not stay behind."""
    refs = [slow_make.remote(i, 0.3) for i in range(3)]
    del refs
    time.sleep(1.5)                     # the tasks finish after their refs went
    assert wait_store_empty(8), node_store_stats()["largest"]


@strato.remote
class RacingReader:
    """Reads one borrowed object from two threads, with both replies held back until the
    store has revoked the lease (see the test below)."""

    def race(self, refs):
        from strato import _context
        from strato.runtime.protocol.messages import StoreGet
        client = _context.worker().node_store.client
        (ref,) = refs
        oid = ref.binary()
        orig_call = client.call
        got = {k: threading.Event() for k in "AB"}
        go = {k: threading.Event() for k in "AB"}
        values = {}

        def reader(k):
            threading.current_thread().k = k
            values[k] = strato.get(ref)

        def held_call(kind, *args):
            result = orig_call(kind, *args)
            k = getattr(threading.current_thread(), "k", None)
            if kind is StoreGet and k is not None:
                got[k].set()
                go[k].wait(10)
            return result

        client.call = held_call
        try:
            ta = threading.Thread(target=reader, args=("A",))
            ta.start()
            assert got["A"].wait(10)
            tb = threading.Thread(target=reader, args=("B",))
            tb.start()
            assert got["B"].wait(10)
            # Memory pressure: the store revokes every lease while both gets are in flight.
            pressure = [strato.put(np.zeros(8 * MiB, dtype=np.uint8)) for _ in range(17)]
            revoked_early = wait_for(lambda: any(o == oid for _, o in client._early), 10, interval=0.01)
            go["A"].set()
            ta.join(10)
            go["B"].set()
            tb.join(10)
        finally:
            client.call = orig_call
            for e in go.values():
                e.set()
        ok = int(values["A"].min()), int(values["B"].min())
        del pressure, values
        kept = oid in client._leases and not client._leases[oid].revoked
        return revoked_early, ok, kept

    def ping(self):
        return 1


def test_two_gets_of_one_object_in_flight_when_its_lease_is_revoked(cluster):
    """A borrower gets the same object from two threads; the store grants both reads (it keeps
    one lease per client and region), then revokes that lease under memory pressure before
    either reply is read. The revoke covers both reads, so the borrower must keep neither as a
    live lease: a lease the store forgot is never revoked again, and the region stays read
    after the object is freed, for as long as the borrower lives."""
    reader = RacingReader.remote()
    ref = strato.put(big(3, mib=4))
    revoked_early, values, kept_lease = strato.get(reader.race.remote([ref]))
    assert revoked_early, "the scenario did not happen (no revoke while the gets were in flight)"
    assert values == (3, 3)
    del ref
    assert wait_store_empty()
    try:
        assert wait_memory_returned(8), (f"kept a live lease after the revoke: {kept_lease}", node_store_stats())
    finally:
        strato.kill(reader)


class _DieWhilePickled:
    """Kills its worker while being serialized as a return value (first attempt only)."""

    def __init__(self, die):
        self.die = die

    def __reduce__(self):
        if self.die:
            time.sleep(0.5)            # the return before this one is written and sealed by now
            os._exit(1)
        return (int, (0,))


@strato.remote(max_retries=1, num_returns=2)
def nest_then_die_once(marker):
    first = not os.path.exists(marker)
    if first:
        open(marker, "w").close()
    inner = strato.put(big(1 if first else 2))
    return [inner, np.zeros(256 * 1024, dtype=np.uint8)], _DieWhilePickled(first)


def test_a_retried_task_whose_first_attempt_wrote_a_large_return_nesting_a_ref(cluster, tmp_path):
    """Attempt 1 writes return 0 (large, nesting a ref it owns) and dies writing return 1.
    Attempt 2's return 0 nests its own ref, and that is the one the caller holds -- but the
    store already has an object of that id, so the caller reads attempt 1's value, whose ref's
    owner is dead."""
    outer, _ = nest_then_die_once.remote(str(tmp_path / "died"))
    inner, _pad = strato.get(outer, timeout=30)
    try:
        assert int(strato.get(inner, timeout=10)[0]) == 2
    finally:
        del inner, _pad, outer
