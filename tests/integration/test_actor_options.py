"""Actor options and misuse: mistakes fail at once, with a message that helps.

* an unknown option is a ValueError naming it;
* an option of the wrong type is a TypeError, one out of range a ValueError;
* `Cls()` and `actor.method()` (without `.remote`) are TypeErrors that say
  what to write instead;
* `max_pending_calls` caps the calls a caller may have outstanding on one
  actor: one more raises `PendingCallsLimitExceeded` at submission.
"""
import time

import pytest

import strato
from strato.exceptions import PendingCallsLimitExceeded

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]


@strato.remote
class Worker:
    def __init__(self):
        self.n = 0

    def work(self, seconds=0.0):
        time.sleep(seconds)
        self.n += 1
        return self.n


# --- unknown options and wrong values -------------------------------------------------

def test_an_unknown_option_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="max_restart_count"):
        Worker.options(max_restart_count=3)
    with pytest.raises(ValueError, match="colour"):
        @strato.remote(colour="blue")
        class Painted:
            pass


def test_a_task_only_option_is_refused_for_actors():
    with pytest.raises(ValueError, match="max_retries"):
        Worker.options(max_retries=2)


@pytest.mark.parametrize("option, value", [
    ("max_concurrency", "4"),
    ("max_concurrency", 2.5),
    ("max_restarts", "3"),
    ("max_restarts", True),
    ("max_task_retries", 1.0),
    ("max_pending_calls", "10"),
    ("name", 42),
    ("namespace", ["ns"]),
    ("get_if_exists", "yes"),
    ("num_cpus", "1"),
    ("resources", ["GPU"]),
])
def test_an_option_of_the_wrong_type_is_a_type_error(option, value):
    with pytest.raises(TypeError, match=option):
        Worker.options(**{option: value})


@pytest.mark.parametrize("option, value", [
    ("max_concurrency", 0),
    ("max_restarts", -2),
    ("max_task_retries", -5),
    ("max_pending_calls", -3),
    ("num_cpus", -1),
    ("lifetime", "forever"),
    ("resources", {"CPU": 1}),
])
def test_an_option_out_of_range_is_a_value_error(option, value):
    with pytest.raises(ValueError):
        Worker.options(**{option: value})


def test_get_if_exists_needs_a_name():
    with pytest.raises(ValueError, match="name"):
        Worker.options(get_if_exists=True)


def test_options_do_not_change_the_class_they_were_called_on():
    Worker.options(name="options_only_once", max_concurrency=4)
    a = Worker.remote()
    b = Worker.remote()        # no name: a second one does not clash
    assert strato.get([a.work.remote(), b.work.remote()], timeout=60) == [1, 1]
    strato.kill(a)
    strato.kill(b)


def test_strato_method_checks_its_arguments():
    with pytest.raises(TypeError):
        strato.method(num_returns="2")
    with pytest.raises(ValueError, match="bogus"):
        strato.method(bogus=1)              # a bare @strato.method is accepted, as Ray's is


def test_method_options_check_num_returns():
    w = Worker.remote()
    with pytest.raises(TypeError):
        w.work.options(num_returns=-1)
    strato.kill(w)


# --- calling things the wrong way ------------------------------------------------------

def test_instantiating_an_actor_class_directly_says_to_use_remote():
    with pytest.raises(TypeError, match=r"Worker\.remote\(\)"):
        Worker()


def test_calling_a_method_directly_says_to_use_remote():
    w = Worker.remote()
    with pytest.raises(TypeError, match=r"work\.remote\(\)"):
        w.work()
    strato.kill(w)


# --- max_pending_calls -------------------------------------------------------------

def test_max_pending_calls_refuses_one_call_too_many():
    w = Worker.options(max_pending_calls=2).remote()
    strato.get(w.work.remote(), timeout=60)             # created; nothing pending now
    first, second = w.work.remote(1.0), w.work.remote(1.0)
    with pytest.raises(PendingCallsLimitExceeded) as info:
        w.work.remote()
    assert "max_pending_calls" in str(info.value)
    assert isinstance(info.value, strato.exceptions.RayError)
    # Once results are in, there is room again.
    assert strato.get([first, second], timeout=60) == [2, 3]
    assert strato.get(w.work.remote(), timeout=30) == 4
    strato.kill(w)


def test_without_max_pending_calls_there_is_no_limit():
    w = Worker.remote()
    refs = [w.work.remote() for _ in range(500)]
    assert strato.get(refs, timeout=90)[-1] == 500
    strato.kill(w)
