"""How an owner hands one scheduling class's queued tasks to its leased workers (pure: no IO).

    submitter.ClassQueue: queued tasks, leases (each with its tasks in flight), lease requests pending
      window()                        how many tasks one leased worker may hold: 1 until the class
                                      is known to be fast (average run <= FAST_TASK_S), then MAX_IN_FLIGHT
      next_lease(leases, window)      where the next queued task goes: the lease with the fewest tasks
                                      in flight (the first of equals), or None when every one is full
      wants_lease(queued, pending)    ask for one more lease? while fewer requests are pending than
                                      tasks are queued, and fewer than MAX_PENDING_LEASE_REQUESTS
      task_took(exec_s)               a finished task's run time, into the class's moving average

The submitter (submitter.py) is the IO shell: it pushes each task to the
lease `next_lease` names until it says None, sends at most one new lease
request per dispatch while `wants_lease` says so, and reports run times. One
policy lives with each class queue. This runs for every task, so it only
reads lengths and compares numbers: no allocation per call.
"""
from __future__ import annotations

#: A class whose tasks run this fast on average (seconds) gets several tasks in flight per worker.
FAST_TASK_S = 0.002
#: Tasks in flight per leased worker for a fast class (the round trip would dominate one at a time).
MAX_IN_FLIGHT = 16
#: Lease requests one class may have outstanding at once.
MAX_PENDING_LEASE_REQUESTS = 2
#: Weight of the newest run time in the moving average.
NEWEST_WEIGHT = 0.2
_OLDER_WEIGHT = 1.0 - NEWEST_WEIGHT


class DispatchPolicy:
    """One scheduling class's dispatch rules, with the class's average task run time."""

    __slots__ = ("avg_s",)

    def __init__(self, avg_s: float | None = None):
        self.avg_s = avg_s          # None until a task of the class has finished

    def task_took(self, exec_s: float) -> None:
        """A task of the class ran for `exec_s` seconds: the first sets the average, later ones move it."""
        avg = self.avg_s
        self.avg_s = exec_s if avg is None else _OLDER_WEIGHT * avg + NEWEST_WEIGHT * exec_s

    def window(self) -> int:
        """Tasks one leased worker may hold at once: one until the class is known to be fast."""
        avg = self.avg_s
        if avg is None or avg > FAST_TASK_S:
            return 1
        return MAX_IN_FLIGHT

    @staticmethod
    def next_lease(leases, window: int):
        """The lease to push the next task to: the fewest in flight, the first of equals; None when
        there is none, or each already holds `window` tasks. `leases`: objects with an `in_flight` sized
        collection (submitter.Lease)."""
        best, least = None, window
        for lease in leases:
            n = len(lease.in_flight)
            if n < least:
                best, least = lease, n
        return best

    @staticmethod
    def wants_lease(queued: int, pending: int) -> bool:
        """Ask a raylet for another lease, with `queued` tasks waiting and `pending` requests out?"""
        return pending < queued and pending < MAX_PENDING_LEASE_REQUESTS
