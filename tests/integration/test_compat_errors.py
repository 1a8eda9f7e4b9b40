"""Errors as Ray 2.60 reports them.

* a task raising an ExceptionGroup: `get` raises a RayTaskError that is also
  an ExceptionGroup with the same sub-exceptions (`except*` works);
* an exception that cannot be rebuilt on the driver (its __init__ takes other
  arguments than its args): UnserializableException, keeping the message;
* KeyboardInterrupt raised in a task: TaskCancelledError;
* sys.exit(code) in a task: WorkerCrashedError, with the exit code.
"""
import sys

import pytest

import strato
from strato import exceptions

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


class NeedsTwo(Exception):
    def __init__(self, a, b):
        super().__init__(f"a={a}")          # args == ("a=...",): unpickling calls NeedsTwo("a=...") and fails


@strato.remote(max_retries=0)
def raise_group():
    raise ExceptionGroup("several", [ValueError("bad value"), KeyError("missing")])


@strato.remote(max_retries=0)
def raise_needs_two():
    raise NeedsTwo(1, 2)


@strato.remote(max_retries=0)
def interrupt():
    raise KeyboardInterrupt


@strato.remote(max_retries=0)
def exit_with(code):
    sys.exit(code)


@strato.remote
def pid():
    import os
    return os.getpid()


def test_an_exception_group_comes_back_as_one():
    with pytest.raises(ExceptionGroup) as info:
        strato.get(raise_group.remote(), timeout=30)
    err = info.value
    assert isinstance(err, exceptions.RayTaskError)
    assert [type(e) for e in err.exceptions] == [ValueError, KeyError] and err.message == "several"
    caught = []
    try:
        raise err
    except* ValueError as group:
        caught.append(group.exceptions[0].args)
    except* KeyError:
        caught.append("key")
    assert caught == [("bad value",), "key"]


def test_an_exception_that_cannot_be_rebuilt_is_unserializable_with_its_message():
    with pytest.raises(exceptions.UnserializableException) as info:
        strato.get(raise_needs_two.remote(), timeout=30)
    text = str(info.value)
    assert "NeedsTwo: a=1" in text and "__reduce__" in text
    assert isinstance(info.value, exceptions.RayError)


def test_keyboard_interrupt_in_a_task_is_a_cancellation():
    with pytest.raises(exceptions.TaskCancelledError, match="KeyboardInterrupt"):
        strato.get(interrupt.remote(), timeout=30)
    assert strato.get(pid.remote(), timeout=30) > 0        # the worker pool is fine


def test_sys_exit_in_a_task_is_a_worker_crash_with_its_exit_code():
    with pytest.raises(exceptions.WorkerCrashedError, match="exited with code 3") as info:
        strato.get(exit_with.remote(3), timeout=30)
    assert info.value.exit_code == 3
    with pytest.raises(exceptions.WorkerCrashedError) as info:
        strato.get(exit_with.remote(None), timeout=30)
    assert info.value.exit_code == 0
    assert strato.get(pid.remote(), timeout=30) > 0


@strato.remote
class Quitter:
    def quit(self, code):
        sys.exit(code)

    def ping(self):
        return "pong"


def test_sys_exit_in_an_actor_method_ends_the_actor_with_that_code():
    actor = Quitter.remote()
    assert strato.get(actor.ping.remote(), timeout=30) == "pong"
    with pytest.raises(exceptions.WorkerCrashedError, match="ends the actor's process") as info:
        strato.get(actor.quit.remote(2), timeout=30)
    assert info.value.exit_code == 2
    with pytest.raises(exceptions.ActorDiedError, match="code 2"):
        strato.get(actor.ping.remote(), timeout=30)
