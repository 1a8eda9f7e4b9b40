"""An unnamed actor ends when the last handle to it anywhere goes, as in Ray.

Handles are counted like object refs: copies passed to tasks and actors (as
arguments, inside values, in returns) are borrowers, and a pending call keeps
its actor alive until it finishes. Named and detached actors are not counted:
they live until their job ends or strato.kill.
"""
import gc
import os
import time

import pytest

import strato
from strato._testing import process_gone, wait_collected, wait_for
from strato.util.state import list_actors

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]


@strato.remote
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n

    def slow_incr(self, seconds):
        time.sleep(seconds)
        return self.incr()

    def pid(self):
        return os.getpid()


@strato.remote
class Holder:
    def __init__(self, handles):
        self.handles = list(handles)

    def call(self):
        return strato.get(self.handles[0].incr.remote())

    def drop(self):
        self.handles = []


@strato.remote
def call_through(handles):
    return strato.get(handles[0].incr.remote())


@strato.remote
def make_counter():
    c = Counter.remote()
    strato.get(c.incr.remote())
    return [c]


def actor_info(actor_id: str) -> dict:
    (info,) = [a for a in list_actors() if a["actor_id"] == actor_id]
    return info


def state_of(handle):
    return actor_info(handle.actor_id)


def wait_dead(actor_id: str, timeout=20.0) -> dict:
    """The actor's entry once it is DEAD (or when `timeout` runs out), collecting garbage meanwhile."""
    wait_collected(lambda: actor_info(actor_id)["state"] == "DEAD", timeout)
    return actor_info(actor_id)


def test_dropping_the_last_handle_ends_the_actor_and_its_process():
    c = Counter.remote()
    pid = strato.get(c.pid.remote())
    actor_id = c.actor_id
    del c
    info = wait_dead(actor_id)
    assert info["state"] == "DEAD"
    assert "out of scope" in info["death_cause"]
    assert wait_for(lambda: process_gone(pid), 20), f"the actor's process {pid} is still running"


def test_a_call_on_a_temporary_handle_still_returns_its_result():
    assert strato.get(Counter.remote().slow_incr.remote(0.3)) == 1


def test_a_pending_call_keeps_its_actor_alive_until_it_finishes():
    c = Counter.remote()
    actor_id = c.actor_id
    ref = c.slow_incr.remote(0.5)
    del c
    gc.collect()
    assert strato.get(ref) == 1
    assert wait_dead(actor_id)["state"] == "DEAD"


def test_an_actor_holding_a_handle_keeps_that_actor_alive():
    c = Counter.remote()
    actor_id = c.actor_id
    holder = Holder.remote([c])
    del c
    gc.collect()
    time.sleep(0.5)
    assert strato.get(holder.call.remote()) == 1
    assert strato.get(holder.call.remote()) == 2
    strato.get(holder.drop.remote())
    assert wait_dead(actor_id)["state"] == "DEAD"


def test_a_handle_passed_to_a_task_works_after_the_driver_dropped_its_own():
    c = Counter.remote()
    actor_id = c.actor_id
    ref = call_through.remote([c])
    del c
    assert strato.get(ref) == 1
    assert wait_dead(actor_id)["state"] == "DEAD"


def test_an_actor_created_in_a_task_lives_while_its_returned_handle_does():
    (c,) = strato.get(make_counter.remote())
    time.sleep(0.5)
    assert strato.get(c.incr.remote()) == 2
    actor_id = c.actor_id
    del c
    assert wait_dead(actor_id)["state"] == "DEAD"


def test_named_and_detached_actors_outlive_their_handles():
    named = Counter.options(name="lifetime-named").remote()
    detached = Counter.options(name="lifetime-detached", lifetime="detached").remote()
    ids = named.actor_id, detached.actor_id
    strato.get([named.incr.remote(), detached.incr.remote()])
    del named, detached
    gc.collect()
    time.sleep(1.0)
    assert [a["state"] for a in list_actors() if a["actor_id"] in ids] == ["ALIVE", "ALIVE"]
    for name in ("lifetime-named", "lifetime-detached"):
        handle = strato.get_actor(name)
        assert strato.get(handle.incr.remote()) == 2
        strato.kill(handle)
