"""The borrowing ack gate (pure): actions wait for the borrower registrations sent before them.

A borrower tells owners "I hold these refs" (AddBorrower) and later "I let go"
(RemoveBorrower). A release, or a task result that hands refs back, must not
overtake an earlier registration: the owner would free what the borrower has
just taken. So:

    sent()         a registration went out: returns its number
    gate(action)   nothing unacknowledged: [action] (run it now); else it is held behind
                   every registration sent so far, and [] is returned
    acked(n)       registration n was answered (or failed): returns the held actions now
                   free, in the order they were gated

Registrations sent after an action never hold it up. The core worker only
runs what these return (core_worker.py, loop thread).
"""
from __future__ import annotations

import collections


class AckGate:
    def __init__(self):
        self.last = 0                                   # number of the last registration sent
        self._unacked: set[int] = set()
        self._held: collections.deque = collections.deque()   # (last number before it, action)

    def sent(self) -> int:
        self.last += 1
        self._unacked.add(self.last)
        return self.last

    def gate(self, action) -> list:
        if not self._unacked:
            return [action]
        self._held.append((self.last, action))
        return []

    def acked(self, number: int) -> list:
        self._unacked.discard(number)
        oldest = min(self._unacked) if self._unacked else self.last + 1
        free = []
        while self._held and self._held[0][0] < oldest:
            free.append(self._held.popleft()[1])
        return free

    def waiting(self) -> int:
        """Registrations not acknowledged yet."""
        return len(self._unacked)
