"""The task submitter's dispatch policy (core_worker/dispatch_policy.py), and the submitter applying it:
how many tasks each leased worker holds, and how many lease requests a class keeps out. No processes."""
import pytest

from strato.runtime.core_worker import dispatch_policy as dp
from strato.runtime.core_worker.dispatch_policy import DispatchPolicy
from strato.runtime.core_worker.submitter import ClassQueue, Lease, TaskEntry, TaskSubmitter
from strato.runtime.core_worker.task_state import TaskState


class L:
    """A lease as the policy sees it: a name and its tasks in flight."""

    def __init__(self, name, in_flight=0):
        self.name, self.in_flight = name, [None] * in_flight


# ------------------------------------------------------------------ the window
def test_one_task_per_worker_until_the_class_is_known_to_be_fast():
    assert DispatchPolicy().window() == 1                       # nothing ran yet
    assert DispatchPolicy(avg_s=0.010).window() == 1            # slow
    assert DispatchPolicy(avg_s=0.0021).window() == 1
    assert DispatchPolicy(avg_s=0.002).window() == dp.MAX_IN_FLIGHT == 16   # exactly FAST_TASK_S is fast
    assert DispatchPolicy(avg_s=0.0001).window() == 16


def test_the_first_run_time_sets_the_average_and_later_ones_move_it_by_a_fifth():
    p = DispatchPolicy()
    p.task_took(0.004)
    assert p.avg_s == 0.004 and p.window() == 1
    p.task_took(0.001)                                         # 0.8 * 0.004 + 0.2 * 0.001
    assert p.avg_s == pytest.approx(0.0034)
    # four more 1 ms tasks: 0.00292, 0.002536, 0.0022288, 0.00198304 -- fast only after the last
    for expected, window in [(0.00292, 1), (0.002536, 1), (0.0022288, 1), (0.00198304, 16)]:
        p.task_took(0.001)
        assert (p.avg_s, p.window()) == (pytest.approx(expected), window)


def test_one_slow_task_among_fast_ones_narrows_the_window_again():
    p = DispatchPolicy(avg_s=0.001)
    p.task_took(0.010)                                         # 0.8 * 0.001 + 0.2 * 0.010 = 0.0028
    assert p.avg_s == pytest.approx(0.0028) and p.window() == 1


# ------------------------------------------------------------------ which lease
@pytest.mark.parametrize("loads,window,chosen", [
    ([2, 0, 1], 16, 1),          # the fewest in flight
    ([1, 1, 1], 16, 0),          # the first of equals
    ([3, 1, 1], 16, 1),
    ([15, 16], 16, 0),           # one slot left
    ([16, 16], 16, None),        # all full
    ([0, 1], 1, 0),
    ([1, 1], 1, None),           # slow class: one each
    ([], 16, None),              # no lease yet
])
def test_the_next_task_goes_to_the_least_loaded_lease_with_room(loads, window, chosen):
    leases = [L(i, n) for i, n in enumerate(loads)]
    lease = DispatchPolicy.next_lease(leases, window)
    assert (lease.name if lease is not None else None) == chosen


# ------------------------------------------------------------------ lease requests
@pytest.mark.parametrize("queued,pending,wanted", [
    (0, 0, False),     # nothing queued
    (1, 0, True),
    (1, 1, False),     # never more requests out than tasks waiting
    (2, 1, True),
    (5, 1, True),
    (5, 2, False),     # at most MAX_PENDING_LEASE_REQUESTS out
    (100, 3, False),
])
def test_lease_requests_are_capped_by_the_queue_and_by_the_limit(queued, pending, wanted):
    assert dp.MAX_PENDING_LEASE_REQUESTS == 2
    assert DispatchPolicy.wants_lease(queued, pending) is wanted


# ------------------------------------------------------------------ the submitter applies it
class Conn:
    def __init__(self):
        self.sent = []

    def send(self, msg):
        self.sent.append(msg.task_id)


class Loop:
    """Records what the submitter schedules instead of running it."""

    def __init__(self):
        self.tasks, self.timers = [], []

    def create_task(self, coro):
        self.tasks.append(coro.cr_code.co_name)
        coro.close()

    def call_later(self, delay, fn, *args):
        timer = Timer()
        self.timers.append(timer)
        return timer


class Timer:
    cancelled = False

    def cancel(self):
        self.cancelled = True


class Config:
    lease_linger_s = 1.0


class CoreWorker:
    address, job_id, config = "127.0.0.1:1", b"\0\0\0\1", Config()

    def __init__(self):
        self.loop = Loop()


KEY = (b"f" * 8, (("CPU", 1.0),), "DEFAULT", None)


def entry(i):
    return TaskEntry(bytes([i]) * 16, KEY[0], "f", b"", [], [], 1, {"CPU": 1.0}, 0, False, None, "DEFAULT", None)


def submitter_with_leases(n, avg_s=None):
    sub = TaskSubmitter(CoreWorker())
    q = sub.queues[KEY] = ClassQueue(KEY)
    q.policy.avg_s = avg_s
    leases = [Lease(bytes([i]), b"w%d" % i, f"127.0.0.1:{i}", Conn(), None, KEY) for i in range(n)]
    q.leases.extend(leases)
    return sub, q, leases


def enqueue(sub, n):
    entries = [entry(i + 1) for i in range(n)]
    for e in entries:
        sub._enqueue(e)
    return entries


def test_a_class_of_unknown_speed_gets_one_task_per_lease_and_at_most_two_lease_requests():
    sub, q, (a, b) = submitter_with_leases(2)
    e1, e2, *rest = enqueue(sub, 5)
    assert a.conn.sent == [e1.task_id] and b.conn.sent == [e2.task_id]
    assert list(q.tasks) == rest and all(e.state is TaskState.PENDING_LEASE for e in rest)
    # the third task asked for a lease, the fourth for a second, the fifth found two out
    assert sub.cw.loop.tasks == ["_request_lease", "_request_lease"] and q.pending_requests == 2


def test_a_fast_class_fills_its_leases_evenly():
    sub, q, (a, b) = submitter_with_leases(2, avg_s=0.001)
    e = enqueue(sub, 5)
    assert a.conn.sent == [e[0].task_id, e[2].task_id, e[4].task_id]
    assert b.conn.sent == [e[1].task_id, e[3].task_id]
    assert not q.tasks and sub.cw.loop.tasks == []


def test_a_full_fast_class_queues_and_asks_for_leases():
    sub, q, (a,) = submitter_with_leases(1, avg_s=0.001)
    enqueue(sub, 20)
    assert len(a.conn.sent) == 16 and len(q.tasks) == 4
    assert sub.cw.loop.tasks == ["_request_lease", "_request_lease"]


def test_no_lease_yet_means_one_request_per_queued_task_up_to_the_cap():
    sub, q, _ = submitter_with_leases(0)
    enqueue(sub, 1)
    assert sub.cw.loop.tasks == ["_request_lease"]
    enqueue(sub, 3)
    assert sub.cw.loop.tasks == ["_request_lease", "_request_lease"] and len(q.tasks) == 4


def test_leases_arriving_for_a_waiting_queue_take_what_their_window_allows_in_one_dispatch():
    sub, q, _ = submitter_with_leases(0, avg_s=0.001)
    e = enqueue(sub, 40)
    _, _, (a, b) = submitter_with_leases(2)
    q.leases.extend([a, b])
    sub._dispatch(q)
    assert a.conn.sent == [x.task_id for x in e[0:32:2]] and b.conn.sent == [x.task_id for x in e[1:32:2]]
    assert len(q.tasks) == 8


def test_an_idle_lease_lingers_and_a_push_stops_its_timer():
    sub, q, (a, b) = submitter_with_leases(2)
    enqueue(sub, 1)
    assert a.linger is None and b.linger is not None          # b has nothing to do: it may be returned
    timer = b.linger
    enqueue(sub, 1)
    assert timer.cancelled and b.linger is None
