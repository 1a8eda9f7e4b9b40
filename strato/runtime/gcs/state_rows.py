"""The state API's plain data, shared by the GCS's HTTP endpoint (http_api.py) and its client
(strato.util.state): records in Ray's shapes, the filter language, where the endpoint's port is published.

    task_table.TaskRecord  --task_dict / graph_dict / summarize-->  Ray's TaskState rows
    gcs_pb2.NodeInfo, ActorInfo, JobInfo; raylet_pb2.WorkerStats; store stats
                           --node_dict / actor_dict / job_dict / worker_dict / store_object_dicts-->
    rows --select(filters, limit)--> {"total", "num_filtered", "num_after_truncation", "result"}

Pure functions, no IO. They run in the GCS process, which serves the rows;
a driver imports `check_filters` and `select` from here too, to refuse a bad
filter before asking and to merge its own in-process objects into a list,
with the same rules as the endpoint.
"""
from __future__ import annotations

import json

from strato.runtime.gcs.task_table import TaskRecord, cell_of

DEFAULT_LIMIT = 100
#: The GCS KV entry where the head publishes its state endpoint's port (clients read it there).
DASHBOARD_KV_NAMESPACE = "cluster"
DASHBOARD_KV_KEY = b"dashboard_port"
#: The GCS KV namespace where drivers publish their Tune runs' summaries (strato/tune/publish.py).
TUNE_KV_NAMESPACE = "tune"

# Our event states -> Ray's TaskStatus names (CANCELLED is FAILED with error_type TASK_CANCELLED).
RAY_STATE = {
    "PENDING_ARGS": "PENDING_ARGS_AVAIL",
    "RETRY": "PENDING_NODE_ASSIGNMENT",
    "RUNNING": "RUNNING",
    "FINISHED": "FINISHED",
    "FAILED": "FAILED",
    "CANCELLED": "FAILED",
}


def _ms(t: float) -> int | None:
    return int(t * 1000) if t else None


def _error_type(rec: TaskRecord) -> str | None:
    if rec.event_state == "CANCELLED":
        return "TASK_CANCELLED"
    if rec.event_state == "FAILED":
        head = rec.error.split(":", 1)[0].strip()
        return head if head and " " not in head else "TASK_EXECUTION_EXCEPTION"
    return None


def task_dict(rec: TaskRecord, detail: bool = False) -> dict:
    """A task in Ray's TaskState shape (plus strato's `tag`, `cell`, argument and return ids)."""
    d = {
        "task_id": rec.task_id.hex(),
        "attempt_number": rec.attempt,
        "name": rec.name,
        "state": RAY_STATE.get(rec.event_state, "NIL"),
        "job_id": rec.job_id.hex(),
        "actor_id": rec.actor_id.hex() or None,
        "type": rec.type,
        "func_or_class_name": rec.name,
        "parent_task_id": rec.parent_task_id.hex(),
        "node_id": rec.node_id.hex() or None,
        "worker_id": rec.worker_id.hex() or None,
        "error_type": _error_type(rec),
        "tag": rec.tag,
        "cell": cell_of(rec.tag),
    }
    if detail:
        d.update({
            "language": "PYTHON",
            "creation_time_ms": _ms(rec.creation_time),
            "start_time_ms": _ms(rec.start_time),
            "end_time_ms": _ms(rec.end_time),
            "error_message": rec.error or None,
            "arg_ids": [a.hex() for a in rec.arg_ids],
            "return_ids": [r.hex() for r in rec.return_ids],
        })
    return d


def graph_dict(rec: TaskRecord) -> dict:
    """The compact form the task-graph widget reads (short keys, times in seconds)."""
    return {"id": rec.task_id.hex(), "name": rec.name, "state": rec.event_state,
            "parent": rec.parent_task_id.hex(), "args": [a.hex() for a in rec.arg_ids],
            "returns": [r.hex() for r in rec.return_ids], "node": rec.node_id.hex(), "worker": rec.worker_id.hex(),
            "cell": cell_of(rec.tag), "actor": rec.actor_id.hex(), "error": rec.error,
            "created": rec.creation_time, "start": rec.start_time, "end": rec.end_time,
            "attempt": rec.attempt}


def summarize(tasks: list[dict]) -> dict:
    """summarize_tasks' shape: counts per function and state."""
    summary: dict[str, dict] = {}
    counts = {"NORMAL_TASK": 0, "ACTOR_TASK": 0, "ACTOR_CREATION_TASK": 0}
    for t in tasks:
        name = t["func_or_class_name"]
        entry = summary.setdefault(name, {"func_or_class_name": name, "type": t["type"], "state_counts": {}})
        entry["state_counts"][t["state"]] = entry["state_counts"].get(t["state"], 0) + 1
        counts[t["type"]] = counts.get(t["type"], 0) + 1
    return {"cluster": {"summary": summary, "total_tasks": counts["NORMAL_TASK"],
                        "total_actor_tasks": counts["ACTOR_TASK"],
                        "total_actor_scheduled": counts["ACTOR_CREATION_TASK"], "summary_by": "func_name"}}


# ---------------------------------------------------------------------------- other tables
def node_dict(n, store: dict | None = None) -> dict:
    """A node (gcs_pb2.NodeInfo) in Ray's NodeState shape, plus available resources and store stats."""
    d = {
        "node_id": n.node_id.hex(),
        "node_ip": n.address,
        "is_head_node": n.is_head,
        "state": "ALIVE" if n.alive else "DEAD",
        "state_message": n.death_reason or None,
        "node_name": n.node_name or n.address,
        "resources_total": dict(n.resources_total),
        "resources_available": dict(n.resources_available) if n.alive else {},
        "start_time_ms": _ms(n.start_time),
        "end_time_ms": _ms(n.death_time),
    }
    if store is not None:
        d["object_store"] = store
    return d


def actor_dict(a) -> dict:
    """An actor (gcs_pb2.ActorInfo) in Ray's ActorState shape."""
    return {
        "actor_id": a.actor_id.hex(),
        "class_name": a.class_name,
        "state": a.state,
        "job_id": a.job_id.hex(),
        "name": a.name,
        "node_id": a.node_id.hex() or None,
        "pid": a.pid or None,
        "ray_namespace": a.namespace,
        "required_resources": dict(a.resources),
        "death_cause": a.death_cause or None,
        "is_detached": a.detached,
        "num_restarts": a.num_restarts,
        "repr_name": "",
        "tag": a.tag,
        "cell": cell_of(a.tag),
    }


def tune_run_dicts(items: list[tuple[bytes, bytes]]) -> list[dict]:
    """The Tune runs published in the KV (JSON summaries), oldest first; unreadable entries skipped."""
    runs = []
    for key, value in items:
        try:
            run = json.loads(value)
        except ValueError:
            continue
        if isinstance(run, dict):
            run.setdefault("id", key.decode(errors="replace"))
            runs.append(run)
    return sorted(runs, key=lambda r: r.get("start_time") or 0)


def job_dict(j) -> dict:
    return {"job_id": j.job_id.hex(), "status": "STOPPED" if j.is_dead else "RUNNING",
            "driver_pid": j.driver_pid, "driver_address": j.driver_address, "namespace": j.namespace,
            "entrypoint": j.entrypoint, "start_time": _ms(j.start_time), "end_time": _ms(j.end_time)}


def worker_dict(w, node) -> dict:
    """A worker (raylet_pb2.WorkerStats) of `node` in Ray's WorkerState shape."""
    return {"worker_id": w.worker_id.hex(), "is_alive": True, "worker_type": "WORKER",
            "exit_type": None, "node_id": node.node_id.hex(), "ip": node.address, "pid": w.pid,
            "state": w.state, "lease_owner_id": w.lease_owner_id.hex() or None}


def store_object_dicts(node_id_hex: str, ip: str, store: dict) -> list[dict]:
    """The largest objects a node's store reported, in Ray's ObjectState shape."""
    out = []
    for o in store.get("largest", []):
        out.append({"object_id": o["object_id"], "object_size": o["size"],
                    "reference_type": "PINNED_IN_MEMORY" if o["state"] in ("PINNED", "SEALED") else o["state"],
                    "call_site": o["call_site"] or "disabled", "task_status": "FINISHED", "type": "WORKER",
                    "pid": None, "ip": ip, "node_id": node_id_hex, "owner": o["owner"],
                    "store_state": o["state"]})
    return out


# ---------------------------------------------------------------------------- filters, limits
PREDICATES = ("=", "!=")


def check_filters(filters) -> list[tuple[str, str, str]]:
    """[(key, "=" or "!=", value)]; raises ValueError naming what is wrong."""
    out = []
    for f in filters or ():
        if not isinstance(f, (tuple, list)) or len(f) != 3:
            raise ValueError(f"A filter is a (key, predicate, value) tuple, e.g. ('state', '=', 'RUNNING'); "
                             f"got {f!r}")
        key, pred, value = f
        if pred not in PREDICATES:
            raise ValueError(f"Unsupported filter predicate {pred!r}; use one of {PREDICATES}.")
        out.append((str(key), pred, str(value)))
    return out


def _matches(item: dict, filters) -> bool:
    for key, pred, value in filters:
        have = item.get(key)
        equal = str(have).lower() == value.lower() if have is not None else value.lower() in ("none", "")
        if equal != (pred == "="):
            return False
    return True


def select(items: list[dict], filters=(), limit: int | None = DEFAULT_LIMIT) -> dict:
    """Filter then truncate; the counts say what was left out (as Ray's list APIs report)."""
    filters = check_filters(filters)
    if filters:
        known = set().union(*(i.keys() for i in items)) if items else set()
        unknown = [k for k, _, _ in filters if items and k not in known]
        if unknown:
            raise ValueError(f"Cannot filter on {unknown}: the columns are {sorted(known)}.")
    kept = [i for i in items if _matches(i, filters)]
    shown = kept if limit is None or limit <= 0 else kept[:limit]
    return {"total": len(items), "num_filtered": len(kept), "num_after_truncation": len(shown),
            "result": shown}
