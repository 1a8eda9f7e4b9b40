"""Actors: `@strato.remote` on a class gives stateful workers.

An actor is an instance of a class living in a worker process of its own.
`Cls.remote(...)` creates it (through the GCS) and returns a handle;
`handle.method.remote(...)` calls a method and returns an ObjectRef. The
instance keeps its state between calls. One module-scoped embedded cluster
(2 CPUs) is shared by these tests.
"""
import os
import time

import pytest

import strato
from strato.exceptions import RayTaskError

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]


@strato.remote
class Counter:
    def __init__(self, start=0, step=1):
        self.value = start
        self.step = step

    def incr(self, by=None):
        self.value += self.step if by is None else by
        return self.value

    def get(self):
        return self.value

    def pid(self):
        return os.getpid()

    def fail(self, message):
        raise KeyError(message)

    def whoami(self):
        return strato.get_runtime_context().get_actor_id()


@strato.remote
def square(x):
    return x * x


# --- state and arguments -----------------------------------------------------------

def test_an_actor_keeps_its_state_between_calls():
    c = Counter.remote()
    assert strato.get([c.incr.remote() for _ in range(5)], timeout=60) == [1, 2, 3, 4, 5]
    assert strato.get(c.get.remote(), timeout=30) == 5
    strato.kill(c)


def test_constructor_takes_positional_and_keyword_arguments():
    c = Counter.remote(100, step=10)
    assert strato.get(c.incr.remote(), timeout=60) == 110
    assert strato.get(c.incr.remote(by=5), timeout=30) == 115
    strato.kill(c)


def test_object_ref_arguments_are_resolved_for_constructor_and_methods():
    start = square.remote(4)                 # 16, computed by a task
    c = Counter.remote(start)
    assert strato.get(c.incr.remote(strato.put(4)), timeout=60) == 20
    assert strato.get(c.incr.remote(by=square.remote(3)), timeout=30) == 29
    strato.kill(c)


def test_a_method_result_can_feed_a_task_and_another_call():
    c = Counter.remote(2)
    ref = c.get.remote()
    assert strato.get(square.remote(ref), timeout=60) == 4
    assert strato.get(c.incr.remote(ref), timeout=30) == 4
    strato.kill(c)


def test_each_actor_has_its_own_state_and_its_own_process():
    a, b = Counter.remote(), Counter.remote(1000)
    strato.get([a.incr.remote(), a.incr.remote(), b.incr.remote()], timeout=60)
    assert strato.get([a.get.remote(), b.get.remote()], timeout=30) == [2, 1001]
    pid_a, pid_b = strato.get([a.pid.remote(), b.pid.remote()], timeout=30)
    assert pid_a != pid_b
    assert os.getpid() not in (pid_a, pid_b)
    strato.kill(a)
    strato.kill(b)


def test_the_runtime_context_knows_the_actor_id():
    c = Counter.remote()
    assert strato.get(c.whoami.remote(), timeout=60) == c.actor_id
    assert strato.get_runtime_context().get_actor_id() is None      # the driver is no actor
    strato.kill(c)


# --- errors in methods ----------------------------------------------------------

def test_an_exception_in_a_method_is_raised_by_get_and_the_actor_lives_on():
    c = Counter.remote()
    strato.get(c.incr.remote(), timeout=60)
    with pytest.raises(RayTaskError) as info:
        strato.get(c.fail.remote("no such key"), timeout=30)
    assert isinstance(info.value, KeyError), "the error is also an instance of the user's exception class"
    assert "no such key" in str(info.value)
    assert "Counter.fail" in str(info.value)
    # The actor is still alive, with its state.
    assert strato.get(c.incr.remote(), timeout=30) == 2
    strato.kill(c)


def test_a_user_exception_can_be_caught_by_its_own_class():
    c = Counter.remote()
    with pytest.raises(KeyError):
        strato.get(c.fail.remote("x"), timeout=60)
    strato.kill(c)


# --- several return values --------------------------------------------------------

@strato.remote
class Splitter:
    @strato.method(num_returns=2)
    def halves(self, items):
        mid = len(items) // 2
        return items[:mid], items[mid:]

    def pair(self):
        return "left", "right"

    @strato.method(num_returns=0)
    def nothing(self):
        return None


def test_strato_method_num_returns_gives_one_ref_per_value():
    s = Splitter.remote()
    left, right = s.halves.remote([1, 2, 3, 4])
    assert strato.get(left, timeout=60) == [1, 2]
    assert strato.get(right, timeout=30) == [3, 4]
    strato.kill(s)


def test_num_returns_can_be_set_per_call_with_options():
    s = Splitter.remote()
    whole = s.pair.remote()
    assert strato.get(whole, timeout=60) == ("left", "right")
    a, b = s.pair.options(num_returns=2).remote()
    assert strato.get([a, b], timeout=30) == ["left", "right"]
    strato.kill(s)


def test_num_returns_zero_returns_none():
    s = Splitter.remote()
    assert s.nothing.remote() is None
    strato.kill(s)


# --- handles ----------------------------------------------------------------

def test_an_unknown_method_is_an_attribute_error_naming_the_class():
    c = Counter.remote()
    with pytest.raises(AttributeError, match="Counter"):
        c.no_such_method
    strato.kill(c)


def test_handles_compare_equal_by_actor_and_have_an_id():
    c = Counter.remote()
    assert isinstance(c.actor_id, str) and len(c.actor_id) > 0
    assert c == c and hash(c) == hash(c)
    d = Counter.remote()
    assert c != d
    strato.kill(c)
    strato.kill(d)


def test_an_actor_can_submit_tasks_and_get_their_results():
    @strato.remote
    class Squarer:
        def run(self, n):
            return sum(strato.get([square.remote(i) for i in range(n)]))

    s = Squarer.remote()
    assert strato.get(s.run.remote(10), timeout=60) == sum(i * i for i in range(10))
    strato.kill(s)


def test_an_actor_can_be_awaited_from_asyncio_in_the_driver():
    import asyncio

    c = Counter.remote(41)

    async def main():
        return await c.incr.remote()

    assert asyncio.run(asyncio.wait_for(main(), 60)) == 42
    strato.kill(c)


# --- resources ----------------------------------------------------------------

def test_default_actors_hold_no_cpu_while_alive_so_more_actors_than_cpus_can_run():
    # As in Ray: an actor needs 1 CPU to be placed but holds none while it runs.
    actors = [Counter.remote(i) for i in range(5)]
    assert strato.get([a.incr.remote() for a in actors], timeout=90) == [1, 2, 3, 4, 5]
    # Tasks still get both CPUs.
    assert strato.get([square.remote(i) for i in range(4)], timeout=60) == [0, 1, 4, 9]
    for a in actors:
        strato.kill(a)


def test_an_actor_with_num_cpus_holds_them_while_alive(poll):
    # Start from an idle cluster: earlier tests' actors give their CPUs back asynchronously.
    before = strato.cluster_resources()["CPU"]
    assert poll(lambda: strato.available_resources().get("CPU", 0) == before, 20)
    c = Counter.options(num_cpus=1).remote()
    strato.get(c.get.remote(), timeout=60)
    assert poll(lambda: strato.available_resources().get("CPU", 0) == before - 1, 10), \
        strato.available_resources()
    strato.kill(c)
    assert poll(lambda: strato.available_resources().get("CPU", 0) == before, 20), \
        "killing the actor gives its CPU back"


def test_an_actor_that_needs_more_than_the_cluster_has_stays_pending():
    c = Counter.options(num_cpus=1, resources={"nonexistent": 1}).remote()
    ref = c.get.remote()
    ready, _ = strato.wait([ref], timeout=2)
    assert ready == [], "an infeasible actor is never created, its calls wait"
    strato.kill(c)
    with pytest.raises(strato.exceptions.RayActorError):
        strato.get(ref, timeout=30)


def test_a_slow_constructor_delays_calls_but_does_not_lose_them():
    @strato.remote
    class Slow:
        def __init__(self):
            time.sleep(1.0)
            self.ready = True

        def is_ready(self):
            return self.ready

    s = Slow.remote()          # returns at once
    assert strato.get([s.is_ready.remote() for _ in range(3)], timeout=60) == [True] * 3
    strato.kill(s)
