"""Folding task events into task records (the GCS's runtime/gcs/task_table.py) and the rows the
state API shapes from them (state_rows.py): no processes."""
import collections

import pytest

from strato.runtime.protocol import gcs_pb2
from strato.runtime.gcs import state_rows
from strato.runtime.gcs.task_table import TaskTable, cell_of

T1, T2 = b"\x01" * 16, b"\x02" * 16
OWNER_NODE, WORKER_NODE = b"\xaa" * 16, b"\xbb" * 16


def ev(task_id, s, t, attempt=0, **kw):
    return gcs_pb2.TaskEvent(task_id=task_id, name=kw.pop("name", "f"), state=s, time=t, attempt=attempt, **kw)


def submitted(task_id, t=1.0, **kw):
    return ev(task_id, "PENDING_ARGS", t, node_id=OWNER_NODE, job_id=b"\0\0\0\1", tag="cell:7:abc",
              return_ids=[task_id + b"\0\0\0\0"], **kw)


def test_a_task_goes_pending_running_finished():
    table = TaskTable()
    table.apply_all([submitted(T1), ev(T1, "RUNNING", 2.0, node_id=WORKER_NODE, worker_id=b"w" * 16),
                     ev(T1, "FINISHED", 3.0, node_id=OWNER_NODE)])
    d = state_rows.task_dict(table.tasks[T1], detail=True)
    assert d["state"] == "FINISHED"
    assert d["node_id"] == WORKER_NODE.hex()          # where it ran, not where its owner is
    assert d["worker_id"] == (b"w" * 16).hex()
    assert (d["creation_time_ms"], d["start_time_ms"], d["end_time_ms"]) == (1000, 2000, 3000)
    assert d["cell"] == 7 and d["tag"] == "cell:7:abc"
    assert d["type"] == "NORMAL_TASK" and d["job_id"] == "00000001"


def test_events_arriving_out_of_order_fold_to_the_same_state():
    events = [submitted(T1), ev(T1, "RUNNING", 2.0, node_id=WORKER_NODE), ev(T1, "FINISHED", 3.0)]
    for order in ([2, 1, 0], [1, 2, 0], [0, 2, 1]):
        table = TaskTable()
        table.apply_all([events[i] for i in order])
        rec = table.tasks[T1]
        assert rec.event_state == "FINISHED", order
        assert rec.node_id == WORKER_NODE
        assert rec.creation_time == 1.0


def test_a_retry_starts_a_new_attempt_and_its_state_wins():
    table = TaskTable()
    table.apply_all([submitted(T1), ev(T1, "RUNNING", 2.0, node_id=OWNER_NODE),
                     ev(T1, "RETRY", 3.0, attempt=1), ev(T1, "RUNNING", 4.0, attempt=1, node_id=WORKER_NODE),
                     ev(T1, "FAILED", 5.0, attempt=1, error="ValueError: bad")])
    d = state_rows.task_dict(table.tasks[T1], detail=True)
    assert (d["state"], d["attempt_number"], d["node_id"]) == ("FAILED", 1, WORKER_NODE.hex())
    assert d["error_type"] == "ValueError" and d["error_message"] == "ValueError: bad"


def test_a_late_event_of_an_earlier_attempt_does_not_go_back():
    table = TaskTable()
    table.apply_all([submitted(T1), ev(T1, "RETRY", 3.0, attempt=1), ev(T1, "RUNNING", 2.0, attempt=0)])
    assert table.tasks[T1].event_state == "RETRY"
    assert state_rows.task_dict(table.tasks[T1])["state"] == "PENDING_NODE_ASSIGNMENT"


def test_cancelled_is_failed_with_task_cancelled_in_rays_shape():
    table = TaskTable()
    table.apply_all([submitted(T1), ev(T1, "CANCELLED", 2.0, error="TaskCancelledError: x")])
    d = state_rows.task_dict(table.tasks[T1])
    assert (d["state"], d["error_type"]) == ("FAILED", "TASK_CANCELLED")


def test_actor_tasks_carry_the_actor():
    table = TaskTable()
    table.apply(submitted(T1, actor_id=b"A" * 16))
    d = state_rows.task_dict(table.tasks[T1])
    assert d["type"] == "ACTOR_TASK" and d["actor_id"] == (b"A" * 16).hex()


def test_versions_say_what_changed():
    table = TaskTable()
    table.apply_all([submitted(T1), submitted(T2)])
    v = table.version
    table.apply(ev(T1, "RUNNING", 2.0))
    assert [r.task_id for r in table.changed_since(v)] == [T1]
    table.apply(ev(T1, "RUNNING", 2.0))              # nothing new: no new version
    assert [r.task_id for r in table.changed_since(v)] == [T1]
    assert table.changed_since(table.version) == []


def test_catch_up_folds_only_new_events_and_survives_the_buffer_wrapping():
    buf = collections.deque(maxlen=4)
    table = TaskTable()
    buf.extend([submitted(T1), ev(T1, "RUNNING", 2.0)])
    assert table.catch_up(buf) == 2
    assert table.catch_up(buf) == 0
    buf.append(ev(T1, "FINISHED", 3.0))
    assert table.catch_up(buf) == 1
    # More events than the buffer holds arrive between two reads: refold what is left.
    buf.extend([submitted(T2), ev(T2, "RUNNING", 2.0), ev(T2, "FINISHED", 3.0), submitted(b"\x03" * 16)])
    assert table.catch_up(buf) == 4
    assert {r.event_state for r in table.tasks.values()} == {"FINISHED", "PENDING_ARGS"}
    assert len(table.tasks) == 3


def test_the_table_keeps_the_newest_tasks_dropping_finished_ones_first():
    table = TaskTable(max_tasks=10)
    for i in range(10):
        tid = bytes([i]) * 16
        table.apply(submitted(tid))
        if i < 5:
            table.apply(ev(tid, "FINISHED", 2.0))
    table.apply(submitted(b"\xff" * 16))
    assert len(table.tasks) <= 10 and table.evicted >= 1
    assert all(bytes([i]) * 16 in table.tasks for i in range(5, 10))   # pending ones kept
    assert b"\xff" * 16 in table.tasks


def test_summarize_counts_per_function_and_state():
    table = TaskTable()
    table.apply_all([submitted(T1, name="f"), ev(T1, "FINISHED", 2.0, name="f"), submitted(T2, name="g")])
    s = state_rows.summarize([state_rows.task_dict(r) for r in table.records()])["cluster"]
    assert s["total_tasks"] == 2
    assert s["summary"]["f"]["state_counts"] == {"FINISHED": 1}
    assert s["summary"]["g"]["state_counts"] == {"PENDING_ARGS_AVAIL": 1}


@pytest.mark.parametrize("tag,cell", [("cell:12:msg", 12), ("", None), ("job:3", None), ("cell:x:y", None)])
def test_cell_of_a_tag(tag, cell):
    assert cell_of(tag) == cell


def test_an_actor_constructor_is_a_creation_task_that_ends_with_the_actor():
    actor = b"C" * 16
    table = TaskTable()
    table.apply(ev(actor, "RUNNING", 2.0, name="Counter.__init__", actor_id=actor, node_id=WORKER_NODE))
    rec = table.tasks[actor]
    assert rec.type == "ACTOR_CREATION_TASK" and actor in table.open_creations
    assert not rec.creation_done("PENDING_CREATION", 3.0)
    assert rec.creation_done("ALIVE", 3.0)
    assert state_rows.task_dict(rec)["state"] == "FINISHED"


def test_one_coalesced_terminal_event_stands_for_the_whole_task():
    # A task submitted and finished between two flushes of its owner: one event carries it all.
    table = TaskTable()
    table.apply_all([ev(T1, "PENDING_ARGS", 1.0, return_ids=[T1 + b"\0\0\0\0"], tag="cell:3:x"),
                     ev(T2, "FINISHED", 3.0, submit_time=1.5, start_time=2.0, node_id=WORKER_NODE,
                        worker_id=b"w" * 16, tag="cell:3:x", arg_ids=[T1 + b"\0\0\0\0"], parent_task_id=T1,
                        job_id=b"\0\0\0\1")])
    d = state_rows.task_dict(table.tasks[T2], detail=True)
    assert d["state"] == "FINISHED" and d["cell"] == 3
    assert (d["creation_time_ms"], d["start_time_ms"], d["end_time_ms"]) == (1500, 2000, 3000)
    assert d["node_id"] == WORKER_NODE.hex() and d["worker_id"] == (b"w" * 16).hex()
    assert d["arg_ids"] == [(T1 + b"\0\0\0\0").hex()]


def test_grouped_edges_appear_whichever_end_is_folded_first():
    # The child's owner (a worker) may report before the parent's owner (the driver) does.
    parent, child, consumer = b"\x03" * 16, b"\x04" * 16, b"\x05" * 16
    out = parent + b"\0\0\0\0"
    table = TaskTable()
    table.apply_all([
        ev(child, "PENDING_ARGS", 2.0, name="square", parent_task_id=parent, tag="cell:1:a"),
        ev(consumer, "PENDING_ARGS", 2.5, name="total", arg_ids=[out], tag="cell:1:a"),
        ev(parent, "FINISHED", 3.0, name="outer", submit_time=1.0, return_ids=[out], tag="cell:1:a"),
    ])
    edges = dict(table.group_edges)
    assert edges[((1, "outer"), (1, "square"), "call")] == 1
    assert edges[((1, "outer"), (1, "total"), "data")] == 1
