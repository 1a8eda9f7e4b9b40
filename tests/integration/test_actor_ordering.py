"""Calls from one caller run in the order they were submitted.

A plain actor (max_concurrency=1) runs one call at a time, and the calls of
one caller (a driver, a task, another actor) run in that caller's
submission order, even when an earlier call waits for an argument that a
slow task is still computing. Calls of different callers may interleave.
"""
import time

import pytest

import strato

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]


@strato.remote
class Log:
    def __init__(self):
        self.entries = []

    def append(self, item):
        self.entries.append(item)
        return len(self.entries)

    def read(self):
        return list(self.entries)


@strato.remote
def slow_value(value, delay_s):
    time.sleep(delay_s)
    return value


def test_1000_calls_from_one_caller_run_in_submission_order():
    log = Log.remote()
    refs = [log.append.remote(i) for i in range(1000)]
    # Each call saw exactly the calls before it: the i-th call made the log i+1 long.
    assert strato.get(refs, timeout=120) == list(range(1, 1001))
    assert strato.get(log.read.remote(), timeout=30) == list(range(1000))
    strato.kill(log)


def test_a_call_waiting_for_its_argument_holds_back_the_calls_after_it():
    log = Log.remote()
    strato.get(log.read.remote(), timeout=60)          # the actor is up
    log.append.remote(slow_value.remote("first", 1.0))  # its argument takes a second
    log.append.remote("second")                          # ready at once, but submitted later
    log.append.remote("third")
    assert strato.get(log.read.remote(), timeout=60) == ["first", "second", "third"]
    strato.kill(log)


def test_calls_submitted_from_a_task_keep_that_tasks_order():
    @strato.remote
    def write(log, tag, n):
        strato.get([log.append.remote((tag, i)) for i in range(n)])
        return tag

    log = Log.remote()
    assert strato.get([write.remote(log, tag, 200) for tag in "abc"], timeout=120) == list("abc")
    entries = strato.get(log.read.remote(), timeout=30)
    assert len(entries) == 600
    for tag in "abc":
        assert [i for t, i in entries if t == tag] == list(range(200)), f"caller {tag} out of order"
    strato.kill(log)


def test_calls_from_an_actor_keep_that_actors_order():
    @strato.remote
    class Writer:
        def write(self, log, n):
            return strato.get([log.append.remote(i) for i in range(n)])

    log, writer = Log.remote(), Writer.remote()
    assert strato.get(writer.write.remote(log, 500), timeout=120) == list(range(1, 501))
    assert strato.get(log.read.remote(), timeout=30) == list(range(500))
    strato.kill(writer)
    strato.kill(log)


def test_results_can_be_fetched_in_any_order():
    log = Log.remote()
    refs = [log.append.remote(i) for i in range(50)]
    assert strato.get(list(reversed(refs)), timeout=60) == list(range(50, 0, -1))
    strato.kill(log)
