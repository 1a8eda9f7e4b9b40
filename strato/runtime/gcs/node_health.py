"""Which nodes went silent (pure logic): the GCS's health-check bookkeeping."""
from __future__ import annotations


class HealthTracker:
    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.last_seen: dict[bytes, float] = {}

    def seen(self, node_id: bytes, now: float) -> None:
        self.last_seen[node_id] = now

    def forget(self, node_id: bytes) -> None:
        self.last_seen.pop(node_id, None)

    def expired(self, now: float) -> list[bytes]:
        """Nodes silent for longer than the timeout; they are forgotten once reported."""
        dead = [nid for nid, t in self.last_seen.items() if now - t > self.timeout_s]
        for nid in dead:
            del self.last_seen[nid]
        return dead
