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


def test_a_terminal_event_after_its_submission_went_out_still_says_where_it_ran():
    b = buffer()
    b.record(b"t1", "f", "PENDING_ARGS", now=1.0)
    b.drain()
    b.record(b"t1", "f", "FINISHED", ran_on=(b"N2", b"W2", 1.5), now=2.0)
    (e,), _ = b.drain()
    assert (e.node_id, e.worker_id, e.start_time, e.submit_time) == (b"N2", b"W2", 1.5, 0.0)


def test_events_travel_in_columns_and_come_back_as_rows_with_the_same_fields():
    """batch_columns (the core worker's flush) -> TaskEventBatch -> rows (the GCS): every field survives,
    ids split back, a missing tag is "" and a missing parent b""."""
    import pytest

    from strato.runtime import ids
    from strato.runtime.core_worker.task_events import batch_columns
    from strato.runtime.gcs.task_event_rows import TaskEventRow, rows
    from strato.runtime.protocol import gcs_pb2

    a1, a2, r1 = (ids.object_id(bytes([i]) * ids.TASK_ID_LEN, 0) for i in (1, 2, 3))
    b = buffer(worker=True)
    b.record(b"t" * 16, "f", "PENDING_ARGS", tag=("cell", 3), arg_ids=(a1, a2), return_ids=(r1,), parent=None,
             now=1.0)
    b.record(b"u" * 16, "A.g", "RUNNING", 2, actor_id=b"a" * 16, now=2.0)
    b.record(b"v" * 16, "h", "FAILED", 1, "boom", ran_on=(b"N3", b"W3", 2.5), now=3.0)
    events, _ = b.drain()
    batch = gcs_pb2.TaskEventBatch.FromString(
        gcs_pb2.TaskEventBatch(job_id=b"J", **batch_columns(events)).SerializeToString())
    got = rows(batch)
    assert [type(r) for r in got] == [TaskEventRow] * 3
    first, running, failed = sorted(got, key=lambda r: r.task_id)
    assert (first.name, first.state, first.time, first.tag, first.job_id) == ("f", "PENDING_ARGS", 1.0, "('cell', 3)", b"J")
    assert (first.arg_ids, first.return_ids, first.parent_task_id) == ((a1, a2), (r1,), b"")
    assert (running.state, running.attempt, running.actor_id, running.node_id, running.worker_id) == \
        ("RUNNING", 2, b"a" * 16, b"N", b"W")
    assert (failed.error, failed.start_time, failed.node_id, failed.arg_ids) == ("boom", 2.5, b"N3", ())
    message = first.to_message()
    assert list(message.arg_ids) == [a1, a2] and message.tag == "('cell', 3)"
    assert batch_columns([]) == {} and rows(gcs_pb2.TaskEventBatch()) == []
    with pytest.raises(ValueError, match="differ in length"):
        rows(gcs_pb2.TaskEventBatch(task_id=[b"x"], name=[]))
