"""`strato.util.Queue`: a FIFO queue shared by drivers, tasks and actors (Ray's API).

The items live in an actor; `put` and `get` block in the caller (optionally
with a timeout), `*_nowait` raise `Empty` / `Full` at once. A queue can be
passed to tasks and actors like any value.
"""
import asyncio
import queue as std_queue
import time

import pytest

import strato
from strato.util import Queue
from strato.util.queue import Empty, Full

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]


@pytest.fixture
def q():
    queue = Queue()
    yield queue
    queue.shutdown()


def test_items_come_out_in_the_order_they_went_in(q):
    for i in range(10):
        q.put(i)
    assert [q.get(timeout=30) for _ in range(10)] == list(range(10))


def test_size_empty_and_full():
    q = Queue(maxsize=2)
    assert q.empty() and not q.full() and q.size() == 0 and len(q) == 0
    q.put("a")
    assert q.qsize() == 1 and not q.empty() and not q.full()
    q.put("b")
    assert q.full() and q.size() == 2
    q.shutdown()


def test_get_nowait_on_an_empty_queue_raises_empty(q):
    with pytest.raises(Empty):
        q.get_nowait()
    with pytest.raises(Empty):
        q.get(block=False)
    assert issubclass(Empty, std_queue.Empty)


def test_get_with_a_timeout_raises_empty_after_the_timeout(q):
    t0 = time.monotonic()
    with pytest.raises(Empty):
        q.get(timeout=0.3)
    assert 0.25 <= time.monotonic() - t0 < 15


def test_put_on_a_full_queue_raises_full():
    q = Queue(maxsize=1)
    q.put(1)
    with pytest.raises(Full):
        q.put_nowait(2)
    with pytest.raises(Full):
        q.put(2, timeout=0.3)
    assert issubclass(Full, std_queue.Full)
    assert q.get() == 1
    q.shutdown()


def test_negative_timeouts_and_sizes_are_refused(q):
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    with pytest.raises(ValueError):
        q.put(1, timeout=-1)
    with pytest.raises(ValueError):
        Queue(maxsize=-1)


def test_batches_are_all_or_nothing():
    q = Queue(maxsize=3)
    q.put_nowait_batch([1, 2])
    with pytest.raises(Full):
        q.put_nowait_batch([3, 4])            # would exceed maxsize: nothing is added
    assert q.size() == 2
    with pytest.raises(Empty):
        q.get_nowait_batch(3)                 # fewer than 3 items: nothing is taken
    assert q.get_nowait_batch(2) == [1, 2]
    q.shutdown()


def test_a_blocked_get_wakes_when_a_task_puts(q):
    @strato.remote
    def put_later(queue, item):
        time.sleep(0.5)
        queue.put(item)

    put_later.remote(q, "hello")
    assert q.get(timeout=60) == "hello"


def test_tasks_can_produce_and_an_actor_can_consume(q):
    @strato.remote
    def produce(queue, start):
        for i in range(start, start + 5):
            queue.put(i)

    @strato.remote
    class Consumer:
        def take(self, queue, n):
            return [queue.get(timeout=60) for _ in range(n)]

    strato.get([produce.remote(q, 0), produce.remote(q, 100)], timeout=60)
    consumer = Consumer.remote()
    items = strato.get(consumer.take.remote(q, 10), timeout=60)
    assert sorted(items) == list(range(5)) + list(range(100, 105))
    # Each producer's items keep their order.
    assert [i for i in items if i < 100] == list(range(5))
    strato.kill(consumer)


def test_async_put_and_get(q):
    async def main():
        await q.put_async("x")
        await q.put_async("y")
        return [await q.get_async(timeout=30), await q.get_async(timeout=30)]

    assert asyncio.run(asyncio.wait_for(main(), 60)) == ["x", "y"]


def test_shutdown_kills_the_queue_actor():
    q = Queue()
    q.put(1)
    actor = q.actor
    q.shutdown()
    with pytest.raises(strato.exceptions.RayActorError):
        strato.get(actor.qsize.remote(), timeout=30)
