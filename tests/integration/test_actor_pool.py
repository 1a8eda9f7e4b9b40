"""`strato.util.ActorPool`: spread work over a fixed set of actors (Ray's API).

`pool.map(fn, values)` calls `fn(actor, value)` (which returns a ref) with
each value on an idle actor and yields results in the order of `values`;
`map_unordered` yields them as they finish. `submit` / `get_next` /
`has_next` do the same one value at a time.
"""
import os
import time

import pytest

import strato
from strato.exceptions import GetTimeoutError
from strato.util import ActorPool

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]


@strato.remote
class Doubler:
    def double(self, value):
        return 2 * value

    def slow_double(self, value, delay_s):
        time.sleep(delay_s)
        return 2 * value

    def pid(self, _=None):
        time.sleep(0.1)
        return os.getpid()


@pytest.fixture
def actors():
    handles = [Doubler.remote() for _ in range(3)]
    strato.get([h.double.remote(0) for h in handles], timeout=60)   # all created
    yield handles
    for h in handles:
        strato.kill(h)


def test_map_yields_results_in_the_order_of_the_inputs(actors):
    pool = ActorPool(actors)
    # Earlier values take longer, so they finish last; map still yields them first.
    delays = {0: 0.6, 1: 0.4, 2: 0.2, 3: 0.0, 4: 0.0, 5: 0.0}
    results = list(pool.map(lambda a, v: a.slow_double.remote(v, delays[v]), range(6)))
    assert results == [0, 2, 4, 6, 8, 10]


def test_map_unordered_yields_results_as_they_finish(actors):
    pool = ActorPool(actors)
    delays = {1: 1.5, 2: 0.0, 3: 0.0}
    results = list(pool.map_unordered(lambda a, v: a.slow_double.remote(v, delays[v]), [1, 2, 3]))
    assert sorted(results) == [2, 4, 6]
    assert results[-1] == 2, "the slow value comes last"


def test_map_uses_every_actor_of_the_pool(actors):
    pool = ActorPool(actors)
    pids = set(pool.map(lambda a, v: a.pid.remote(v), range(9)))
    assert len(pids) == 3


def test_map_handles_more_values_than_actors(actors):
    pool = ActorPool(actors)
    assert list(pool.map(lambda a, v: a.double.remote(v), range(50))) == [2 * v for v in range(50)]


def test_submit_get_next_and_has_next(actors):
    pool = ActorPool(actors)
    assert not pool.has_next()
    for v in range(5):                      # more than the three actors: two wait for an idle one
        pool.submit(lambda a, v: a.double.remote(v), v)
    assert pool.has_next()
    results = []
    while pool.has_next():
        results.append(pool.get_next(timeout=60))
    assert results == [0, 2, 4, 6, 8], "get_next returns results in submission order"
    assert not pool.has_next()


def test_get_next_unordered_returns_whatever_finishes_first(actors):
    pool = ActorPool(actors)
    pool.submit(lambda a, v: a.slow_double.remote(v, 1.5), 1)
    pool.submit(lambda a, v: a.slow_double.remote(v, 0.0), 2)
    assert pool.get_next_unordered(timeout=60) == 4
    assert pool.get_next_unordered(timeout=60) == 2
    assert not pool.has_next()


def test_get_next_without_pending_work_raises_stop_iteration(actors):
    pool = ActorPool(actors)
    with pytest.raises(StopIteration):
        pool.get_next()


def test_get_next_with_a_timeout_raises_timeout_error(actors):
    pool = ActorPool(actors)
    pool.submit(lambda a, v: a.slow_double.remote(v, 3.0), 1)
    with pytest.raises(GetTimeoutError):
        pool.get_next(timeout=0.2)
    assert isinstance(GetTimeoutError("x"), TimeoutError)
    # The work is still there and can be collected later.
    assert pool.get_next(timeout=60) == 2


def test_an_error_in_a_call_is_raised_by_get_next(actors):
    pool = ActorPool(actors)
    pool.submit(lambda a, v: a.double.remote(v), None)       # 2 * None raises TypeError
    with pytest.raises(TypeError):
        pool.get_next(timeout=60)


def test_a_pool_can_be_reused_for_several_maps(actors):
    pool = ActorPool(actors)
    assert list(pool.map(lambda a, v: a.double.remote(v), [1, 2])) == [2, 4]
    assert list(pool.map(lambda a, v: a.double.remote(v), [3, 4])) == [6, 8]


def test_push_and_pop_idle(actors):
    pool = ActorPool(actors[:2])
    pool.push(actors[2])
    assert len(set(pool.map(lambda a, v: a.pid.remote(v), range(9)))) == 3
    idle = pool.pop_idle()
    assert idle in actors
    assert len(set(pool.map(lambda a, v: a.pid.remote(v), range(6)))) == 2
