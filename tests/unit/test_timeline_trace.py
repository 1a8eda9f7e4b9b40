"""strato.timeline(): task rows from the state API become Chrome trace events (pure)."""

from strato.util.timeline import trace_events


def test_timeline_turns_task_rows_into_complete_trace_events():
    rows = [{"task_id": "b", "name": "Clock.tick", "type": "ACTOR_TASK", "node_id": "n" * 32, "worker_id": "w" * 32,
             "state": "FINISHED", "start_time_ms": 2000, "end_time_ms": 2500, "attempt_number": 0},
            {"task_id": "a", "name": "f", "type": "NORMAL_TASK", "node_id": "n" * 32, "worker_id": None,
             "state": "RUNNING", "start_time_ms": 1000, "end_time_ms": None},
            {"task_id": "c", "name": "g", "type": "NORMAL_TASK", "state": "PENDING_NODE_ASSIGNMENT",
             "start_time_ms": None}]
    running, tick = trace_events(rows, now_ms=4000)
    assert (running["name"], running["cat"], running["ts"], running["dur"]) == ("f", "task", 1e6, 3e6)  # runs on
    assert running["pid"] == "Node " + "n" * 12 and running["tid"] == "Worker ?"
    assert (tick["cat"], tick["ts"], tick["dur"], tick["tid"]) == ("actor_task", 2e6, 0.5e6, "Worker " + "w" * 12)
    assert tick["args"]["task_id"] == "b" and tick["ph"] == "X"

