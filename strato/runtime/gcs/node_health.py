"""Which nodes went silent (pure logic): the GCS's health-check bookkeeping.

A node is dead once it has been silent for `timeout_s`, but never before `initial_delay_s`
has passed since it was first seen (Ray's health_check_initial_delay_ms: a node starting
up gets a grace period).
"""
from __future__ import annotations


class HealthTracker:
    def __init__(self, timeout_s: float, initial_delay_s: float = 0.0):
        self.timeout_s = timeout_s
        self.initial_delay_s = initial_delay_s
        self.last_seen: dict[bytes, float] = {}
        self.first_seen: dict[bytes, float] = {}

    def seen(self, node_id: bytes, now: float) -> None:
        self.last_seen[node_id] = now
        self.first_seen.setdefault(node_id, now)

    def forget(self, node_id: bytes) -> None:
        self.last_seen.pop(node_id, None)
        self.first_seen.pop(node_id, None)

    def expired(self, now: float) -> list[bytes]:
        """Nodes silent for longer than the timeout (and past their grace); forgotten once reported."""
        dead = [nid for nid, t in self.last_seen.items()
                if now - t > self.timeout_s and now - self.first_seen[nid] > self.initial_delay_s]
        for nid in dead:
            self.forget(nid)
        return dead
