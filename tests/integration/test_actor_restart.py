"""Fault tolerance: actors that crash, restart, or fail to start.

* When an actor's process dies, the actor restarts up to `max_restarts`
  times (-1: forever); each restart runs the constructor again, so the
  state starts over.
* A call that was running when the process died is retried on the
  restarted actor up to `max_task_retries` times; without retries it fails.
* A call that cannot run fails with `ActorDiedError`, which is also a
  `RayActorError`, and its message says why the actor died: killed, its
  process exited with some code, its constructor raised, its node died
  (the node case is in test_actor_node_death.py).
* An exception in `__init__` leaves the actor dead (no restarts) and every
  call shows that exception.

The actors append a line to a file in tmp_path each time their constructor
runs, so the tests can count incarnations exactly.
"""
import os

import pytest

import strato
from strato.exceptions import ActorDiedError, RayActorError

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(180)]


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@strato.remote
class Fragile:
    def __init__(self, births_file):
        self.births_file = births_file
        with open(births_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        self.count = 0

    def incr(self):
        self.count += 1
        return self.count

    def pid(self):
        return os.getpid()

    def crash(self, exit_code=1):
        os._exit(exit_code)

    def crash_once(self, marker_file):
        """Dies the first time it is called (for one marker file), succeeds afterwards."""
        with open(marker_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        if len(lines(marker_file)) == 1:
            os._exit(7)
        return self.incr()


# --- crash mid-call ------------------------------------------------------------------

def test_a_crash_mid_call_without_retries_fails_the_call_and_the_actor_restarts(tmp_path):
    births = str(tmp_path / "births")
    a = Fragile.options(max_restarts=1).remote(births)
    strato.get([a.incr.remote() for _ in range(3)], timeout=60)
    first_pid = strato.get(a.pid.remote(), timeout=30)

    with pytest.raises(ActorDiedError) as info:
        strato.get(a.crash.remote(), timeout=60)
    assert isinstance(info.value, RayActorError)

    # The restarted actor ran its constructor again: the count starts over, in a new process.
    assert strato.get(a.incr.remote(), timeout=60) == 1
    assert strato.get(a.pid.remote(), timeout=30) != first_pid
    assert len(lines(births)) == 2
    strato.kill(a)


def test_a_crash_mid_call_with_max_task_retries_reruns_the_call_on_the_restarted_actor(tmp_path):
    births, marker = str(tmp_path / "births"), str(tmp_path / "attempts")
    a = Fragile.options(max_restarts=1, max_task_retries=1).remote(births)
    strato.get(a.incr.remote(), timeout=60)
    # The first attempt kills the process; the retry runs on the fresh instance (count 0 -> 1).
    assert strato.get(a.crash_once.remote(marker), timeout=90) == 1
    attempt_pids = lines(marker)
    assert len(attempt_pids) == 2 and attempt_pids[0] != attempt_pids[1]
    assert len(lines(births)) == 2
    strato.kill(a)


def test_calls_queued_behind_a_crash_run_on_the_restarted_actor_when_retries_allow(tmp_path):
    births, marker = str(tmp_path / "births"), str(tmp_path / "attempts")
    a = Fragile.options(max_restarts=1, max_task_retries=2).remote(births)
    strato.get(a.incr.remote(), timeout=60)
    crash = a.crash_once.remote(marker)
    after = [a.incr.remote() for _ in range(5)]
    assert strato.get(crash, timeout=90) == 1
    assert strato.get(after, timeout=60) == [2, 3, 4, 5, 6], "the later calls keep their order after the retry"
    strato.kill(a)


def test_retries_do_not_help_when_the_actor_cannot_restart(tmp_path):
    a = Fragile.options(max_restarts=0, max_task_retries=3).remote(str(tmp_path / "births"))
    with pytest.raises(ActorDiedError):
        strato.get(a.crash.remote(), timeout=60)


# --- why it died -------------------------------------------------------------------

def test_a_dead_actor_reports_the_exit_code_of_its_process(tmp_path):
    a = Fragile.remote(str(tmp_path / "births"))       # max_restarts defaults to 0
    strato.get(a.incr.remote(), timeout=60)
    with pytest.raises(ActorDiedError) as in_flight:
        strato.get(a.crash.remote(42), timeout=60)
    assert "42" in str(in_flight.value), f"the message should give the exit code: {in_flight.value}"

    # Later calls fail at once with the same cause.
    with pytest.raises(ActorDiedError) as later:
        strato.get(a.incr.remote(), timeout=30)
    assert isinstance(later.value, RayActorError)
    assert "42" in str(later.value), str(later.value)


def test_max_restarts_bounds_the_number_of_restarts(tmp_path):
    births = str(tmp_path / "births")
    a = Fragile.options(max_restarts=2).remote(births)
    for _ in range(2):
        assert strato.get(a.incr.remote(), timeout=60) == 1
        with pytest.raises(ActorDiedError):
            strato.get(a.crash.remote(3), timeout=60)
    # Two restarts used; the third incarnation is the last.
    assert strato.get(a.incr.remote(), timeout=60) == 1
    with pytest.raises(ActorDiedError):
        strato.get(a.crash.remote(3), timeout=60)
    with pytest.raises(ActorDiedError) as info:
        strato.get(a.incr.remote(), timeout=60)
    assert "3" in str(info.value)
    assert len(lines(births)) == 3


def test_max_restarts_minus_one_restarts_forever(tmp_path):
    births = str(tmp_path / "births")
    a = Fragile.options(max_restarts=-1).remote(births)
    for _ in range(4):
        assert strato.get(a.incr.remote(), timeout=60) == 1
        with pytest.raises(ActorDiedError):
            strato.get(a.crash.remote(), timeout=60)
    assert strato.get(a.incr.remote(), timeout=60) == 1
    assert len(lines(births)) == 5
    strato.kill(a)


# --- the constructor raised --------------------------------------------------------

@strato.remote
class BadConfig:
    def __init__(self, births_file):
        with open(births_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        raise ValueError("bad config: port must be positive")

    def ping(self):
        return "pong"


def test_an_exception_in_the_constructor_leaves_the_actor_dead_and_every_call_shows_it(tmp_path):
    a = BadConfig.remote(str(tmp_path / "births"))
    for _ in range(2):
        with pytest.raises(ActorDiedError) as info:
            strato.get(a.ping.remote(), timeout=60)
        assert isinstance(info.value, RayActorError)
        message = str(info.value)
        assert "ValueError" in message and "bad config: port must be positive" in message, message


def test_a_constructor_that_raises_is_not_restarted(tmp_path):
    births = str(tmp_path / "births")
    a = BadConfig.options(max_restarts=3).remote(births)
    with pytest.raises(ActorDiedError):
        strato.get(a.ping.remote(), timeout=60)
    with pytest.raises(ActorDiedError):
        strato.get(a.ping.remote(), timeout=30)
    assert len(lines(births)) == 1


def test_a_constructor_argument_that_failed_leaves_the_actor_dead():
    @strato.remote
    def broken():
        raise RuntimeError("upstream failed")

    @strato.remote
    class Needs:
        def __init__(self, value):
            self.value = value

        def get(self):
            return self.value

    a = Needs.remote(broken.remote())
    with pytest.raises(ActorDiedError) as info:
        strato.get(a.get.remote(), timeout=60)
    assert "upstream failed" in str(info.value)


# --- killed ------------------------------------------------------------------------

def test_a_killed_actor_says_it_was_killed(tmp_path):
    a = Fragile.options(max_restarts=5).remote(str(tmp_path / "births"))
    strato.get(a.incr.remote(), timeout=60)
    strato.kill(a)                     # no_restart=True by default: max_restarts does not apply
    with pytest.raises(ActorDiedError) as info:
        strato.get(a.incr.remote(), timeout=60)
    assert "kill" in str(info.value).lower(), str(info.value)
