"""What the driver sees when a task fails: application errors, crashes, bad arguments."""
import os
import threading

import pytest

import strato
from strato import exceptions
from strato.exceptions import RayError, RayTaskError, WorkerCrashedError

pytestmark = pytest.mark.usefixtures("cluster")


@strato.remote(max_retries=0)
def explode_with_boom():
    raise ValueError("boom")


@strato.remote
def plus_one(x):
    return x + 1


# --- the exception hierarchy ------------------------------------------------------

def test_exception_classes_keep_rays_names_and_have_strato_aliases():
    assert exceptions.TaskError is exceptions.RayTaskError
    assert exceptions.StratoError is exceptions.RayError


@pytest.mark.parametrize("name", ["RayTaskError", "WorkerCrashedError", "TaskCancelledError",
                                  "GetTimeoutError"])
def test_every_runtime_error_derives_from_ray_error(name):
    assert issubclass(getattr(exceptions, name), RayError)


def test_get_timeout_error_is_a_builtin_timeout_error():
    assert issubclass(exceptions.GetTimeoutError, TimeoutError)


def test_serialization_error_is_a_type_error():
    assert issubclass(exceptions.SerializationError, TypeError)


# --- application errors ---------------------------------------------------------

def test_a_task_error_is_both_a_ray_task_error_and_the_original_exception_type():
    with pytest.raises(ValueError) as info:
        strato.get(explode_with_boom.remote())
    err = info.value
    assert isinstance(err, RayTaskError)
    assert isinstance(err, exceptions.TaskError)
    assert isinstance(err, RayError)
    assert isinstance(err, ValueError)


def test_the_task_error_message_carries_the_remote_traceback():
    with pytest.raises(RayTaskError) as info:
        strato.get(explode_with_boom.remote())
    text = str(info.value)
    assert "boom" in text
    assert "explode_with_boom" in text


def test_except_clauses_for_the_users_exception_type_catch_remote_errors():
    caught = None
    try:
        strato.get(explode_with_boom.remote())
    except ValueError as err:  # written the way application code would be
        caught = err
    assert caught is not None and "boom" in str(caught)


def test_a_user_defined_exception_class_is_preserved():
    class InventoryError(Exception):
        """An application-defined exception raised inside a task."""

    @strato.remote(max_retries=0)
    def out_of_stock():
        raise InventoryError("no more widgets")

    with pytest.raises(InventoryError) as info:
        strato.get(out_of_stock.remote())
    assert isinstance(info.value, RayTaskError)
    assert "no more widgets" in str(info.value)


def test_an_error_propagates_to_tasks_that_depend_on_the_failed_result():
    downstream = plus_one.remote(plus_one.remote(explode_with_boom.remote()))
    with pytest.raises(RayTaskError) as info:
        strato.get(downstream)
    assert "boom" in str(info.value)


def test_an_error_in_a_nested_task_reaches_the_driver_through_its_parent():
    @strato.remote(max_retries=0)
    def parent():
        return strato.get(explode_with_boom.remote())

    with pytest.raises(RayTaskError) as info:
        strato.get(parent.remote())
    assert "boom" in str(info.value)


def test_every_return_ref_of_a_failed_multi_return_task_raises():
    @strato.remote(num_returns=2, max_retries=0)
    def broken_pair():
        raise KeyError("missing")

    first, second = broken_pair.remote()
    for ref in (first, second):
        with pytest.raises(KeyError):
            strato.get(ref)


def test_get_of_a_list_raises_if_one_task_failed():
    refs = [plus_one.remote(1), explode_with_boom.remote(), plus_one.remote(2)]
    with pytest.raises(ValueError):
        strato.get(refs)
    # The healthy results are still available one by one.
    assert strato.get(refs[0]) == 2
    assert strato.get(refs[2]) == 3


def test_the_cluster_keeps_working_after_task_errors():
    for _ in range(3):
        with pytest.raises(RayTaskError):
            strato.get(explode_with_boom.remote())
    assert strato.get([plus_one.remote(i) for i in range(4)]) == [1, 2, 3, 4]


# --- worker crashes --------------------------------------------------------------

def test_a_worker_dying_without_retries_gives_worker_crashed_error():
    @strato.remote(max_retries=0)
    def die():
        os._exit(1)

    with pytest.raises(WorkerCrashedError) as info:
        strato.get(die.remote(), timeout=90)
    assert isinstance(info.value, RayError)
    # A crash is a system failure, not an application error.
    assert not isinstance(info.value, RayTaskError)


def test_the_cluster_keeps_working_after_a_worker_crash():
    @strato.remote(max_retries=0)
    def die():
        os._exit(3)

    with pytest.raises(WorkerCrashedError):
        strato.get(die.remote(), timeout=90)
    assert strato.get(plus_one.remote(41), timeout=90) == 42


# --- serialization problems ------------------------------------------------------

def test_an_unpicklable_argument_is_rejected_at_submission_with_a_type_error():
    lock = threading.Lock()
    with pytest.raises(TypeError) as info:
        plus_one.remote(lock)
    assert "lock" in str(info.value).lower()


def test_putting_an_unpicklable_value_is_a_type_error():
    with pytest.raises(TypeError) as info:
        strato.put(threading.Lock())
    assert "lock" in str(info.value).lower()


def test_submission_errors_leave_the_cluster_usable():
    with pytest.raises(TypeError):
        plus_one.remote(threading.Lock())
    assert strato.get(plus_one.remote(1)) == 2


# --- values that cannot cross the process boundary -------------------------------

def make_unloadable(message):
    """An object that pickles fine but raises ``RuntimeError(message)`` when unpickled."""
    def refuse_to_load():
        raise RuntimeError(message)

    class Unloadable:
        def __reduce__(self):
            return (refuse_to_load, ())

    return Unloadable()


def test_an_argument_that_cannot_be_unpickled_in_the_worker_fails_the_task():
    ref = plus_one.options(max_retries=0).remote(make_unloadable("cannot load argument"))
    with pytest.raises(RayTaskError) as info:             # the unpickling error, raised in the worker
        strato.get(ref, timeout=60)
    assert isinstance(info.value, RuntimeError) and "cannot load argument" in str(info.value)
    assert strato.get(plus_one.remote(1), timeout=60) == 2


def test_a_return_value_that_cannot_be_pickled_fails_the_task():
    @strato.remote(max_retries=0)
    def return_lock():
        return threading.Lock()

    with pytest.raises(RayTaskError) as info:
        strato.get(return_lock.remote(), timeout=60)
    assert isinstance(info.value, exceptions.SerializationError) and "lock" in str(info.value).lower()


def test_a_return_value_that_cannot_be_unpickled_in_the_driver_raises_on_get():
    @strato.remote(max_retries=0)
    def return_unloadable():
        # Built inside the task: the worker need not import this test module.
        def refuse_to_load():
            raise RuntimeError("cannot load result")

        class Unloadable:
            def __reduce__(self):
                return (refuse_to_load, ())

        return Unloadable()

    # The unpickling error itself, raised in the driver (Ray wraps it in RaySystemError).
    with pytest.raises(RuntimeError, match="cannot load result"):
        strato.get(return_unloadable.remote(), timeout=60)
    assert strato.get(plus_one.remote(2), timeout=60) == 3
