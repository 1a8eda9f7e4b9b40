"""The task event buffer (core_worker/task_events.py): what one process sends the GCS."""
from strato.runtime.core_worker.task_events import TaskEventBuffer


def buffer(capacity=10, worker=False):
    return TaskEventBuffer(capacity, node_id=b"N", worker_id=b"W", is_worker=worker)


def test_a_task_that_ends_before_the_flush_costs_one_event_with_its_submission_fields():
    b = buffer()
    b.record(b"t1", "f", "PENDING_ARGS", tag=7, arg_ids=(b"a",), return_ids=(b"r",), parent=b"p", now=10.0)
    b.record(b"t1", "f", "FINISHED", ran_on=(b"N2", b"W2", 11.0), now=12.0)
    events, dropped = b.drain()
    assert dropped == 0 and len(events) == 1
    e = events[0]
    assert (e.state, e.tag, e.arg_ids, e.return_ids, e.parent) == ("FINISHED", 7, (b"a",), (b"r",), b"p")
    assert (e.submit_time, e.start_time, e.time, e.node_id, e.worker_id) == (10.0, 11.0, 12.0, b"N2", b"W2")


def test_after_a_flush_the_terminal_event_is_its_own():
    b = buffer()
    b.record(b"t1", "f", "PENDING_ARGS", now=1.0)
    assert [e.state for e in b.drain()[0]] == ["PENDING_ARGS"]
    b.record(b"t1", "f", "FAILED", error="boom", now=2.0)
    (e,), _ = b.drain()
    assert (e.state, e.error, e.submit_time) == ("FAILED", "boom", 0.0)


def test_a_worker_sends_running_only_for_tasks_still_running_at_the_flush():
    b = buffer(worker=True)
    b.record(b"short", "f", "RUNNING")
    b.record(b"long", "g", "RUNNING")
    b.end_running(b"short")
    assert [e.task_id for e in b.drain()[0]] == [b"long"]
    assert not b.pending()


def test_past_capacity_events_are_counted_as_dropped():
    b = buffer(capacity=2)
    for i in range(5):
        b.record(bytes([i]), "f", "PENDING_ARGS")
    events, dropped = b.drain()
    assert len(events) == 2 and dropped == 3
    assert b.drain() == ([], 0)
