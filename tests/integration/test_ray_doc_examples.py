"""Examples from Ray Core's public documentation, rewritten as tests, run with `import strato as ray`.

Each test follows one documentation page's example (named in its docstring),
with sleeps shortened; the assertions are what the page says happens.
"""
import asyncio
import time

import pytest

import strato as ray
from strato.exceptions import GetTimeoutError, RayActorError, RayTaskError, TaskCancelledError
from strato.util import ActorPool
from strato.util.queue import Empty, Queue

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


def test_tasks_page_remote_functions_refs_as_arguments_and_timeouts():
    """ray-core/tasks.rst: remote functions, passing refs, get with a timeout."""
    @ray.remote
    def my_function():
        return 1

    @ray.remote
    def function_with_an_argument(value):
        return value + 1

    obj_ref1 = my_function.remote()
    assert ray.get(obj_ref1) == 1
    obj_ref2 = function_with_an_argument.remote(obj_ref1)
    assert ray.get(obj_ref2) == 2
    assert ray.get([ray.put(i) for i in range(3)]) == [0, 1, 2]

    @ray.remote
    def long_running_function():
        time.sleep(1)

    with pytest.raises(GetTimeoutError):
        ray.get(long_running_function.remote(), timeout=0.1)


def test_tasks_page_multiple_returns_and_wait():
    """ray-core/tasks.rst: num_returns, and ray.wait returning ready and not-ready refs."""
    @ray.remote(num_returns=3)
    def return_multiple():
        return 0, 1, 2

    object_ref0, object_ref1, object_ref2 = return_multiple.remote()
    assert ray.get([object_ref0, object_ref1, object_ref2]) == [0, 1, 2]

    @ray.remote
    def sleep_for(seconds):
        time.sleep(seconds)
        return seconds

    object_refs = [sleep_for.remote(0), sleep_for.remote(1)]
    ready_refs, remaining_refs = ray.wait(object_refs, num_returns=1, timeout=None)
    assert ready_refs == [object_refs[0]] and remaining_refs == [object_refs[1]]


def test_actors_page_counter_and_handles_passed_to_tasks():
    """ray-core/actors.rst: a Counter actor, and a handle passed to tasks that call it."""
    @ray.remote
    class Counter:
        def __init__(self):
            self.value = 0

        def increment(self):
            self.value += 1
            return self.value

        def get_counter(self):
            return self.value

    counter = Counter.remote()
    assert ray.get(counter.increment.remote()) == 1

    @ray.remote
    def f(counter):
        for _ in range(10):
            counter.increment.remote()

    ray.get([f.remote(counter) for _ in range(3)])
    deadline = time.monotonic() + 20
    while ray.get(counter.get_counter.remote()) < 31 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ray.get(counter.get_counter.remote()) == 31
    ray.kill(counter)


def test_named_actors_page_get_actor_by_name():
    """ray-core/actors/named-actors.rst: create with a name, find it with ray.get_actor."""
    @ray.remote
    class Counter:
        def ping(self):
            return "pong"

    counter = Counter.options(name="some_name").remote()
    same = ray.get_actor("some_name")
    assert ray.get(same.ping.remote()) == "pong" and same == counter
    with pytest.raises(ValueError):
        ray.get_actor("no_such_actor")
    ray.kill(counter)


def test_async_actors_page_concurrent_async_methods():
    """ray-core/actors/async_api.rst: an async actor runs many coroutine calls at once."""
    @ray.remote
    class AsyncActor:
        async def run_concurrent(self):
            await asyncio.sleep(0.5)
            return "done"

        async def ready(self):
            return True

    actor = AsyncActor.remote()
    assert ray.get(actor.ready.remote())             # time the calls, not the actor's start-up
    started = time.monotonic()
    assert ray.get([actor.run_concurrent.remote() for _ in range(4)]) == ["done"] * 4
    assert time.monotonic() - started < 1.8          # concurrently, not 4 x 0.5 s
    ray.kill(actor)


def test_objects_page_nested_refs_stay_refs():
    """ray-core/objects.rst: refs inside a list are passed as refs; top-level ones as values."""
    @ray.remote
    def echo_and_get(x_list):
        return ray.get(x_list)

    a, b, c = ray.put(1), ray.put(2), ray.put(3)
    assert ray.get(echo_and_get.remote([a, b, c])) == [1, 2, 3]


def test_fault_tolerance_page_application_errors_are_the_users_class():
    """ray-core/fault_tolerance/tasks.rst: catching an application-level failure."""
    class MyException(Exception):
        pass

    @ray.remote
    def f():
        raise MyException("boom")

    with pytest.raises(MyException) as info:
        ray.get(f.remote())
    assert isinstance(info.value, RayTaskError) and "boom" in str(info.value)


def test_fault_tolerance_page_retry_exceptions():
    """ray-core/fault_tolerance/tasks.rst: retry_exceptions retries a task that raises."""
    @ray.remote
    class Tries:
        def __init__(self):
            self.n = 0

        def next(self):
            self.n += 1
            return self.n

    tries = Tries.remote()

    @ray.remote(max_retries=2, retry_exceptions=True)
    def flaky(tries):
        if ray.get(tries.next.remote()) < 3:
            raise ValueError("not yet")
        return "third time lucky"

    assert ray.get(flaky.remote(tries)) == "third time lucky"
    ray.kill(tries)


def test_cancel_page_cancelled_tasks_raise_task_cancelled():
    """ray-core/tasks.rst, cancelling tasks: get of a cancelled task raises TaskCancelledError."""
    @ray.remote
    def blocking_operation():
        time.sleep(30)

    obj_ref = blocking_operation.remote()
    time.sleep(0.3)
    ray.cancel(obj_ref)
    with pytest.raises(TaskCancelledError):
        ray.get(obj_ref, timeout=20)


def test_actor_fault_tolerance_page_dead_actor_raises_ray_actor_error():
    """ray-core/fault_tolerance/actors.rst: calls to a killed actor raise RayActorError."""
    @ray.remote
    class Actor:
        def ping(self):
            return "hello"

    actor = Actor.remote()
    assert ray.get(actor.ping.remote()) == "hello"
    ray.kill(actor)
    with pytest.raises(RayActorError):
        ray.get(actor.ping.remote(), timeout=20)


def test_actor_pool_page_map():
    """ray-core/actors/actor-utils.rst: ActorPool.map over two actors."""
    @ray.remote
    class Actor:
        def double(self, n):
            return n * 2

    a1, a2 = Actor.remote(), Actor.remote()
    pool = ActorPool([a1, a2])
    assert list(pool.map(lambda a, v: a.double.remote(v), [1, 2, 3, 4])) == [2, 4, 6, 8]
    ray.kill(a1)
    ray.kill(a2)


def test_queue_page_producer_and_consumers():
    """ray-core/actors/actor-utils.rst: a Queue shared by the driver and consumer tasks."""
    queue = Queue(maxsize=100)

    @ray.remote
    def consumer(id, queue):
        got = []
        try:
            while True:
                got.append(queue.get(block=True, timeout=0.3))
        except Empty:
            return id, got

    [queue.put(i) for i in range(10)]
    results = ray.get([consumer.remote(id, queue) for id in range(2)])
    assert sorted(v for _, got in results for v in got) == list(range(10))
    queue.shutdown()


def test_pattern_limit_pending_tasks_with_wait():
    """ray-core/patterns/limit-pending-tasks.rst: keep at most N tasks in flight with ray.wait."""
    @ray.remote
    def work(i):
        return i

    max_in_flight, in_flight, done = 4, [], []
    for i in range(12):
        if len(in_flight) >= max_in_flight:
            ready, in_flight = ray.wait(in_flight, num_returns=1)
            done += ray.get(ready)
        in_flight.append(work.remote(i))
    done += ray.get(in_flight)
    assert sorted(done) == list(range(12))


def test_pattern_nested_tasks_tree():
    """ray-core/patterns/nested-tasks.rst: a task that submits tasks (quick sort)."""
    @ray.remote
    def quick_sort_distributed(values):
        if len(values) <= 3:
            return sorted(values)
        pivot = values[0]
        lesser = [v for v in values[1:] if v < pivot]
        greater = [v for v in values[1:] if v >= pivot]
        left, right = quick_sort_distributed.remote(lesser), quick_sort_distributed.remote(greater)
        return ray.get(left) + [pivot] + ray.get(right)

    data = [7, 3, 9, 1, 8, 2, 6, 5, 4, 0]
    assert ray.get(quick_sort_distributed.remote(data)) == sorted(data)


def test_runtime_context_page():
    """ray-core/api/runtime-context.rst: ids of the job, node, task and actor."""
    @ray.remote
    class Actor:
        def ids(self):
            ctx = ray.get_runtime_context()
            return ctx.get_actor_id(), ctx.get_task_id(), ctx.get_node_id()

    actor = Actor.remote()
    actor_id, task_id, node_id = ray.get(actor.ids.remote())
    assert actor_id == actor.actor_id and task_id and node_id == ray.get_runtime_context().get_node_id()
    ray.kill(actor)


def test_runtime_context_assigned_resources_of_tasks_actors_and_bundles():
    """ray-core/api/runtime-context.rst, get_assigned_resources(): {"CPU": 1} by default in a task; none in
    an actor by default (it holds a CPU only to be placed); what was asked for otherwise."""
    from strato.util.placement_group import placement_group, remove_placement_group
    from strato.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    @ray.remote
    def assigned():
        return ray.get_runtime_context().get_assigned_resources()

    @ray.remote
    class Holder:
        def assigned(self):
            return ray.get_runtime_context().get_assigned_resources()

    assert ray.get(assigned.remote()) == {"CPU": 1.0}
    assert ray.get(assigned.options(num_cpus=0.5).remote()) == {"CPU": 0.5}
    plain, one = Holder.remote(), Holder.options(num_cpus=1).remote()
    assert ray.get(plain.assigned.remote()) == {} and ray.get(one.assigned.remote()) == {"CPU": 1.0}
    pg = placement_group([{"CPU": 1}])
    ray.get(pg.ready(), timeout=30)
    in_pg = assigned.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 0)).remote()
    assert ray.get(in_pg) == {"CPU": 1.0}
    with pytest.raises(RuntimeError, match="only available inside a task or an actor"):
        ray.get_runtime_context().get_assigned_resources()
    for a in (plain, one):
        ray.kill(a)
    remove_placement_group(pg)


def test_generators_page_streaming_example():
    """ray-core/ray-generator.rst: a generator task's refs can be read before the task finishes."""
    @ray.remote
    def f():
        for i in range(5):
            time.sleep(0.1)
            yield i

    assert [ray.get(object_ref) for object_ref in f.remote()] == [0, 1, 2, 3, 4]


def test_anti_pattern_return_ray_put_dynamic_returns():
    """ray-core/patterns/return-ray-put.rst: return values directly; a dynamic number with a generator."""
    @ray.remote
    def task_with_single_small_return_value_bad():
        return ray.put(1)

    @ray.remote
    def task_with_single_small_return_value_good():
        return 1

    assert ray.get(ray.get(task_with_single_small_return_value_bad.remote())) == ray.get(
        task_with_single_small_return_value_good.remote())

    @ray.remote(num_returns="dynamic")
    def task_with_dynamic_returns_good(n):
        for i in range(n):
            yield i * 2

    dynamic_ref = task_with_dynamic_returns_good.remote(3)
    assert ray.get(list(ray.get(dynamic_ref))) == [0, 2, 4]


def test_terminating_actors_page_ray_terminate_after_pending_calls():
    """ray-core/actors/terminating-actors.rst: `actor.__ray_terminate__.remote()` ends the actor once the
    calls sent before it ran; it does not restart, and later calls fail with RayActorError."""
    @ray.remote(max_restarts=2)
    class Worker:
        def __init__(self):
            self.done = 0

        def work(self):
            time.sleep(0.05)
            self.done += 1
            return self.done

    w = Worker.remote()
    assert ray.get(w.__ray_ready__.remote()) is True          # the constructor ran
    pending = [w.work.remote() for _ in range(3)]
    end = w.__ray_terminate__.remote()
    assert ray.get(pending) == [1, 2, 3]                         # queued before it: all ran
    with pytest.raises(RayActorError):
        ray.get(end, timeout=30)
    with pytest.raises(RayActorError):
        ray.get(w.work.remote(), timeout=30)
    from strato.util import state
    [row] = [a for a in state.list_actors() if a["actor_id"] == w.actor_id]
    assert row["state"] == "DEAD" and row["num_restarts"] == 0  # an exit on purpose: not restarted

    @ray.remote
    class AsyncWorker:
        async def ping(self):
            return "pong"
    a = AsyncWorker.remote()
    assert ray.get(a.__ray_ready__.remote()) is True and ray.get(a.ping.remote()) == "pong"
    with pytest.raises(RayActorError):
        ray.get(a.__ray_terminate__.remote(), timeout=30)
    with pytest.raises(AttributeError, match="has no method '__ray_other__'|__ray_other__"):
        a.__ray_other__


def test_timeline_page_chrome_trace_of_tasks_and_actor_calls(tmp_path):
    """ray-observability/user-guides/debug-apps/optimize-performance.rst: `ray.timeline(filename=...)`
    dumps the tasks as a Chrome trace; one complete event per task, a process per node, a thread
    per worker."""
    import json

    @ray.remote
    def nap(i):
        time.sleep(0.1)
        return i

    @ray.remote
    class Clock:
        def tick(self):
            time.sleep(0.05)
            return 1

    started = time.time() * 1e6
    assert ray.get([nap.remote(i) for i in range(4)]) == [0, 1, 2, 3]
    clock = Clock.remote()
    assert ray.get([clock.tick.remote() for _ in range(3)]) == [1, 1, 1]
    path = tmp_path / "trace.json"
    assert ray.timeline(filename=str(path)) is None
    events = [e for e in json.loads(path.read_text()) if e["ts"] >= started - 1e6]
    naps = [e for e in events if e["name"].endswith("nap")]
    ticks = [e for e in events if e["name"].endswith("Clock.tick")]
    assert len(naps) == 4 and len(ticks) == 3, sorted(e["name"] for e in events)
    assert all(e["ph"] == "X" and e["cat"] == "task" and e["dur"] >= 0.09e6 for e in naps)
    assert all(e["cat"] == "actor_task" and e["dur"] >= 0.045e6 for e in ticks)
    assert len({e["tid"] for e in ticks}) == 1 and all(e["pid"].startswith("Node ") for e in events)
    assert all(e["args"]["state"] == "FINISHED" for e in naps + ticks)
    assert [e["ts"] for e in ray.timeline()] == sorted(e["ts"] for e in ray.timeline())
    ray.kill(clock)
