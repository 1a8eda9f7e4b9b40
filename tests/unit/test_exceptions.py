"""Task errors are instances of the user's class too, and survive pickling."""
import pickle

import cloudpickle
import pytest

from strato import exceptions


class MyError(Exception):
    def __init__(self, code):
        super().__init__(f"code {code}")
        self.code = code


def test_dual_class_is_both_task_error_and_user_class():
    err = exceptions.TaskError("f", "Traceback ...\nValueError: boom", ValueError("boom"), 12, "1.2.3.4")
    dual = err.as_instanceof_cause()
    assert isinstance(dual, exceptions.RayTaskError) and isinstance(dual, ValueError)
    assert "boom" in str(dual) and "f()" in str(dual)
    assert isinstance(dual.__cause__, exceptions.RemoteTraceback)


def test_dual_class_keeps_custom_attributes():
    dual = exceptions.TaskError("g", "tb", MyError(7)).as_instanceof_cause()
    assert isinstance(dual, MyError) and dual.code == 7
    with pytest.raises(MyError):
        raise dual


def test_task_error_round_trips_through_pickle():
    err = exceptions.TaskError("f", "tb text", KeyError("k"), 1, "ip")
    back = cloudpickle.loads(cloudpickle.dumps(err))
    assert back.traceback_str == "tb text" and isinstance(back.cause, KeyError)
    dual = back.as_instanceof_cause()
    assert isinstance(pickle.loads(pickle.dumps(dual)), exceptions.TaskError)


def test_system_errors_have_actionable_messages():
    assert "max_retries" in str(exceptions.WorkerCrashedError())
    assert "cancel" in str(exceptions.TaskCancelledError("ab"))
    assert issubclass(exceptions.GetTimeoutError, TimeoutError)
    assert issubclass(exceptions.SerializationError, TypeError)


@pytest.mark.parametrize("cause", [ConnectionResetError(104, "reset"), FileNotFoundError(2, "no such file", "f"),
                                   exceptions.ClusterConnectionError("the GCS is away")])
def test_a_task_error_from_an_os_error_is_both_classes(cause):
    # OSError's own __new__ refuses Exception.__new__ on its subclasses
    err = exceptions.TaskError("f", "tb", cause).as_instanceof_cause()
    assert isinstance(err, exceptions.TaskError) and isinstance(err, type(cause))
    assert err.args == cause.args
