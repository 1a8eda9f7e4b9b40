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


def test_a_new_node_gets_the_initial_delay_before_it_can_be_declared_dead():
    h = HealthTracker(timeout_s=1, initial_delay_s=5)
    h.seen(b"a", 0)
    assert h.expired(3) == []          # silent past the timeout, but still in its grace period
    assert h.expired(5.5) == [b"a"]
    h.seen(b"b", 10)                   # a node first seen later gets its own grace period
    assert h.expired(12) == []
    assert h.expired(15.5) == [b"b"]
