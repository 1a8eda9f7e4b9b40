"""Generator tasks as Ray 2.60 documents them (ray-core/tasks/generators.rst, ray-generator.rst).

* A remote generator function streams: `.remote()` returns an
  ObjectRefGenerator whose refs arrive while the task still runs; `async for`
  works too. "streaming" is the default for a function that yields.
* When the generator raises, the refs before it hold the values and the next
  one raises the error; then the iteration ends.
* `num_returns=N` on a generator: N refs; a generator that raises after k
  yields gives the k values and the error in the rest; one that yields fewer
  than N fails every ref with ValueError.
* `num_returns="dynamic"`: one ref whose value is a DynamicObjectRefGenerator.
* Actor methods (sync and async) can be generators.
"""
import asyncio
import time

import numpy as np
import pytest

import strato as ray
from strato import ObjectRefGenerator
from strato.exceptions import RayTaskError

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


@ray.remote
def count_slowly(n, pause):
    for i in range(n):
        time.sleep(pause)
        yield i


@ray.remote(num_returns="streaming")
def fail_after(k):
    for i in range(k):
        yield i
    raise ValueError(f"failed after {k}")


@ray.remote(num_returns=4)
def four_but_fails_after_two():
    yield "a"
    yield "b"
    raise ValueError("third item failed")


@ray.remote(num_returns=3)
def yields_one():
    yield 1


@ray.remote(num_returns="dynamic")
def dynamic(n):
    for i in range(n):
        yield i * 10


@ray.remote
def big_items(n):
    for i in range(n):
        yield np.full(300_000, i, dtype=np.int64)      # 2.4 MB each: through the object store


def test_items_arrive_while_the_task_runs():
    gen = count_slowly.remote(5, 0.3)
    assert isinstance(gen, ObjectRefGenerator)           # "streaming" by default for a generator
    first = next(gen)
    first_at = time.monotonic()
    assert ray.get(first) == 0
    rest = [ray.get(ref) for ref in gen]
    assert rest == [1, 2, 3, 4]
    assert time.monotonic() - first_at > 0.9             # the first came while 4 x 0.3 s of work remained
    with pytest.raises(StopIteration):
        next(gen)
    assert gen.is_finished() and ray.get(gen.completed()) == 5


def test_an_error_comes_after_the_values_then_the_end():
    refs = list(fail_after.remote(2))
    assert len(refs) == 3
    assert ray.get(refs[:2]) == [0, 1]
    with pytest.raises(ValueError, match="failed after 2") as info:
        ray.get(refs[2])
    assert isinstance(info.value, RayTaskError)


def test_async_iteration():
    async def consume():
        return [await ref async for ref in count_slowly.remote(4, 0.01)]
    assert asyncio.run(consume()) == [0, 1, 2, 3]


def test_a_fixed_count_generator_that_fails_keeps_the_values_before_the_error():
    refs = four_but_fails_after_two.remote()
    assert len(refs) == 4
    assert ray.get(refs[0]) == "a" and ray.get(refs[1]) == "b"
    for ref in refs[2:]:
        with pytest.raises(ValueError, match="third item failed"):
            ray.get(ref)


def test_a_fixed_count_generator_yielding_too_few_fails_every_ref():
    for ref in yields_one.remote():
        with pytest.raises(ValueError, match="num_returns=3"):
            ray.get(ref)


def test_dynamic_returns_one_ref_to_a_generator_of_refs():
    ref = dynamic.remote(3)
    assert isinstance(ref, ray.ObjectRef)
    inner = ray.get(ref)
    assert type(inner).__name__ == "DynamicObjectRefGenerator"
    assert [ray.get(r) for r in inner] == [0, 10, 20]


def test_large_items_stream_through_the_object_store():
    values = [ray.get(ref) for ref in big_items.remote(3)]
    assert [int(v[0]) for v in values] == [0, 1, 2] and all(v.shape == (300_000,) for v in values)


def test_streaming_needs_a_generator_function():
    @ray.remote
    def plain():
        return 1
    with pytest.raises(ValueError, match="generator functions"):
        plain.options(num_returns="streaming")
    with pytest.raises(ValueError, match="num_returns"):
        plain.options(num_returns="sometimes")


def test_get_and_wait_take_a_generator():
    gen = count_slowly.remote(2, 0.01)
    assert ray.get(gen) is gen                              # as Ray's get does
    ready, _ = ray.wait([gen], timeout=30)
    assert ready == [gen]
    assert [ray.get(r) for r in gen] == [0, 1]


@ray.remote
class Producer:
    def __init__(self):
        self.base = 100

    def numbers(self, n):
        for i in range(n):
            yield self.base + i

    async def numbers_async(self, n):
        for i in range(n):
            await asyncio.sleep(0)
            yield -i


def test_actor_methods_can_stream():
    producer = Producer.remote()
    assert [ray.get(r) for r in producer.numbers.remote(3)] == [100, 101, 102]
    assert [ray.get(r) for r in producer.numbers_async.remote(3)] == [0, -1, -2]
    ray.kill(producer)


def test_cancelling_a_streaming_task_ends_the_stream_with_task_cancelled():
    gen = count_slowly.remote(100, 0.05)
    assert ray.get(next(gen)) == 0
    ray.cancel(gen)                                       # a generator is cancelled as its task
    ready, _ = ray.wait([gen], timeout=30)
    assert ready == [gen] and gen.next_ready() and not gen.is_finished()
    refs = list(gen)                                      # ends: the items so far, then the cancellation
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(refs[-1], timeout=30)
    assert len(refs) < 100


def test_items_taken_outlive_the_generator_and_a_dropped_generator_lets_its_items_go():
    gen = big_items.remote(2)
    first = next(gen)
    del gen                                               # the second item is released when it arrives
    assert int(ray.get(first, timeout=30)[0]) == 0
    refs_with_values = [r for r in big_items.remote(2)]
    assert [int(ray.get(r)[1]) for r in refs_with_values] == [0, 1]


@ray.remote
def yields_refs(n):
    for i in range(n):
        yield ray.put(i * 7)                              # an item that is itself a ref, owned by the worker


def test_items_may_hold_refs():
    assert [ray.get(ray.get(r)) for r in yields_refs.remote(3)] == [0, 7, 14]


@ray.remote(max_retries=1)
def dies_once(flag_path, n):
    import os
    for i in range(n):
        if i == 2 and not os.path.exists(flag_path):
            open(flag_path, "w").close()
            os._exit(1)                                   # the worker dies mid-stream on the first attempt
        yield i


def test_a_retried_generator_does_not_repeat_the_items_already_received(tmp_path):
    assert [ray.get(r) for r in dies_once.remote(str(tmp_path / "died"), 4)] == [0, 1, 2, 3]
