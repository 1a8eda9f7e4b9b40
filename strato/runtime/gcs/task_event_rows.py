"""Task events as the GCS keeps them: rows expanded from a core worker's TaskEventBatch (pure, no IO).

    core worker flush --AddTaskEventsRequest(batch=TaskEventBatch: one column per field)-->
    GcsServer.AddTaskEvents: rows(batch) -> TaskEventRow per event -> the event buffer (a deque)
                                                                          |
    TaskTable.catch_up reads rows (or TaskEvent messages) by attribute <--+

Runs in the GCS process. A row has the attribute names of the TaskEvent
message, so the task table folds either. Expanding a batch is a zip over its
columns (C); an event's argument and return ids arrive concatenated and are
split only when read (`arg_ids`, `return_ids`), which happens when the table
is folded for a dashboard or the state API, not on every flush.
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

from strato.runtime import ids
from strato.runtime.protocol import gcs_pb2

_ID = ids.OBJECT_ID_LEN


def _split(packed: bytes) -> tuple:
    return tuple(packed[i:i + _ID] for i in range(0, len(packed), _ID))


class TaskEventRow(NamedTuple):
    task_id: bytes
    job_id: bytes
    name: str
    state: str
    time: float
    attempt: int
    error: str
    tag: str
    packed_arg_ids: bytes           # the event's argument object ids, concatenated
    packed_return_ids: bytes
    parent_task_id: bytes
    actor_id: bytes
    submit_time: float
    start_time: float
    node_id: bytes
    worker_id: bytes

    @property
    def arg_ids(self) -> tuple:
        return _split(self.packed_arg_ids)

    @property
    def return_ids(self) -> tuple:
        return _split(self.packed_return_ids)

    def to_message(self) -> gcs_pb2.TaskEvent:
        return gcs_pb2.TaskEvent(
            task_id=self.task_id, job_id=self.job_id, name=self.name, state=self.state, time=self.time,
            attempt=self.attempt, error=self.error, tag=self.tag, arg_ids=self.arg_ids, return_ids=self.return_ids,
            parent_task_id=self.parent_task_id, actor_id=self.actor_id, submit_time=self.submit_time,
            start_time=self.start_time, node_id=self.node_id, worker_id=self.worker_id)


_row = TaskEventRow._make


def rows(batch: gcs_pb2.TaskEventBatch) -> list[TaskEventRow]:
    """One row per event of the batch; a batch whose columns differ in length is refused (ValueError)."""
    n = len(batch.task_id)
    columns = [batch.task_id, itertools.repeat(batch.job_id, n), batch.name, batch.state, batch.time, batch.attempt,
               batch.error, batch.tag, batch.arg_ids, batch.return_ids, batch.parent_task_id, batch.actor_id,
               batch.submit_time, batch.start_time, batch.node_id, batch.worker_id]      # TaskEventRow's order
    lengths = {len(c) for i, c in enumerate(columns) if i != 1}
    if lengths - {n}:
        raise ValueError(f"a task-event batch's columns differ in length ({sorted(lengths)})")
    return list(map(_row, zip(*columns)))
