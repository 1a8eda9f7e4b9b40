"""strato.cancel: stopping tasks that are running, busy, queued or already done.

Running tasks write a "started" file (with their pid) as their first action,
so each test knows the task really is running before it cancels it.
"""
import os
import time

import pytest

import strato
from strato._testing import process_gone
from strato.exceptions import RayError, TaskCancelledError

pytestmark = pytest.mark.usefixtures("cluster")


@strato.remote(max_retries=0)
def sleep_forever(started_file):
    with open(started_file, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)
    return "not cancelled"


@strato.remote(max_retries=0)
def nap_forever(started_file):
    """Like sleep_forever, but in short naps (returns to Python often)."""
    with open(started_file, "w") as f:
        f.write(str(os.getpid()))
    for _ in range(6000):
        time.sleep(0.1)
    return "not cancelled"


@strato.remote(max_retries=0)
def spin_forever(started_file):
    with open(started_file, "w") as f:
        f.write(str(os.getpid()))
    x = 0
    while True:  # pure-Python busy loop, never sleeps or does I/O
        x += 1


@strato.remote
def quick(x):
    return x


def wait_for_start(path, poll, timeout=60):
    assert poll(lambda: os.path.exists(path) and os.path.getsize(path) > 0, timeout), \
        f"the task never started (no {path} after {timeout}s)"
    return int(open(path).read())


def test_cancelling_a_sleeping_task_makes_get_raise_task_cancelled_error(tmp_path, poll):
    started = str(tmp_path / "started")
    ref = sleep_forever.remote(started)
    wait_for_start(started, poll)

    strato.cancel(ref)

    with pytest.raises(TaskCancelledError) as info:
        strato.get(ref, timeout=60)
    assert isinstance(info.value, RayError)


def test_cancelling_a_busy_python_loop_works(tmp_path, poll):
    started = str(tmp_path / "started")
    ref = spin_forever.remote(started)
    wait_for_start(started, poll)

    strato.cancel(ref)

    with pytest.raises(TaskCancelledError):
        strato.get(ref, timeout=60)


def test_force_cancel_kills_the_worker_process(tmp_path, poll):
    started = str(tmp_path / "started")
    ref = sleep_forever.remote(started)
    pid = wait_for_start(started, poll)

    strato.cancel(ref, force=True)

    with pytest.raises(TaskCancelledError):
        strato.get(ref, timeout=60)

    assert poll(lambda: process_gone(pid), 15), f"worker pid {pid} is still alive after force cancel"


def test_cancelling_a_queued_task_before_it_starts(tmp_path, poll):
    # Occupy both CPUs, then queue a third task behind them and cancel it.
    blockers = []
    for i in range(2):
        started = str(tmp_path / f"blocker{i}")
        blockers.append(nap_forever.remote(started))
    for i in range(2):
        wait_for_start(str(tmp_path / f"blocker{i}"), poll)

    queued_marker = tmp_path / "queued-started"
    queued = nap_forever.remote(str(queued_marker))
    strato.cancel(queued)
    with pytest.raises(TaskCancelledError):
        strato.get(queued, timeout=60)

    for ref in blockers:
        strato.cancel(ref)
    for ref in blockers:
        with pytest.raises(TaskCancelledError):
            strato.get(ref, timeout=60)
    # The cancelled queued task must never have started running.
    time.sleep(0.5)
    assert not queued_marker.exists()


def test_cancelling_a_finished_task_changes_nothing():
    ref = quick.remote("done")
    assert strato.get(ref) == "done"
    strato.cancel(ref)
    assert strato.get(ref) == "done"


def test_cancelled_tasks_give_their_cpus_back(tmp_path, poll):
    refs = []
    for i in range(2):
        started = str(tmp_path / f"s{i}")
        refs.append(nap_forever.remote(started))
        wait_for_start(started, poll)
    for ref in refs:
        strato.cancel(ref)
    for ref in refs:
        with pytest.raises(TaskCancelledError):
            strato.get(ref, timeout=60)
    # Both CPUs are free again: two new tasks finish promptly.
    assert strato.get([quick.remote(1), quick.remote(2)], timeout=60) == [1, 2]


def test_cancel_of_something_that_is_not_a_ref_is_a_type_error():
    with pytest.raises(TypeError):
        strato.cancel("not a ref")


def test_cancelling_a_task_waiting_for_its_arguments(tmp_path, poll):
    started = str(tmp_path / "upstream")
    upstream = nap_forever.remote(started)
    wait_for_start(started, poll)
    downstream = quick.remote(upstream)  # cannot start until upstream is done

    strato.cancel(downstream)
    with pytest.raises(TaskCancelledError):
        strato.get(downstream, timeout=60)

    strato.cancel(upstream)
    with pytest.raises(TaskCancelledError):
        strato.get(upstream, timeout=60)
