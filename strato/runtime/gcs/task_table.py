"""The GCS's task table: task records folded from the task events core workers report (pure, no IO).

    core workers --AddTaskEvents (1/s)--> GCS event buffer (a deque of the last N events)
                                              |  TaskTable.catch_up: fold what is new
                                              v
                                          TaskTable: TaskRecord per task, state counts,
                                          (cell, function) groups and the edges between them
                                              |
    runtime/gcs/http_api.py  GET /api/v0/tasks, /api/strato/task_changes, task_graph ...
                             (rows shaped by state_rows.py) --> strato.util.state, widgets, the lab extension

Runs in the GCS process. A task's state is folded from its events: the owner
reports PENDING_ARGS (with the cell tag, argument and return ids, parent
task), RETRY and FINISHED / FAILED / CANCELLED; the worker that runs it
reports RUNNING (with its node and worker). A task that is submitted and
ends between two flushes of its owner costs one event: the terminal one,
carrying the submission (submit_time, tag, ids, parent) and where and when
it ran (start_time, node, worker); its worker (an actor, for an actor call)
then drops its RUNNING event. Task events arrive in batches of columns, kept
as rows (task_event_rows.py); the table reads rows and TaskEvent messages alike.
Events of one task reach the GCS from different processes, in any order, so
the latest attempt's highest-ranked state wins rather than the last event to
arrive.
"""
from __future__ import annotations

import bisect
import collections

# Within one attempt, a later stage wins whatever order its events arrived in.
_RANK = {"PENDING_ARGS": 0, "RETRY": 1, "RUNNING": 2, "FINISHED": 3, "FAILED": 3, "CANCELLED": 3}
TERMINAL = frozenset({"FINISHED", "FAILED", "CANCELLED"})


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

    def _take_submission(self, ev, created: float) -> None:
        """The submission's fields, from the owner's PENDING_ARGS event or its merged terminal one."""
        self.name = ev.name
        self.job_id = self.job_id or ev.job_id
        self.tag = ev.tag
        self.arg_ids = tuple(ev.arg_ids)
        self.return_ids = tuple(ev.return_ids)
        self.parent_task_id = ev.parent_task_id
        self.actor_id = ev.actor_id
        self.creation_time = created

    def apply(self, ev) -> bool:
        """Fold one event in; returns whether anything changed."""
        state, attempt = ev.state, ev.attempt
        changed = False
        if state == "PENDING_ARGS":
            if not self.creation_time:
                # The owner's submission: who, what from, what for. Its node/worker are the owner's.
                self._take_submission(ev, ev.time)
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
                self._take_submission(ev, ev.submit_time)
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
