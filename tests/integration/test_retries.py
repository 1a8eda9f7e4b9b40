"""Retries: crashed workers are retried by default, application errors only on request.

Each task appends a line to an "attempts" file in tmp_path every time it
starts, so the tests can count exactly how many times it ran.
"""
import os

import pytest

import strato
from strato.exceptions import RayTaskError, WorkerCrashedError

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(180)]


def attempts(path):
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


@strato.remote
def crash_on_first_attempt(counter_file):
    with open(counter_file, "a") as f:
        f.write(f"{os.getpid()}\n")
    with open(counter_file) as f:
        if len(f.read().splitlines()) == 1:
            os._exit(1)
    return "survived"


@strato.remote
def always_crash(counter_file):
    with open(counter_file, "a") as f:
        f.write(f"{os.getpid()}\n")
    os._exit(1)


@strato.remote
def fail_until_attempt(counter_file, succeed_on, exc_type=ValueError):
    with open(counter_file, "a") as f:
        f.write(f"{os.getpid()}\n")
    with open(counter_file) as f:
        n = len(f.read().splitlines())
    if n < succeed_on:
        raise exc_type(f"attempt {n} failed")
    return f"succeeded on attempt {n}"


# --- worker crashes ----------------------------------------------------------------

def test_a_crashed_task_is_retried_on_a_new_worker_by_default(tmp_path):
    counter = str(tmp_path / "attempts")
    assert strato.get(crash_on_first_attempt.remote(counter), timeout=150) == "survived"
    with open(counter) as f:
        pids = f.read().split()
    assert len(pids) == 2
    assert pids[0] != pids[1], "the retry must run in a new worker process"


def test_max_retries_zero_means_a_crash_is_final(tmp_path):
    counter = str(tmp_path / "attempts")
    ref = crash_on_first_attempt.options(max_retries=0).remote(counter)
    with pytest.raises(WorkerCrashedError):
        strato.get(ref, timeout=150)
    assert attempts(counter) == 1


def test_max_retries_bounds_the_number_of_attempts(tmp_path):
    counter = str(tmp_path / "attempts")
    ref = always_crash.options(max_retries=2).remote(counter)
    with pytest.raises(WorkerCrashedError):
        strato.get(ref, timeout=150)
    assert attempts(counter) == 3  # the first run plus two retries


# --- application errors ----------------------------------------------------------------

def test_application_errors_are_not_retried_by_default(tmp_path):
    counter = str(tmp_path / "attempts")
    with pytest.raises(ValueError):
        strato.get(fail_until_attempt.remote(counter, 2), timeout=150)
    assert attempts(counter) == 1


def test_retry_exceptions_true_retries_application_errors(tmp_path):
    counter = str(tmp_path / "attempts")
    ref = fail_until_attempt.options(retry_exceptions=True, max_retries=3).remote(counter, 3)
    assert strato.get(ref, timeout=150) == "succeeded on attempt 3"
    assert attempts(counter) == 3


def test_retry_exceptions_gives_up_after_max_retries(tmp_path):
    counter = str(tmp_path / "attempts")
    ref = fail_until_attempt.options(retry_exceptions=True, max_retries=1).remote(counter, 10)
    with pytest.raises(ValueError) as info:
        strato.get(ref, timeout=150)
    assert isinstance(info.value, RayTaskError)
    assert "attempt 2 failed" in str(info.value)  # the error of the last attempt
    assert attempts(counter) == 2


def test_retry_exceptions_list_retries_only_the_listed_types(tmp_path):
    listed = str(tmp_path / "listed")
    ref = fail_until_attempt.options(retry_exceptions=[ValueError], max_retries=3).remote(listed, 2)
    assert strato.get(ref, timeout=150) == "succeeded on attempt 2"
    assert attempts(listed) == 2

    unlisted = str(tmp_path / "unlisted")
    ref = fail_until_attempt.options(retry_exceptions=[ValueError], max_retries=3).remote(
        unlisted, 2, KeyError)
    with pytest.raises(KeyError):
        strato.get(ref, timeout=150)
    assert attempts(unlisted) == 1


def test_retry_exceptions_list_matches_subclasses(tmp_path):
    counter = str(tmp_path / "attempts")
    # FileNotFoundError is a subclass of OSError.
    ref = fail_until_attempt.options(retry_exceptions=[OSError], max_retries=3).remote(
        counter, 2, FileNotFoundError)
    assert strato.get(ref, timeout=150) == "succeeded on attempt 2"
    assert attempts(counter) == 2


def test_retry_options_can_be_given_in_the_decorator(tmp_path):
    @strato.remote(max_retries=2, retry_exceptions=True)
    def flaky(counter_file):
        with open(counter_file, "a") as f:
            f.write("x\n")
        with open(counter_file) as f:
            if len(f.read().splitlines()) < 3:
                raise RuntimeError("not yet")
        return "ok"

    counter = str(tmp_path / "attempts")
    assert strato.get(flaky.remote(counter), timeout=150) == "ok"
    assert attempts(counter) == 3


def test_a_worker_killed_from_outside_is_retried(tmp_path, poll):
    import signal
    import time

    @strato.remote(max_retries=1)
    def wait_to_be_killed(counter_file, pid_file):
        with open(counter_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        with open(counter_file) as f:
            if len(f.read().splitlines()) == 1:
                with open(pid_file, "w") as f:
                    f.write(str(os.getpid()))
                time.sleep(120)
        return "second attempt"

    counter, pid_file = str(tmp_path / "attempts"), tmp_path / "pid"
    ref = wait_to_be_killed.remote(counter, str(pid_file))
    assert poll(lambda: pid_file.exists() and pid_file.read_text(), 60)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert strato.get(ref, timeout=150) == "second attempt"
    assert attempts(counter) == 2
