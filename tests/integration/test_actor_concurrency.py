"""Concurrency inside one actor: plain, threaded (max_concurrency) and async.

* a plain actor runs one call at a time;
* a threaded actor (`.options(max_concurrency=N)`) runs up to N calls at
  once on a pool of threads;
* an async actor (any `async def` method) runs its calls on one event loop,
  up to max_concurrency at once (default 1000).

Each call reports the (start, end) interval it ran in, measured inside the
actor, and `overlap` (tests/conftest.py) counts the most that ran at once.
Timing bounds are generous: the machine has 2 cores shared with other work.
"""
import asyncio
import threading
import time

import pytest

import strato
from strato.exceptions import RayTaskError

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]


@strato.remote
class Sleeper:
    def nap(self, seconds):
        start = time.time()
        time.sleep(seconds)
        return start, time.time()


@strato.remote
class AsyncSleeper:
    def __init__(self):
        self.event = None

    async def nap(self, seconds):
        start = time.time()
        await asyncio.sleep(seconds)
        return start, time.time()

    async def wait_for_signal(self):
        if self.event is None:
            self.event = asyncio.Event()
        await self.event.wait()
        return "signalled"

    async def signal(self):
        if self.event is None:
            self.event = asyncio.Event()
        self.event.set()

    async def fail(self):
        await asyncio.sleep(0)
        raise ValueError("async failure")

    async def await_task(self, x):
        return await square.remote(x)

    @strato.method(num_returns=2)
    async def two(self):
        return 1, 2


@strato.remote
def square(x):
    return x * x


def warm(actor, method="nap", *args):
    """Wait until the actor is created, so timings measure calls only."""
    strato.get(getattr(actor, method).remote(*args), timeout=60)


# --- plain actors -----------------------------------------------------------------

def test_a_plain_actor_runs_one_call_at_a_time(overlap):
    s = Sleeper.remote()
    warm(s, "nap", 0)
    intervals = strato.get([s.nap.remote(0.2) for _ in range(5)], timeout=60)
    assert overlap(intervals) == 1
    strato.kill(s)


# --- threaded actors ---------------------------------------------------------------

def test_a_threaded_actor_runs_up_to_max_concurrency_calls_at_once(overlap):
    s = Sleeper.options(max_concurrency=4).remote()
    warm(s, "nap", 0)
    intervals = strato.get([s.nap.remote(0.5) for _ in range(8)], timeout=60)
    assert overlap(intervals) == 4
    strato.kill(s)


def test_a_threaded_actor_runs_calls_on_distinct_threads():
    @strato.remote(max_concurrency=3)
    class Meeting:
        def __init__(self):
            self.barrier = threading.Barrier(3, timeout=30)

        def attend(self):
            self.barrier.wait()          # returns only once three calls are in it at the same time
            return threading.get_ident()

    m = Meeting.remote()
    idents = strato.get([m.attend.remote() for _ in range(3)], timeout=60)
    assert len(set(idents)) == 3
    strato.kill(m)


def test_a_threaded_actor_lets_one_call_wait_for_another():
    @strato.remote(max_concurrency=2)
    class Gate:
        def __init__(self):
            self.event = threading.Event()

        def wait(self):
            return self.event.wait(timeout=30)

        def open(self):
            self.event.set()

    g = Gate.remote()
    waiting = g.wait.remote()
    g.open.remote()
    assert strato.get(waiting, timeout=60) is True, "with one thread this would have waited 30 s"
    strato.kill(g)


# --- async actors ------------------------------------------------------------------

def test_an_async_actor_runs_20_sleeping_calls_concurrently(overlap):
    a = AsyncSleeper.remote()
    warm(a, "nap", 0)
    t0 = time.monotonic()
    intervals = strato.get([a.nap.remote(0.5) for _ in range(20)], timeout=60)
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0, f"20 calls of 0.5 s one after the other would take 10 s; took {elapsed:.1f} s"
    assert overlap(intervals) >= 10
    strato.kill(a)


def test_an_async_actors_default_concurrency_allows_hundreds_of_calls(overlap):
    a = AsyncSleeper.remote()
    warm(a, "nap", 0)
    t0 = time.monotonic()
    intervals = strato.get([a.nap.remote(1.0) for _ in range(200)], timeout=90)
    elapsed = time.monotonic() - t0
    assert elapsed < 15.0, f"200 calls of 1 s took {elapsed:.1f} s"
    assert overlap(intervals) >= 100
    strato.kill(a)


def test_max_concurrency_limits_an_async_actor(overlap):
    a = AsyncSleeper.options(max_concurrency=2).remote()
    warm(a, "nap", 0)
    intervals = strato.get([a.nap.remote(0.3) for _ in range(6)], timeout=60)
    assert overlap(intervals) == 2
    strato.kill(a)


def test_an_async_call_can_wait_for_a_later_call():
    a = AsyncSleeper.remote()
    waiting = a.wait_for_signal.remote()
    ready, _ = strato.wait([waiting], timeout=0.5)
    assert ready == []
    a.signal.remote()
    assert strato.get(waiting, timeout=60) == "signalled"
    strato.kill(a)


def test_an_async_method_can_await_an_object_ref():
    a = AsyncSleeper.remote()
    assert strato.get(a.await_task.remote(7), timeout=60) == 49
    strato.kill(a)


def test_an_async_method_error_is_raised_by_get():
    a = AsyncSleeper.remote()
    with pytest.raises(RayTaskError) as info:
        strato.get(a.fail.remote(), timeout=60)
    assert isinstance(info.value, ValueError)
    assert "async failure" in str(info.value)
    assert strato.get(a.nap.remote(0), timeout=30)        # still alive
    strato.kill(a)


def test_an_async_method_can_return_several_values():
    a = AsyncSleeper.remote()
    one, two = a.two.remote()
    assert strato.get([one, two], timeout=60) == [1, 2]
    strato.kill(a)
