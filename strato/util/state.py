"""The state API: a cluster's tasks, actors, objects, nodes and workers, in Ray's shapes.

    core workers --AddTaskEvents (1/s)--> GCS event buffer (deque, last N events)
                                              |  TaskTable.catch_up: fold new events
                                              v
    GCS process: runtime/gcs/http_api.py   task records, node/actor/job tables,
                 GET /api/v0/{tasks,actors,nodes,workers,objects,jobs}, /api/v0/tasks/summarize,
                 GET /api/strato/{task_changes,cluster}  (token: Authorization: Bearer header only)
                                              ^
    drivers: list_tasks() ... --HTTP JSON-----+-- widgets (strato.widgets), the JupyterLab extension

A task's state is folded from its events (`TaskTable`): the owner reports
PENDING_ARGS (with the cell tag, argument and return ids, parent task),
RETRY and FINISHED / FAILED / CANCELLED; the worker that runs it reports
RUNNING (with its node and worker). A task that is submitted and ends
between two flushes of its owner costs one event: the terminal one, carrying
the submission (submit_time, tag, ids, parent) and where and when it ran
(start_time, node, worker); its worker then drops its RUNNING event. Events
of one task reach the GCS from different processes, in any order, so the
latest attempt's highest-ranked state wins rather than the last event to
arrive.

Everything above the "client" line is pure (no IO) and unit-tested on its
own; the list functions below it call the head's HTTP endpoint.
"""
from __future__ import annotations

import bisect
import collections
import json
import urllib.error
import urllib.parse
import urllib.request

from strato import _context
from strato.runtime import tls

DEFAULT_LIMIT = 100
DEFAULT_TIMEOUT = 30
DASHBOARD_KV_NAMESPACE = "cluster"
DASHBOARD_KV_KEY = b"dashboard_port"

# Our event states -> Ray's TaskStatus names (CANCELLED is FAILED with error_type TASK_CANCELLED).
RAY_STATE = {
    "PENDING_ARGS": "PENDING_ARGS_AVAIL",
    "RETRY": "PENDING_NODE_ASSIGNMENT",
    "RUNNING": "RUNNING",
    "FINISHED": "FINISHED",
    "FAILED": "FAILED",
    "CANCELLED": "FAILED",
}
# Within one attempt, a later stage wins whatever order its events arrived in.
_RANK = {"PENDING_ARGS": 0, "RETRY": 1, "RUNNING": 2, "FINISHED": 3, "FAILED": 3, "CANCELLED": 3}
TERMINAL = frozenset({"FINISHED", "FAILED", "CANCELLED"})


class StateApiError(Exception):
    """The state API could not reach the cluster's head or was refused."""


# ============================================================================ pure: tasks
class TaskRecord:
    """What is known of one task, folded from its events.

    Slotted: the GCS keeps up to 100,000 and makes tens of thousands a second,
    and objects without a __dict__ cost the garbage collector less.
    """
    __slots__ = ("task_id", "seq", "name", "job_id", "actor_id", "parent_task_id", "tag", "arg_ids",
                 "return_ids", "attempt", "event_state", "node_id", "worker_id", "error", "creation_time",
                 "start_time", "end_time", "version", "group")

    def __init__(self, task_id: bytes, seq: int = 0, **fields):
        self.task_id = task_id
        self.seq = seq                 # order of first sight (eviction order)
        self.name = self.tag = self.error = ""
        self.job_id = self.actor_id = self.parent_task_id = self.node_id = self.worker_id = b""
        self.arg_ids = self.return_ids = ()
        self.attempt = self.version = 0   # version: TaskTable.version when this record last changed
        self.event_state = ""          # ours: PENDING_ARGS, RETRY, RUNNING, FINISHED, FAILED, CANCELLED
        self.creation_time = self.start_time = self.end_time = 0.0
        self.group = None              # TaskTable's (cell, function) state counts of this task
        for k, v in fields.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return f"TaskRecord({self.task_id.hex()}, {self.name!r}, {self.event_state}, attempt {self.attempt})"

    def apply(self, ev) -> bool:
        """Fold one event in; returns whether anything changed."""
        state, attempt = ev.state, ev.attempt
        changed = False
        if state == "PENDING_ARGS":
            if not self.creation_time:
                # The owner's submission: who, what from, what for. Its node/worker are the owner's.
                self.name = ev.name
                self.job_id = self.job_id or ev.job_id
                self.tag = ev.tag
                self.arg_ids = tuple(ev.arg_ids)
                self.return_ids = tuple(ev.return_ids)
                self.parent_task_id = ev.parent_task_id
                self.actor_id = ev.actor_id
                self.creation_time = ev.time
                changed = True
        elif state == "RUNNING":
            if attempt >= self.attempt:
                t = ev.time
                if t != self.start_time:
                    self.node_id, self.worker_id, self.start_time = ev.node_id, ev.worker_id, t
                    self.job_id = self.job_id or ev.job_id
                    if not self.name:
                        self.name, self.actor_id = ev.name, ev.actor_id
                    changed = True
        elif state in TERMINAL:
            t = ev.time
            if ev.submit_time and not self.creation_time:
                # The owner's one event for a task that began and ended between two flushes:
                # it carries the submission, and where and when the task ran.
                self.name = ev.name
                self.job_id = self.job_id or ev.job_id
                self.tag = ev.tag
                self.arg_ids = tuple(ev.arg_ids)
                self.return_ids = tuple(ev.return_ids)
                self.parent_task_id = ev.parent_task_id
                self.actor_id = ev.actor_id
                self.creation_time = ev.submit_time
                changed = True
            if ev.start_time and attempt >= self.attempt and not self.start_time:
                self.node_id, self.worker_id, self.start_time = ev.node_id, ev.worker_id, ev.start_time
                changed = True
            if t > self.end_time:
                self.end_time = t
                changed = True
                if not self.name:
                    self.name, self.actor_id = ev.name, ev.actor_id
                error = ev.error
                if error:
                    self.error = error
        elif not self.name:
            self.name, self.actor_id = ev.name, ev.actor_id
        mine = self.event_state
        if state != mine or attempt != self.attempt:
            if attempt > self.attempt or (attempt == self.attempt and _RANK.get(state, 0) >= _RANK.get(mine, -1)):
                self.attempt = attempt
                self.event_state = state
                changed = True
        return changed

    @property
    def done(self) -> bool:
        return self.event_state in TERMINAL

    @property
    def type(self) -> str:
        if not self.actor_id:
            return "NORMAL_TASK"
        # An actor's constructor runs as a task whose id is the actor's (worker side: RUNNING only).
        return "ACTOR_CREATION_TASK" if self.actor_id == self.task_id else "ACTOR_TASK"

    def creation_done(self, actor_state: str, when: float) -> bool:
        """An actor creation task ends when the GCS sees its actor alive or dead (no owner event says so)."""
        if self.done or actor_state not in ("ALIVE", "RESTARTING", "DEAD"):
            return False
        self.event_state = "FINISHED" if actor_state != "DEAD" or self.start_time else "FAILED"
        self.end_time = when or self.start_time
        return True


class TaskTable:
    """Task records folded from a stream of TaskEvent messages, bounded to `max_tasks`.

    Kept up to date as events fold in, so that readers pay for what changed,
    not for how many tasks there are:
      * `version` grows with every change; `changed_since(v)` lists the records changed after v;
      * `state_counts`: tasks per state;
      * `groups`: state counts per (notebook cell, function), and `group_edges`: how many data
        (producer -> consumer) and call (parent -> child) edges join two groups -- the task
        graph drawn when there are too many tasks to draw one by one.
    """

    def __init__(self, max_tasks: int = 100_000):
        self.max_tasks = max_tasks
        self.tasks: dict[bytes, TaskRecord] = {}          # in order of first sight
        self.version = 0
        self.evicted = 0
        self.state_counts: collections.Counter = collections.Counter()
        self.groups: dict[tuple, collections.Counter] = {}
        self.group_edges: collections.Counter = collections.Counter()
        self.cell_counts: collections.Counter = collections.Counter()
        self.open_creations: set[bytes] = set()           # actor constructors not known to have ended
        self._keys: dict[bytes, tuple] = {}                # task id -> its group
        self._producer: dict[bytes, bytes] = {}            # object id -> task id
        self._waiting_data: dict[bytes, list] = {}         # object id -> groups of consumers seen first
        self._waiting_parent: dict[bytes, list] = {}       # task id -> groups of its children seen first
        self._log: list[tuple[int, bytes]] = []            # (version, task id) of every change, oldest first
        self._cells: dict[str, int | None] = {}            # tag -> cell, cached
        self._seq = 0
        self._last_seen = None         # the newest event folded, by identity (see catch_up)

    def apply(self, ev) -> None:
        self.apply_all((ev,))

    def apply_all(self, events) -> None:
        """Fold events in order (the GCS's hot loop when a dashboard is open: kept lean)."""
        tasks, touch = self.tasks, self.touch
        for ev in events:
            tid = ev.task_id
            rec = tasks.get(tid)
            if rec is None:
                self._seq += 1
                rec = tasks[tid] = TaskRecord(tid, self._seq)
                if len(tasks) > self.max_tasks:
                    self._evict()
            old, submitted = rec.event_state, rec.creation_time
            if not rec.apply(ev) and rec.version:
                continue
            touch(rec, old)
            if rec.creation_time and not submitted:
                self._submitted(rec)
            if rec.actor_id and rec.actor_id == tid and not rec.done:
                self.open_creations.add(tid)

    def touch(self, rec: TaskRecord, old_state: str = "") -> None:
        """Note that `rec` changed (it was in `old_state`): new version, counts updated."""
        self.version = version = self.version + 1
        rec.version = version
        self._log.append((version, rec.task_id))            # ids, not records: untracked by the GC
        if not version & 0xFFFF and len(self._log) > 2 * len(self.tasks):
            tasks = self.tasks                                   # keep each record's last change
            self._log = [(v, t) for v, t in self._log if t in tasks and tasks[t].version == v]
        new = rec.event_state
        if old_state == new:
            return
        group = rec.group
        if group is None:
            key = (self._cell(rec.tag), rec.name)
            group = rec.group = self.groups.get(key)
            if group is None:
                group = rec.group = self.groups[key] = collections.Counter()
            self.cell_counts[key[0]] += 1
        counts = self.state_counts
        if old_state:
            counts[old_state] -= 1
            group[old_state] -= 1
        counts[new] += 1
        group[new] += 1

    def _submitted(self, rec: TaskRecord) -> None:
        """The owner's submission arrived: the task's cell, its producers, its parent are known."""
        tid = rec.task_id
        key = (self._cell(rec.tag), rec.name)
        old = self._keys.get(tid)
        if old != key:
            if old is None and rec.group is not None:        # counted before the cell was known
                rec.group[rec.event_state] -= 1
                self.cell_counts[None] -= 1
            elif old is not None:
                self.groups[old][rec.event_state] -= 1
                self.cell_counts[old[0]] -= 1
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = collections.Counter()
            rec.group = group
            group[rec.event_state] += 1
            self.cell_counts[key[0]] += 1
            self._keys[tid] = key
        # Edges need both ends' submissions, which come from different processes in any order:
        # an end seen first waits in _waiting_* for the other.
        producer, edges = self._producer, self.group_edges
        waiting_data, waiting_parent = self._waiting_data, self._waiting_parent
        for oid in rec.return_ids:
            producer[oid] = tid
            for consumer in waiting_data.pop(oid, ()):
                edges[(key, consumer, "data")] += 1
        for child in waiting_parent.pop(tid, ()):
            edges[(key, child, "call")] += 1
        if rec.arg_ids:
            keys = self._keys
            for oid in rec.arg_ids:
                src = keys.get(producer.get(oid, b""))
                if src is not None:
                    edges[(src, key, "data")] += 1
                elif len(waiting_data) < self.max_tasks:
                    waiting_data.setdefault(oid, []).append(key)
        if rec.parent_task_id:
            src = self._keys.get(rec.parent_task_id)
            if src is not None:
                edges[(src, key, "call")] += 1
            elif len(waiting_parent) < self.max_tasks:
                waiting_parent.setdefault(rec.parent_task_id, []).append(key)

    def _cell(self, tag: str) -> int | None:
        try:
            return self._cells[tag]
        except KeyError:
            if len(self._cells) > 10_000:
                self._cells.clear()
            cell = self._cells[tag] = cell_of(tag)
            return cell

    def catch_up(self, buffer) -> int:
        """Fold the events appended to `buffer` (a deque that drops its oldest) since the last call.

        Walks back from the newest event to the last one folded (compared by
        identity); when that one was already dropped, folds the whole buffer
        again (folding is idempotent). Returns the number of events folded.
        """
        if not buffer:
            return 0
        new = []
        last = self._last_seen
        for ev in reversed(buffer):
            if ev is last:
                break
            new.append(ev)
        self._last_seen = buffer[-1]
        new.reverse()
        self.apply_all(new)
        return len(new)

    def _evict(self) -> None:
        # Drop the oldest finished tasks first (a tenth at a time), then the oldest of any state.
        excess = len(self.tasks) - self.max_tasks + max(1, self.max_tasks // 10)
        victims = [r for r in self.tasks.values() if r.done][:excess]
        if len(victims) < excess:
            victims += [r for r in self.tasks.values() if not r.done][:excess - len(victims)]
        for r in victims:
            del self.tasks[r.task_id]
            self.open_creations.discard(r.task_id)
            for oid in r.return_ids:
                self._producer.pop(oid, None)
            key = self._keys.pop(r.task_id, (None, r.name))
            if r.event_state:
                self.state_counts[r.event_state] -= 1
                if r.group is not None:
                    r.group[r.event_state] -= 1
            if r.group is not None:
                self.cell_counts[key[0]] -= 1
        self.evicted += len(victims)

    def changed_since(self, version: int) -> list[TaskRecord]:
        """Records changed after `version`, each once, in the order of their last change."""
        log, tasks = self._log, self.tasks
        i = bisect.bisect_right(log, version, key=lambda e: e[0])
        out = []
        for v, t in log[i:]:
            rec = tasks.get(t)
            if rec is not None and rec.version == v:
                out.append(rec)
        return out

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in self.state_counts.items() if v > 0}

    def num_tasks(self, cell: int | None = None) -> int:
        return len(self.tasks) if cell is None else self.cell_counts.get(cell, 0)

    def function_groups(self, cell: int | None = None) -> dict:
        """The task graph by function (of one cell, or all): {"groups": [{name, states, count}],
        "edges": [[from name, to name, kind, count]]}."""
        by_name: dict[str, collections.Counter] = {}
        for (c, name), states in self.groups.items():
            if cell is None or c == cell:
                by_name.setdefault(name, collections.Counter()).update(states)
        edges: collections.Counter = collections.Counter()
        for ((c1, n1), (c2, n2), kind), n in self.group_edges.items():
            if cell is None or c1 == c2 == cell:
                edges[(n1, n2, kind)] += n
        groups = []
        for name, states in by_name.items():
            states = {k: v for k, v in states.items() if v > 0}
            if states:
                groups.append({"name": name, "states": states, "count": sum(states.values())})
        return {"groups": groups, "edges": [[a, b, k, n] for (a, b, k), n in edges.items()]}

    def records(self) -> list[TaskRecord]:
        return list(self.tasks.values())


def cell_of(tag: str) -> int | None:
    """The notebook cell (execution count) of a submission tag "cell:<n>:<message id>"."""
    if not tag or not tag.startswith("cell:"):
        return None
    try:
        return int(tag.split(":", 2)[1])
    except (IndexError, ValueError):
        return None


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
            "returns": [r.hex() for r in rec.return_ids], "node": rec.node_id.hex(),
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


# ============================================================================ pure: other tables
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


# ============================================================================ client
class StateClient:
    """GETs JSON from the head's HTTP endpoint with the cluster token."""

    def __init__(self, base_url: str, token: str, timeout: float = DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path: str, params: dict | list | None = None, timeout: float | None = None):
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=_https_context()) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            try:
                msg = json.loads(err.read()).get("msg", "")
            except Exception:
                msg = ""
            if err.code == 401:
                raise StateApiError(f"The cluster's state endpoint {self.base_url} refused the token: "
                                    f"connect with the cluster's token (strato.init(address=..., _token=...)).")
            if err.code == 400:
                raise ValueError(msg or f"bad state API request {path}") from None
            raise StateApiError(f"State API request {path} failed: HTTP {err.code} {msg}") from None
        except (urllib.error.URLError, OSError) as err:
            raise StateApiError(f"Cannot reach the cluster's state endpoint at {self.base_url} ({err}); "
                                f"is the cluster still running? `strato status` checks.") from None
        if not body.get("result", False):
            raise StateApiError(body.get("msg") or f"State API request {path} failed")
        return body["data"]["result"]


_clients: dict = {}


def _https_context():
    """The cluster's client certificate and CA for an https state endpoint (None: plain http)."""
    config = tls.current()
    if config is None:
        return None
    ctx = config.client_context()
    if config.server_name:      # one name for every node (a generated CA): the CA check is what counts
        ctx.check_hostname = False
    return ctx


def dashboard_url(cw) -> str:
    """http://host:port of the head's state endpoint, read once from the GCS KV (`cw`: a CoreWorker)."""
    cached = _clients.get(("url", cw.gcs_address))
    if cached:
        return cached
    from strato.runtime.protocol import gcs_pb2
    reply = cw.run_sync(cw.gcs.call("KVGet", gcs_pb2.KVGetRequest(
        namespace=DASHBOARD_KV_NAMESPACE, key=DASHBOARD_KV_KEY)), timeout=10)
    if not reply.found:
        return ""
    host = cw.gcs_address.rsplit(":", 1)[0]
    scheme = "https" if tls.current() is not None else "http"
    url = f"{scheme}://{host}:{int(reply.value.decode())}"
    _clients[("url", cw.gcs_address)] = url
    return url


def client(address: str | None = None, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT):
    """A StateClient for the connected cluster (address None) or a dashboard URL ("http://host:port")."""
    if address is not None:
        if not str(address).startswith("http"):
            raise ValueError(f"address must be the dashboard URL (init()['dashboard_url'], e.g. "
                             f"'http://127.0.0.1:8265') or None for the connected cluster; got {address!r}")
        if token is None:
            raise ValueError("Pass token=... (the cluster's token) with an explicit address.")
        return StateClient(address, token, timeout)
    cw = _context.require_worker("util.state functions")
    url = dashboard_url(cw)
    if not url:
        raise StateApiError(f"The cluster at {cw.gcs_address} does not serve the state API (its head runs "
                            f"an older strato); upgrade the head node.")
    return StateClient(url, cw.token, timeout)


def _params(filters, limit, detail) -> list:
    params = [("limit", str(limit if limit is not None else 0)), ("detail", "1" if detail else "0")]
    for key, pred, value in check_filters(filters):
        params += [("filter_keys", key), ("filter_predicates", pred), ("filter_values", value)]
    return params


def _list(kind: str, address, filters, limit, timeout, detail, token=None) -> list[dict]:
    c = client(address, token=token, timeout=timeout)
    result = c.get(f"/api/v0/{kind}", _params(filters, limit, detail))
    items = result["result"]
    if kind == "objects":
        items = _merge_local_objects(items, filters, limit)
    return items


def list_tasks(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
               timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False, *, token: str | None = None) -> list[dict]:
    """Tasks of the cluster (the last 100,000), oldest first, e.g. filters=[("state", "=", "RUNNING")]."""
    return _list("tasks", address, filters, limit, timeout, detail, token)


def list_actors(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
                timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
                _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("actors", address, filters, limit, timeout, detail, token)


def list_nodes(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
               timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("nodes", address, filters, limit, timeout, detail, token)


def list_workers(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
                 timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("workers", address, filters, limit, timeout, detail, token)


def list_jobs(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
              timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
              _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("jobs", address, filters, limit, timeout, detail, token)


def list_objects(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
                 timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False, *, token: str | None = None) -> list[dict]:
    """Objects: the largest in each node's shared-memory store (with call sites), and the
    objects this process holds in its own memory (owned results and puts)."""
    return _list("objects", address, filters, limit, timeout, detail, token)


def summarize_tasks(address: str | None = None, timeout: int = DEFAULT_TIMEOUT,
                    raise_on_missing_output: bool = True, _explain: bool = False, *,
                    token: str | None = None) -> dict:
    return client(address, token=token, timeout=timeout).get("/api/v0/tasks/summarize")


# ---------------------------------------------------------------------------- this process's objects
def local_objects() -> list[dict]:
    """Objects held in this process's in-process memory store, as ObjectState dicts."""
    import os
    cw = _context.worker()
    if cw is None or cw.refs is None:
        return []
    out = []
    with cw._lock:
        items = list(cw.store._objects.items())
        entries = dict(cw.refs.entries)
    for oid, obj in items:
        entry = entries.get(oid)
        if entry is None:
            ref_type = "CAPTURED_IN_OBJECT"
        elif entry.submitted:
            ref_type = "USED_BY_PENDING_TASK"
        elif entry.local:
            ref_type = "LOCAL_REFERENCE"
        else:
            ref_type = "CAPTURED_IN_OBJECT"
        out.append({"object_id": oid.hex(), "object_size": len(obj.data), "reference_type": ref_type,
                    "call_site": "disabled", "task_status": "FINISHED",
                    "type": "DRIVER" if cw.mode == "driver" else "WORKER", "pid": os.getpid(),
                    "ip": cw.node_ip, "node_id": cw.node_id.hex(), "owner": cw.address,
                    "store_state": "IN_PROCESS"})
    return out


def _merge_local_objects(items: list[dict], filters, limit) -> list[dict]:
    seen = {i["object_id"] for i in items}
    extra = [o for o in local_objects() if o["object_id"] not in seen]
    merged = sorted(items + extra, key=lambda o: -o["object_size"])
    return select(merged, filters, limit)["result"]
