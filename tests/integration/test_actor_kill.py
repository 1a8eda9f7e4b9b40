"""`strato.kill(actor)`: stop an actor now.

With the default `no_restart=True` the actor is dead for good, whatever its
max_restarts: calls in flight and later calls fail with ActorDiedError
saying it was killed, its worker process exits and its resources are given
back. With `no_restart=False` it restarts like after a crash, if its
max_restarts allows.
"""
import os
import time

import pytest

import strato
from strato._testing import process_gone
from strato.exceptions import ActorDiedError, RayActorError

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]


@strato.remote
class Service:
    def __init__(self):
        self.calls = 0

    def call(self):
        self.calls += 1
        return self.calls

    def pid(self):
        return os.getpid()

    def hang(self, seconds):
        time.sleep(seconds)
        return "finished"


def test_calls_after_kill_fail_with_actor_died_error():
    s = Service.remote()
    assert strato.get(s.call.remote(), timeout=60) == 1
    strato.kill(s)
    with pytest.raises(ActorDiedError) as info:
        strato.get(s.call.remote(), timeout=30)
    assert isinstance(info.value, RayActorError)
    assert "kill" in str(info.value).lower()


def test_kill_interrupts_a_call_in_flight():
    s = Service.remote()
    strato.get(s.pid.remote(), timeout=60)
    ref = s.hang.remote(60)
    time.sleep(0.5)
    t0 = time.monotonic()
    strato.kill(s)
    with pytest.raises(ActorDiedError):
        strato.get(ref, timeout=30)
    assert time.monotonic() - t0 < 20, "the hanging call must not run to its end"


def test_kill_ends_the_actors_process(poll):
    s = Service.remote()
    pid = strato.get(s.pid.remote(), timeout=60)
    assert not process_gone(pid)
    strato.kill(s)
    assert poll(lambda: process_gone(pid), 20), f"the actor's process {pid} is still running"


def test_kill_gives_the_actors_resources_back(poll):
    before = strato.available_resources().get("CPU", 0)
    s = Service.options(num_cpus=1).remote()
    strato.get(s.call.remote(), timeout=60)
    assert poll(lambda: strato.available_resources().get("CPU", 0) == before - 1, 10)
    strato.kill(s)
    assert poll(lambda: strato.available_resources().get("CPU", 0) == before, 20), strato.available_resources()


def test_kill_ignores_max_restarts_by_default():
    s = Service.options(max_restarts=3).remote()
    strato.get(s.call.remote(), timeout=60)
    strato.kill(s)
    with pytest.raises(ActorDiedError):
        strato.get(s.call.remote(), timeout=60)


def test_kill_with_no_restart_false_restarts_the_actor():
    s = Service.options(max_restarts=1).remote()
    strato.get([s.call.remote() for _ in range(3)], timeout=60)
    old_pid = strato.get(s.pid.remote(), timeout=30)
    strato.kill(s, no_restart=False)
    # The constructor ran again in a new process: the call count starts over.
    assert strato.get(s.call.remote(), timeout=60) == 1
    assert strato.get(s.pid.remote(), timeout=30) != old_pid
    strato.kill(s)


def test_kill_with_no_restart_false_on_an_actor_without_restarts_leaves_it_dead():
    s = Service.remote()
    strato.get(s.call.remote(), timeout=60)
    strato.kill(s, no_restart=False)
    with pytest.raises(ActorDiedError):
        strato.get(s.call.remote(), timeout=60)


def test_killing_a_dead_actor_again_is_harmless():
    s = Service.remote()
    strato.get(s.call.remote(), timeout=60)
    strato.kill(s)
    strato.kill(s)
    with pytest.raises(ActorDiedError):
        strato.get(s.call.remote(), timeout=30)


def test_killing_one_actor_leaves_the_others_alone():
    a, b = Service.remote(), Service.remote()
    strato.get([a.call.remote(), b.call.remote()], timeout=60)
    strato.kill(a)
    assert strato.get(b.call.remote(), timeout=30) == 2
    strato.kill(b)


def test_an_actor_can_be_killed_from_a_task():
    @strato.remote
    def kill_it(handle):
        strato.kill(handle)
        return True

    s = Service.remote()
    strato.get(s.call.remote(), timeout=60)
    assert strato.get(kill_it.remote(s), timeout=60)
    with pytest.raises(ActorDiedError):
        strato.get(s.call.remote(), timeout=30)


def test_kill_takes_an_actor_handle():
    @strato.remote
    def f():
        return 1

    with pytest.raises(TypeError, match="actor handle"):
        strato.kill(f.remote())
