"""`strato.util.ActorPool` and `strato.util.Queue` as Ray's tests use them.

ActorPool.map submits every value at once (queued until an actor is free)
and drops what earlier submissions had not returned; a timed-out get_next
with ignore_if_timedout skips that call. Queue has Ray's full surface:
size/qsize/empty/full, put/get with block and timeout, the *_nowait and
batch forms, async forms, and shutdown(force, grace_period_s).
"""
import asyncio
import time

import pytest

import strato
from strato.util import ActorPool, Queue
from strato.util.queue import Empty, Full

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


@strato.remote(num_cpus=0)
class Doubler:
    def __init__(self):
        self.calls = 0

    def double(self, v):
        self.calls += 1
        return 2 * v

    def sleep_then(self, seconds, v):
        time.sleep(seconds)
        return v

    def count(self):
        return self.calls


@pytest.fixture(scope="module")
def actors():
    pool = [Doubler.remote() for _ in range(2)]
    yield pool
    for a in pool:
        strato.kill(a)


def test_map_submits_everything_at_once(actors):
    pool = ActorPool(actors)
    before = sum(strato.get([a.count.remote() for a in actors], timeout=30))
    results = pool.map(lambda a, v: a.double.remote(v), [1, 2])     # not iterated yet
    assert strato.wait([a.count.remote() for a in actors], num_returns=2, timeout=30)[1] == []
    assert sum(strato.get([a.count.remote() for a in actors], timeout=30)) == before + 2
    assert list(results) == [2, 4]


def test_a_second_map_drops_the_results_the_first_did_not_return(actors):
    pool = ActorPool(actors)
    first = pool.map(lambda a, v: a.sleep_then.remote(0.3, v), ["a", "b", "c"])
    assert next(first) == "a"
    second = pool.map(lambda a, v: a.double.remote(v), [10, 20, 30])
    assert list(second) == [20, 40, 60]           # nothing of the first map in it
    assert not pool.has_next()


def test_map_unordered_and_submit_get_next(actors):
    pool = ActorPool(actors)
    assert sorted(pool.map_unordered(lambda a, v: a.double.remote(v), range(5))) == [0, 2, 4, 6, 8]
    pool.submit(lambda a, v: a.double.remote(v), 7)
    assert pool.has_next() and pool.get_next() == 14 and not pool.has_next()
    with pytest.raises(StopIteration):
        pool.get_next()


def test_get_next_timeout_and_ignoring_a_timed_out_call(actors):
    pool = ActorPool(actors)
    pool.submit(lambda a, v: a.sleep_then.remote(1.0, v), "slow")
    pool.submit(lambda a, v: a.double.remote(v), 1)
    with pytest.raises(TimeoutError):
        pool.get_next(timeout=0.05)
    with pytest.raises(TimeoutError):
        pool.get_next(timeout=0.05, ignore_if_timedout=True)     # "slow" is skipped
    assert pool.get_next(timeout=30) == 2
    assert not pool.has_next()


def test_pop_idle_and_push(actors):
    pool = ActorPool(actors)
    a = pool.pop_idle()
    assert a is not None and not pool.has_next()
    with pytest.raises(ValueError, match="already belongs"):
        pool.push(actors[0] if a is not actors[0] else actors[1])
    pool.push(a)
    assert pool.has_free()


def test_queue_has_rays_whole_surface():
    q = Queue(maxsize=2)
    assert q.empty() and not q.full() and q.size() == q.qsize() == len(q) == 0
    q.put(1)
    q.put_nowait(2)
    assert q.full() and q.size() == 2
    with pytest.raises(Full):
        q.put(3, block=False)
    with pytest.raises(Full):
        q.put(3, timeout=0.05)
    assert q.get() == 1 and q.get(block=False) == 2
    with pytest.raises(Empty):
        q.get(timeout=0.05)
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    with pytest.raises(TypeError, match="iterable"):
        q.put_nowait_batch(5)
    with pytest.raises(TypeError):
        q.get_nowait_batch("2")
    with pytest.raises(ValueError):
        q.get_nowait_batch(-1)
    q.put_nowait_batch([5, 6])
    assert q.get_nowait_batch(2) == [5, 6]

    async def round_trip():
        with pytest.raises(Empty):
            await q.get_async(block=False)
        await q.put_async("x")
        with pytest.raises(Empty):
            q.get_nowait_batch(2)                         # only one item: nothing is taken
        return await q.get_async(timeout=5)
    assert asyncio.run(round_trip()) == "x"
    q.shutdown(grace_period_s=5)
    with pytest.raises(RuntimeError, match="shut down"):
        q.put(1)
    q.shutdown()                                      # twice is harmless


def test_queue_shutdown_with_force():
    q = Queue()
    q.put("item")
    q.shutdown(force=True)
    assert q.actor is None


@strato.remote
def sleep_then_return(seconds):
    time.sleep(seconds)
    return seconds


def test_as_completed_yields_results_in_batches_as_they_finish():
    from strato.util import as_completed
    refs = [sleep_then_return.remote(s) for s in (0.6, 0.0, 0.3)]
    assert sorted(as_completed(refs, chunk_size=2)) == [0.0, 0.3, 0.6]
    assert all(isinstance(r, strato.ObjectRef) for r in as_completed(refs, yield_obj_refs=True))
    with pytest.raises(ValueError, match="chunk_size"):
        list(as_completed(refs, chunk_size=0))


def test_map_unordered_keeps_at_most_backpressure_size_tasks_in_flight():
    from strato.util import map_unordered
    assert sorted(map_unordered(sleep_then_return, [0.0, 0.1, 0.0, 0.2], backpressure_size=2, chunk_size=1)) == \
        [0.0, 0.0, 0.1, 0.2]
    with pytest.raises(TypeError, match="remote function"):
        list(map_unordered(lambda x: x, [1]))


@strato.remote(num_cpus=0)
class Pair:
    @strato.method(num_returns=2)
    def bar(self):
        return 1, 2


def test_calls_with_several_returns_and_rays_private_queue_name():
    """Ray's test_multiple_returns and test_push: a pool of num_returns=2 calls gives lists; work waiting
    for an actor is in `_pending_submits`."""
    pair = Pair.remote()
    pool = ActorPool([pair])
    for _ in range(3):
        pool.submit(lambda a, v: a.bar.remote(), None)
    assert len(pool._pending_submits) == 2 and not pool.has_free()
    results = []
    while pool.has_next():
        results.append(pool.get_next(timeout=None))
    assert results == [[1, 2]] * 3
    pool.submit(lambda a, v: a.bar.remote(), None)
    assert pool.get_next_unordered(timeout=30) == [1, 2]
    strato.kill(pair)
