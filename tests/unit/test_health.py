"""The GCS's health bookkeeping."""
from strato.runtime.gcs.node_health import HealthTracker


def test_silent_node_expires_once():
    h = HealthTracker(timeout_s=3)
    h.seen(b"a", 0)
    h.seen(b"b", 0)
    h.seen(b"b", 2.5)
    assert h.expired(4) == [b"a"]
    assert h.expired(4) == []
    assert h.expired(6) == [b"b"]
