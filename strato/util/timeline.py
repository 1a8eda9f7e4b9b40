"""`strato.timeline()`: the cluster's finished and running tasks as a Chrome trace (Ray's ray.timeline).

    strato.timeline("trace.json")     written as JSON; open it in chrome://tracing or ui.perfetto.dev
    events = strato.timeline()        the same events as a list of dicts

This runs in the driver: it sends this process's buffered task events to the GCS first (so the tasks
it just waited for are in), then reads the task records through the state API (util/state.py) and
turns each task that started into one complete ("X") event: a process per node, a thread per worker,
times in microseconds. `trace_events` is the pure conversion.
"""
from __future__ import annotations

import json

from strato import _context

CATEGORIES = {"NORMAL_TASK": "task", "ACTOR_TASK": "actor_task", "ACTOR_CREATION_TASK": "actor_creation_task"}


def trace_events(tasks: list[dict], now_ms: float) -> list[dict]:
    """Chrome trace events from the state API's task rows (list_tasks(detail=True)): one per task that
    started, ending at its end time (or `now_ms` while it still runs), oldest first."""
    events = []
    for t in tasks:
        start = t.get("start_time_ms")
        if not start:
            continue
        end = t.get("end_time_ms") or now_ms
        node, worker = (t.get("node_id") or "")[:12], (t.get("worker_id") or "")[:12]
        events.append({
            "cat": CATEGORIES.get(t.get("type"), "task"), "name": t.get("name") or "?", "ph": "X",
            "pid": f"Node {node}" if node else "Node ?", "tid": f"Worker {worker}" if worker else "Worker ?",
            "ts": start * 1000.0, "dur": max(0.0, end - start) * 1000.0,
            "args": {"task_id": t.get("task_id"), "attempt_number": t.get("attempt_number"),
                     "state": t.get("state"), "job_id": t.get("job_id"), "actor_id": t.get("actor_id"),
                     "error_type": t.get("error_type")}})
    events.sort(key=lambda e: e["ts"])
    return events


def timeline(filename: str | None = None) -> list[dict] | None:
    """The cluster's tasks as Chrome trace events; written to `filename` as JSON if given (then None)."""
    import time

    from strato.util import state
    cw = _context.auto_init()
    try:
        cw.run_sync(cw._flush_events(), timeout=10)
    except Exception:               # the trace goes on with what the GCS has
        pass
    events = trace_events(state.list_tasks(limit=None, detail=True), time.time() * 1000.0)
    if filename is None:
        return events
    with open(filename, "w") as f:
        json.dump(events, f)
    return None
