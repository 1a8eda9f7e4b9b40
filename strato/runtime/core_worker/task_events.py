"""Task events of one process, buffered for the GCS (pure: no IO; the core worker flushes them).

    record(PENDING_ARGS) ... record(FINISHED)   ->  one event if both fall between two flushes
    record(RUNNING) in a worker                 ->  held; dropped by end_running() if the task
                                                    ended first (its owner's event says it all)
    drain()                                     ->  the events and the count dropped since the last drain
    batch_columns(events)                       ->  the same events as columns (the GCS's TaskEventBatch)

The buffer keeps at most `capacity` events between flushes; past that it
counts what it drops, so the state API can say some are missing.
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple

_new = tuple.__new__          # a record without the NamedTuple's Python-level __new__ (one or two per task)
TERMINAL = frozenset({"FINISHED", "FAILED", "CANCELLED"})


class TaskEvent(NamedTuple):
    task_id: bytes
    name: str
    state: str
    time: float
    attempt: int
    error: str
    tag: Any                    # the notebook cell that submitted the task
    arg_ids: tuple
    return_ids: tuple
    parent: bytes
    actor_id: bytes
    submit_time: float          # set when a terminal event replaced the submission
    start_time: float
    node_id: bytes
    worker_id: bytes


class TaskEventBuffer:
    def __init__(self, capacity: int, node_id: bytes, worker_id: bytes, is_worker: bool):
        self.capacity = capacity
        self.node_id = node_id
        self.worker_id = worker_id
        self.is_worker = is_worker
        self.events: list[TaskEvent] = []
        self.dropped = 0
        self._unsent_submissions: dict[bytes, int] = {}   # task id -> index of its PENDING_ARGS in events
        self._running: dict[bytes, TaskEvent] = {}        # worker: RUNNING events not sent yet

    def record(self, task_id: bytes, name: str, state: str, attempt: int = 0, error: str = "", tag=None,
               arg_ids=(), return_ids=(), parent: bytes = b"", actor_id: bytes = b"",
               ran_on: tuple | None = None, now: float | None = None) -> None:
        """A task changed state. A terminal event replaces the task's submission if that has not been
        sent yet, carrying its fields plus where and when it ran (ran_on = (node_id, worker_id, start))."""
        now = time.time() if now is None else now
        if state in TERMINAL:
            i = self._unsent_submissions.pop(task_id, None)
            if i is not None:
                sub = self.events[i]
                node_id, worker_id, start = ran_on or (self.node_id, self.worker_id, 0.0)
                self.events[i] = _new(TaskEvent, (task_id, name, state, now, attempt, error, sub.tag, sub.arg_ids,
                                                  sub.return_ids, sub.parent, actor_id or sub.actor_id, sub.time,
                                                  start, node_id, worker_id))
                return
        if len(self.events) >= self.capacity:
            self.dropped += 1
            return
        if state == "PENDING_ARGS":
            self._unsent_submissions[task_id] = len(self.events)
        elif state == "RUNNING" and self.is_worker:
            self._running[task_id] = _new(TaskEvent, (task_id, name, state, now, attempt, error, None, (), (),
                                                      parent, actor_id, 0.0, 0.0, self.node_id, self.worker_id))
            return
        if ran_on is not None:      # a terminal event after its submission went out: it still says where it ran
            node_id, worker_id, start = ran_on
        else:
            node_id, worker_id, start = self.node_id, self.worker_id, 0.0
        self.events.append(_new(TaskEvent, (task_id, name, state, now, attempt, error, tag, arg_ids, return_ids,
                                            parent, actor_id, 0.0, start, node_id, worker_id)))

    def end_running(self, task_id: bytes) -> None:
        """Worker: the task ended before its RUNNING event went out."""
        self._running.pop(task_id, None)

    def pending(self) -> bool:
        return bool(self.events or self.dropped or self._running)

    def drain(self) -> tuple[list[TaskEvent], int]:
        """Everything to send now (running tasks' events included), and how many were dropped."""
        events = self.events + list(self._running.values())
        dropped = self.dropped
        self.events, self.dropped = [], 0
        self._running.clear()
        self._unsent_submissions.clear()
        return events, dropped


def batch_columns(events: list) -> dict:
    """The events as TaskEventBatch's columns (field name -> one entry per event).

    Transposed with zip (C), so a flush costs a few passes over the buffer instead of one protobuf
    message per event. An event's argument and return ids travel concatenated (ids have a fixed
    length); a tag becomes its string, "" for none.
    """
    if not events:
        return {}
    (task_id, name, state, time_, attempt, error, tag, arg_ids, return_ids, parent, actor_id, submit_time,
     start_time, node_id, worker_id) = zip(*events)
    join = b"".join
    return {"task_id": task_id, "name": name, "state": state, "time": time_, "attempt": attempt, "error": error,
            "tag": ["" if t is None else str(t) for t in tag],
            "arg_ids": [join(a) for a in arg_ids], "return_ids": [join(r) for r in return_ids],
            "parent_task_id": _no_none(parent), "actor_id": _no_none(actor_id),
            "submit_time": submit_time, "start_time": start_time,
            "node_id": _no_none(node_id), "worker_id": _no_none(worker_id)}


def _no_none(column: tuple):
    """An id column with b"" for a missing id (a protobuf bytes field takes no None); as it is when none is."""
    return [v or b"" for v in column] if None in column else column
