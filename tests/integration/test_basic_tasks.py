"""Remote functions, object refs and how values travel between driver and tasks.

All tests share one embedded cluster with 2 CPUs (the ``cluster`` fixture).
"""
import asyncio
import concurrent.futures
import re

import numpy as np
import pytest

import strato

pytestmark = pytest.mark.usefixtures("cluster")


@strato.remote
def add(a, b):
    return a + b


@strato.remote
def echo(value):
    return value


@strato.remote
def describe_args(*args, **kwargs):
    return {"types": [type(a).__name__ for a in args],
            "kwarg_types": {k: type(v).__name__ for k, v in kwargs.items()},
            "args": list(args), "kwargs": kwargs}


# --- calling remote functions ---------------------------------------------

def test_remote_function_returns_its_result():
    ref = add.remote(1, 2)
    assert strato.get(ref) == 3


def test_keyword_arguments_are_passed_through():
    ref = describe_args.remote(1, "two", three=3.0)
    result = strato.get(ref)
    assert result["args"] == [1, "two"]
    assert result["kwargs"] == {"three": 3.0}


def test_remote_can_wrap_a_lambda():
    square = strato.remote(lambda x: x * x)
    assert strato.get(square.remote(7)) == 49


def test_remote_function_can_return_none():
    @strato.remote
    def nothing():
        return None

    assert strato.get(nothing.remote()) is None


def test_closures_capture_local_values():
    offset = 100

    @strato.remote
    def shifted(x):
        return x + offset

    assert strato.get([shifted.remote(i) for i in range(3)]) == [100, 101, 102]


def test_decorator_with_options_still_runs_the_function():
    @strato.remote(num_cpus=1, max_retries=0)
    def tripled(x):
        return 3 * x

    assert strato.get(tripled.remote(5)) == 15


def test_calling_a_remote_function_directly_is_a_type_error_that_points_to_remote():
    with pytest.raises(TypeError) as info:
        add(1, 2)
    assert ".remote(" in str(info.value)


def test_many_small_tasks_all_return_the_right_values():
    refs = [add.remote(i, i) for i in range(200)]
    assert strato.get(refs) == [2 * i for i in range(200)]


# --- object refs ------------------------------------------------------------

def test_put_then_get_round_trips_a_value():
    value = {"a": [1, 2, 3], "b": ("x", None)}
    ref = strato.put(value)
    assert strato.get(ref) == value


def test_object_ref_hex_is_a_stable_hex_string():
    ref = strato.put(1)
    h = ref.hex()
    assert isinstance(h, str)
    assert re.fullmatch(r"[0-9a-f]+", h), h
    assert ref.hex() == h


def test_object_refs_are_hashable_and_compare_by_identity_of_the_object():
    a = strato.put("a")
    b = strato.put("a")  # same value, different object
    assert a != b
    assert a.hex() != b.hex()
    table = {a: "first", b: "second"}
    assert table[a] == "first" and table[b] == "second"
    assert len({a, a, b}) == 2


def test_large_numpy_array_round_trips_through_put_and_as_an_argument():
    array = np.arange(2_000_000, dtype=np.float64)  # 16 MB
    ref = strato.put(array)
    np.testing.assert_array_equal(strato.get(ref), array)

    @strato.remote
    def total(a):
        return float(a.sum())

    assert strato.get(total.remote(ref)) == float(array.sum())
    assert strato.get(total.remote(array)) == float(array.sum())


def test_large_numpy_array_can_be_returned_from_a_task():
    @strato.remote
    def make(n):
        return np.ones(n, dtype=np.int32) * 7

    result = strato.get(make.remote(3_000_000))
    assert result.shape == (3_000_000,)
    assert result.dtype == np.int32
    assert int(result.sum()) == 21_000_000


def test_top_level_ref_arguments_arrive_as_values():
    ref = strato.put([1, 2, 3])
    result = strato.get(describe_args.remote(ref, key=strato.put("v")))
    assert result["types"] == ["list"]
    assert result["args"] == [[1, 2, 3]]
    assert result["kwargs"] == {"key": "v"}


def test_refs_nested_in_a_list_stay_refs_inside_the_task():
    inner = [strato.put(10), strato.put(20)]

    @strato.remote
    def inspect(refs):
        kinds = [type(r).__name__ for r in refs]
        return kinds, strato.get(refs)

    kinds, values = strato.get(inspect.remote(inner))
    assert kinds == [type(inner[0]).__name__] * 2
    assert values == [10, 20]


def test_the_same_ref_can_be_passed_twice():
    ref = strato.put(21)
    assert strato.get(add.remote(ref, ref)) == 42


def test_chained_tasks_pass_results_along():
    @strato.remote
    def h(x):
        return x + 1

    @strato.remote
    def g(x):
        return x * 10

    @strato.remote
    def f(x):
        return x - 3

    assert strato.get(f.remote(g.remote(h.remote(1)))) == 17


def test_a_task_can_return_a_ref_that_the_driver_can_get():
    @strato.remote
    def make_ref():
        return strato.put("made inside a task")

    inner_ref = strato.get(make_ref.remote())
    assert strato.get(inner_ref) == "made inside a task"


# --- nested tasks -------------------------------------------------------------

def test_a_task_can_launch_and_wait_for_other_tasks():
    @strato.remote
    def square(x):
        return x * x

    @strato.remote
    def sum_of_squares(n):
        return sum(strato.get([square.remote(i) for i in range(n)]))

    assert strato.get(sum_of_squares.remote(5)) == 0 + 1 + 4 + 9 + 16


@pytest.mark.timeout(180)
def test_more_nested_blocked_tasks_than_cpus_do_not_deadlock():
    # Each level waits for the next one, so 5 tasks are blocked in get() at
    # once on a 2-CPU cluster: a worker blocked in get must give its CPU back.
    @strato.remote
    def depth(n):
        if n == 0:
            return 0
        return 1 + strato.get(depth.remote(n - 1))

    assert strato.get(depth.remote(5), timeout=150) == 5


@pytest.mark.timeout(180)
def test_many_parents_waiting_on_children_do_not_deadlock():
    @strato.remote
    def child(i):
        return i

    @strato.remote
    def parent(i):
        return strato.get(child.remote(i)) * 2

    refs = [parent.remote(i) for i in range(4)]
    assert strato.get(refs, timeout=150) == [0, 2, 4, 6]


# --- multiple return values --------------------------------------------------

def test_num_returns_two_gives_a_list_of_two_refs():
    @strato.remote(num_returns=2)
    def pair():
        return "left", "right"

    refs = pair.remote()
    assert isinstance(refs, list) and len(refs) == 2
    assert strato.get(refs[0]) == "left"
    assert strato.get(refs[1]) == "right"


def test_num_returns_can_be_set_with_options():
    @strato.remote
    def triple():
        return 1, 2, 3

    refs = triple.options(num_returns=3).remote()
    assert len(refs) == 3
    assert strato.get(refs) == [1, 2, 3]


def test_options_do_not_change_the_original_function():
    @strato.remote
    def two():
        return (1, 2)

    refs = two.options(num_returns=2).remote()
    assert strato.get(refs) == [1, 2]
    single = two.remote()
    assert strato.get(single) == (1, 2)


def test_options_name_is_accepted():
    assert strato.get(add.options(name="named-add").remote(2, 2)) == 4


# --- refs as futures ------------------------------------------------------------

def test_object_ref_can_be_awaited_in_async_code():
    async def main():
        first = await add.remote(1, 1)
        both = await asyncio.gather(add.remote(2, 2), echo.remote("x"))
        return first, both

    assert asyncio.run(main()) == (2, [4, "x"])


def test_object_ref_future_is_a_concurrent_futures_future():
    fut = add.remote(20, 22).future()
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=60) == 42


def test_object_ref_futures_work_with_as_completed():
    futures = [echo.remote(i).future() for i in range(5)]
    done = [f.result() for f in concurrent.futures.as_completed(futures, timeout=60)]
    assert sorted(done) == [0, 1, 2, 3, 4]


def test_code_written_for_ray_runs_with_strato_imported_as_ray():
    import strato as ray

    @ray.remote
    def f(x):
        return x * 2

    futures = [f.remote(i) for i in range(4)]
    assert ray.get(futures) == [0, 2, 4, 6]


# --- values at the edges ----------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 100 * 1024 - 1, 100 * 1024, 100 * 1024 + 1, 1024 * 1024])
def test_byte_strings_of_every_size_round_trip(size):
    # Sizes around 100 KiB straddle the usual "inline vs object store" cut-off.
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert strato.get(strato.put(payload)) == payload
    assert strato.get(echo.remote(payload)) == payload

    @strato.remote
    def length(b):
        return len(b)

    assert strato.get(length.remote(payload)) == size


def test_returning_an_exception_object_is_a_value_not_an_error():
    @strato.remote
    def make_error():
        return ValueError("just data")

    value = strato.get(make_error.remote())
    assert isinstance(value, ValueError)
    assert str(value) == "just data"


def test_refs_inside_a_put_value_stay_refs():
    inner = strato.put("inner value")
    outer = strato.put({"ref": inner})
    got = strato.get(outer)
    assert got["ref"] == inner
    assert strato.get(got["ref"]) == "inner value"


def test_an_argument_whose_only_ref_was_dropped_still_reaches_the_task():
    @strato.remote
    def slow_sum(a):
        import time
        time.sleep(0.5)
        return float(a.sum())

    # The driver keeps no reference to the put object itself.
    ref = slow_sum.remote(strato.put(np.ones(500_000)))
    import gc
    gc.collect()
    assert strato.get(ref) == 500_000.0


def test_nested_refs_stay_alive_while_a_task_borrows_them():
    @strato.remote
    def slow_get(refs):
        import time
        time.sleep(1.0)
        return [float(a.sum()) for a in strato.get(refs)]

    refs = [strato.put(np.full(300_000, i, dtype=np.float64)) for i in (1, 2)]
    result = slow_get.remote(refs)
    del refs
    import gc
    gc.collect()
    assert strato.get(result, timeout=60) == [300_000.0, 600_000.0]


def test_a_fetched_array_stays_valid_after_its_ref_is_dropped():
    ref = strato.put(np.arange(1_000_000, dtype=np.int64))
    array = strato.get(ref)
    del ref
    import gc
    gc.collect()
    # Churn the object store so that freed memory would be reused.
    for i in range(20):
        strato.get(strato.put(np.full(1_000_000, -i, dtype=np.int64)))
    assert array[0] == 0 and array[-1] == 999_999
    assert int(array.sum()) == sum(range(1_000_000))


@pytest.mark.timeout(180)
def test_dropped_objects_are_freed_so_many_large_puts_fit():
    # 40 x 25 MB = 1 GB in all, far more than is ever alive at once.
    for i in range(40):
        ref = strato.put(np.full(25 * 1024 * 1024 // 8, i, dtype=np.int64))
        assert int(strato.get(ref)[0]) == i
        del ref


def test_tasks_can_be_submitted_from_several_threads_at_once():
    import threading

    results, errors = {}, []

    def submit(thread_index):
        try:
            refs = [add.remote(thread_index, i) for i in range(20)]
            results[thread_index] = strato.get(refs, timeout=90)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not errors, errors
    assert results == {t: [t + i for i in range(20)] for t in range(4)}


@pytest.mark.timeout(240)
def test_nested_tasks_still_work_after_idle_workers_were_reaped(tmp_path, child_env):
    # Runs its own driver (this module's cluster stays untouched) with a short
    # idle-worker timeout, so that the pool shrinks between rounds of nested
    # tasks; every round must still finish.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import time, strato
        strato.init(num_cpus=2, _system_config={"idle_worker_timeout_s": 1})

        @strato.remote
        def depth(n):
            return 0 if n == 0 else 1 + strato.get(depth.remote(n - 1))

        for round_number in range(4):
            assert strato.get(depth.remote(5), timeout=40) == 5, round_number
            print("round", round_number, "ok", flush=True)
            time.sleep(2.5)  # idle workers are reaped meanwhile
        strato.shutdown()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=220, cwd=str(tmp_path), env=child_env)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.stdout.count(" ok") == 4
