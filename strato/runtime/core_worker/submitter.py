"""The owner's task submitter: argument resolution, worker leases, pushing.

Runs on the core worker's event-loop thread only.

    submit(entry) -> resolve top-level argument refs (PENDING_ARGS)
                  -> queue per scheduling class (PENDING_LEASE)
                  -> push to a leased worker (SUBMITTED), several in flight
                     per worker when the function is fast (dispatch_policy.py)
                  -> task_done from the worker: store returns (FINISHED/FAILED)
                     or queue again for a retry

A scheduling class is (function, resource shape, strategy). The strategy is
"DEFAULT", "SPREAD" or, in a placement group, a (group id, bundle index,
capture child tasks) tuple (remote_function.PgStrategy): its lease requests
name the group's bundle, and its tasks carry the group to the worker. A lease
request answered UNSCHEDULABLE (a hard affinity to a dead node, a removed
group) fails the class's queued tasks with TaskUnschedulableError. For each class
with queued tasks the owner asks a raylet for worker leases -- its own, or the
one holding most bytes of the first queued task's large arguments
(`locality_raylet`) -- following spill-back replies to other nodes; it keeps a lease while tasks of its class
keep coming, and returns it once the queue has been empty for
`lease_linger_s`. A lost connection to a worker fails or retries everything
in flight on it.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import time

from strato import exceptions
from strato.runtime import leasing, serialization
from strato.runtime.core_worker.dispatch_policy import DispatchPolicy
from strato.runtime.core_worker.memory_store import StoredObject
from strato.runtime.object_store.client.layout import MARKER_PREFIX, decode_marker
from strato.runtime.core_worker.task_state import Failure, TaskState, check_transition, retry_decision
from strato.runtime.protocol import raylet_pb2
from strato.runtime.protocol import messages as m
from strato.runtime.rpc import RayletClient

logger = logging.getLogger(__name__)


class TaskEntry:
    __slots__ = ("task_id", "fid", "name", "args", "deps", "return_ids", "num_returns", "resources",
                 "retries_left", "retry_exceptions", "parent_task_id", "strategy", "affinity", "state",
                 "attempt", "inlined", "lease", "cancel_requested", "force_cancel", "arg_refs", "key",
                 "submit_time", "tag", "log_sink")

    def __init__(self, task_id, fid, name, args, deps, return_ids, num_returns, resources, max_retries,
                 retry_exceptions, parent_task_id, strategy, affinity):
        self.task_id = task_id
        self.fid = fid
        self.name = name
        self.args = args
        self.deps = deps
        self.return_ids = return_ids
        self.num_returns = num_returns
        self.resources = resources
        self.retries_left = max_retries
        self.retry_exceptions = retry_exceptions
        self.parent_task_id = parent_task_id
        self.strategy = strategy
        self.affinity = affinity
        self.state = TaskState.PENDING_ARGS
        self.attempt = 0
        self.inlined = None
        self.lease = None
        self.cancel_requested = False
        self.force_cancel = False
        self.arg_refs = None
        self.key = (fid, tuple(sorted(resources.items())), strategy, affinity)
        self.submit_time = time.time()
        self.tag = None
        self.log_sink = ""

    def set_state(self, new: TaskState) -> None:
        check_transition(self.state, new)
        self.state = new

    def wire(self, owner_address: str, job_id: bytes) -> m.PushTask:
        s = self.strategy
        return m.make(m.PushTask, (self.task_id, self.attempt, job_id, self.fid, self.name, self.args,
                                   self.inlined, self.num_returns, owner_address, self.parent_task_id, self.tag,
                                   self.log_sink, None if s.__class__ is str else (s[0], s[2])))


class Lease:
    __slots__ = ("lease_id", "worker_id", "address", "conn", "raylet", "in_flight", "key", "linger", "node_id")

    def __init__(self, lease_id, worker_id, address, conn, raylet, key, node_id=b""):
        self.node_id = node_id
        self.lease_id = lease_id
        self.worker_id = worker_id
        self.address = address
        self.conn = conn
        self.raylet = raylet
        self.in_flight: dict[bytes, TaskEntry] = {}
        self.key = key
        self.linger = None


class ClassQueue:
    """One scheduling class: its queued tasks, its leases, its lease requests out, and its
    dispatch policy (dispatch_policy.py: how many tasks per lease, when to ask for another)."""
    __slots__ = ("key", "tasks", "leases", "pending_requests", "policy")

    def __init__(self, key):
        self.key = key
        self.tasks: collections.deque[TaskEntry] = collections.deque()
        self.leases: list[Lease] = []
        self.pending_requests = 0
        self.policy = DispatchPolicy()


def resolve_dependencies(cw, deps: list, arg_refs: list | None, done) -> None:
    """Gather the values of top-level argument refs, then call done(inlined, None) on the loop
    thread -- or done(None, error) as soon as one of them is an error (it fails the task too).

    Owned objects are awaited in the memory store; borrowed ones are fetched from their owner.
    """
    inlined: dict = {}
    if not deps:
        done(inlined, None)
        return
    waiting = set(deps)
    finished = False

    def ready(oid, obj):
        nonlocal finished
        if finished or oid not in waiting:
            return
        waiting.discard(oid)
        if obj.is_error:
            finished = True
            done(None, obj)
            return
        inlined[oid] = obj.data
        if not waiting:
            finished = True
            done(inlined, None)

    def arrived(oid, obj):
        cw.loop.call_soon_threadsafe(ready, oid, obj)

    for oid in list(waiting):
        obj = cw.store.get_or_wait(oid, arrived)
        if obj is not None:
            ready(oid, obj)
        elif not cw.refs.owned(oid):
            owner = next(r._owner for r in arg_refs if r._id == oid)
            cw.getter.fetch_borrowed(oid, owner)


def locality_raylet(inlined: dict | None, dead_nodes=()) -> str | None:
    """The raylet holding the most bytes of a task's large arguments (their store markers), or None:
    its lease is asked there first, so the arguments need not move (Ray's locality-aware leasing).
    That raylet grants if the task fits, else spills back as usual. Nodes known dead are skipped."""
    if not inlined:
        return None
    held: dict[str, int] = {}
    for data in inlined.values():
        marker = decode_marker(data)
        if marker is not None and marker.node_id not in dead_nodes:
            held[marker.raylet_address] = held.get(marker.raylet_address, 0) + marker.size
    return max(held, key=held.get) if held else None


def lineage_bytes(entry) -> int:
    """What keeping a task's lineage holds: its spec, and its arguments -- large ones in a node's store
    count with their full size, since the lineage keeps them there (bounded by max_lineage_bytes)."""
    held = len(entry.args)
    for data in (entry.inlined or {}).values():
        marker = decode_marker(data)
        held += marker.size if marker is not None else len(data)
    return held


def _in_a_store(results: list) -> bool:
    """Some return lives in a node's store (only those copies can be lost with a node)."""
    for data, is_error in results:      # every task result passes here: a plain loop, no generator
        if not is_error and data[:4] == MARKER_PREFIX:
            return True
    return False


def _error_summary(cw, blob: bytes) -> str:
    try:
        err = serialization.deserialize(blob, cw)
    except Exception:
        return "error"
    cause = getattr(err, "cause", None)
    shown = cause if cause is not None else err
    return f"{type(shown).__name__}: {shown}"[:300]


class TaskSubmitter:
    def __init__(self, cw):
        self.cw = cw
        self.tasks: dict[bytes, TaskEntry] = {}
        self.queues: dict[tuple, ClassQueue] = {}
        self._leases_by_conn: dict[int, list[Lease]] = collections.defaultdict(list)
        self._raylets: dict[str, RayletClient] = {}
        self._closed = False

    # ------------------------------------------------------------ submit
    def submit(self, entry: TaskEntry) -> None:
        self.tasks[entry.task_id] = entry
        self.cw.record_event(entry.task_id, entry.name, "PENDING_ARGS", tag=entry.tag,
                             arg_ids=entry.deps, return_ids=entry.return_ids, parent=entry.parent_task_id)

        def resolved(inlined, error):
            if entry.state is not TaskState.PENDING_ARGS:
                return  # cancelled meanwhile
            if error is not None:
                self._finish(entry, [(error.data, True)] * len(entry.return_ids), TaskState.FAILED)
            else:
                entry.inlined = inlined
                self._enqueue(entry)
        resolve_dependencies(self.cw, entry.deps, entry.arg_refs, resolved)

    def _enqueue(self, entry: TaskEntry) -> None:
        entry.set_state(TaskState.PENDING_LEASE)
        q = self.queues.get(entry.key)
        if q is None:
            q = self.queues[entry.key] = ClassQueue(entry.key)
        q.tasks.append(entry)
        self._dispatch(q)

    # ---------------------------------------------------------- dispatch
    def _dispatch(self, q: ClassQueue) -> None:
        """Push queued tasks to the leases the policy names, then ask for one more lease if it wants."""
        policy, tasks = q.policy, q.tasks
        window = policy.window()
        while tasks:
            lease = policy.next_lease(q.leases, window)
            if lease is None:
                break
            self._push(lease, tasks.popleft())
        if tasks and policy.wants_lease(len(tasks), q.pending_requests):
            q.pending_requests += 1
            self.cw.loop.create_task(self._request_lease(q, q.tasks[0]))
        for lease in q.leases:
            if not lease.in_flight and not q.tasks and lease.linger is None:
                lease.linger = self.cw.loop.call_later(self.cw.config.lease_linger_s, self._linger_over, q, lease)

    def _push(self, lease: Lease, entry: TaskEntry) -> None:
        if lease.linger is not None:
            lease.linger.cancel()
            lease.linger = None
        entry.set_state(TaskState.SUBMITTED)
        entry.lease = lease
        lease.in_flight[entry.task_id] = entry
        lease.conn.send(entry.wire(self.cw.address, self.cw.job_id))

    def _linger_over(self, q: ClassQueue, lease: Lease) -> None:
        lease.linger = None
        if lease.in_flight or q.tasks or lease not in q.leases:
            return
        self._drop_lease(q, lease)
        self.cw.loop.create_task(self._return_lease(lease))

    def _drop_lease(self, q: ClassQueue, lease: Lease) -> None:
        if lease in q.leases:
            q.leases.remove(lease)
        by_conn = self._leases_by_conn.get(id(lease.conn))
        if by_conn and lease in by_conn:
            by_conn.remove(lease)
        if not q.leases and not q.tasks and not q.pending_requests:
            self.queues.pop(q.key, None)

    async def _return_lease(self, lease: Lease, disconnect: bool = False) -> None:
        try:
            await lease.raylet.call("ReturnWorker", raylet_pb2.ReturnWorkerRequest(
                lease_id=lease.lease_id, worker_id=lease.worker_id, disconnect=disconnect), timeout=10)
        except Exception as exc:
            logger.debug("returning lease failed: %s", exc)

    def _raylet(self, address: str) -> RayletClient:
        client = self._raylets.get(address)
        if client is None:
            client = self._raylets[address] = RayletClient(address, self.cw.token)
        return client

    async def _request_lease(self, q: ClassQueue, sample: TaskEntry) -> None:
        cw = self.cw
        affinity, strategy = sample.affinity, sample.strategy
        group = None if strategy.__class__ is str else strategy     # (group id, bundle index, capture)
        req = raylet_pb2.RequestWorkerLeaseRequest(
            request_id=os.urandom(8), resources=sample.resources, owner_worker_id=cw.worker_id,
            owner_pid=os.getpid(), owner_host=cw.node_ip, owner_node_id=cw.node_id,
            strategy="DEFAULT" if group else strategy,
            affinity_node_id=affinity[0] if affinity else b"", affinity_soft=bool(affinity and affinity[1]),
            name=sample.name, placement_group_id=group[0] if group else b"",
            bundle_index=group[1] if group else -1)
        near = None if (group or affinity or strategy != "DEFAULT") else locality_raylet(
            sample.inlined, cw.node_watch.dead)
        tries = []

        def home():
            """The raylet holding the arguments is asked once; after that (it refused, failed or spilled
            back and the next one rejected) the request starts from this node's raylet as usual."""
            if near is None or near == cw.raylet_address or tries:
                return cw.raylet
            tries.append(near)
            return self._raylet(near)
        try:
            granted = await leasing.follow(
                req, home=home, raylet_at=self._raylet, what=f"task {sample.name}",
                wanted=lambda: bool(q.tasks) and not self._closed,
                on_infeasible=lambda message: cw.warn_infeasible(q.key[1:], message))
            if granted is not None and granted[0].status == leasing.Reply.UNSCHEDULABLE:
                self._unschedulable(q, granted[0].message)
            elif granted is not None:
                await self._lease_granted(q, *granted)
        finally:
            q.pending_requests -= 1
            if q.tasks and not self._closed:
                self._dispatch(q)
            elif not q.leases and not q.tasks and not q.pending_requests:
                self.queues.pop(q.key, None)

    def _unschedulable(self, q: ClassQueue, message: str) -> None:
        """No raylet will ever run this class as asked: its queued tasks fail (TaskUnschedulableError)."""
        tasks, q.tasks = list(q.tasks), collections.deque()
        for entry in tasks:
            self._fail_with(entry, exceptions.TaskUnschedulableError(message))

    async def _lease_granted(self, q: ClassQueue, reply, raylet: RayletClient) -> None:
        w = reply.worker
        address = f"{w.host}:{w.port}"
        try:
            conn = await self.cw.connect(address)
        except (ConnectionError, OSError) as exc:
            logger.warning("could not connect to leased worker %s: %s", address, exc)
            lease = Lease(reply.lease_id, w.worker_id, address, None, raylet, q.key)
            await self._return_lease(lease, disconnect=True)
            return
        lease = Lease(reply.lease_id, w.worker_id, address, conn, raylet, q.key, w.node_id)
        self.cw.node_watch.start()
        if not q.tasks or self._closed:
            await self._return_lease(lease)
            return
        q.leases.append(lease)
        self._leases_by_conn[id(conn)].append(lease)

    # ------------------------------------------------------------ results
    def on_task_done(self, conn, msg: m.TaskDone) -> None:
        task_id, attempt, status, results, exec_s, nested = msg
        entry = self.tasks.get(task_id)
        if entry is None or entry.attempt != attempt or entry.state is not TaskState.SUBMITTED:
            self.cw.borrowing.adopt_nested(conn, [], nested)   # a stale attempt: the worker may drop its holds
            return
        lease = entry.lease
        entry.lease = None
        q = self.queues.get(entry.key)
        if lease is not None:
            lease.in_flight.pop(task_id, None)
        if q is not None:
            q.policy.task_took(exec_s)
        ran_on = (lease.node_id, lease.worker_id, time.time() - exec_s) if lease is not None else None
        if status == "ok":
            self.cw.borrowing.adopt_nested(conn, entry.return_ids, nested)
            self._finish(entry, results, TaskState.FINISHED, ran_on)
        elif status == "cancelled":
            self._finish(entry, results, TaskState.CANCELLED, ran_on)
        else:
            exc_type = None
            if isinstance(entry.retry_exceptions, (list, tuple)):
                try:
                    err = serialization.deserialize(results[0][0], self.cw)
                    exc_type = type(err.cause) if isinstance(err, exceptions.TaskError) else type(err)
                except Exception:
                    exc_type = None
            if not entry.cancel_requested and retry_decision(
                    Failure.APPLICATION, entry.retries_left, entry.retry_exceptions, exc_type):
                self._retry(entry)
            else:
                self._finish(entry, results, TaskState.FAILED, ran_on)
        if q is not None:
            self._dispatch(q)

    def _retry(self, entry: TaskEntry) -> None:
        if entry.retries_left > 0:
            entry.retries_left -= 1
        entry.attempt += 1
        self.cw.record_event(entry.task_id, entry.name, "RETRY", entry.attempt)
        self._enqueue(entry)

    def _finish(self, entry: TaskEntry, results: list, state: TaskState, ran_on: tuple | None = None) -> None:
        entry.set_state(state)
        self.tasks.pop(entry.task_id, None)
        error = ""
        if state is not TaskState.FINISHED and results and results[0][1]:
            error = _error_summary(self.cw, results[0][0])
        self.cw.record_event(entry.task_id, entry.name, state.name, entry.attempt, error, ran_on=ran_on)
        for oid, (data, is_error) in zip(entry.return_ids, results):
            self.cw.store_result(oid, StoredObject(data, is_error), owned=True)
        if entry.task_id in self.cw.lineage.records:
            pass                                    # a rebuild ended: the lineage keeps holding the arguments
        elif state is TaskState.FINISHED and _in_a_store(results):
            self.cw.keep_lineage(entry, lineage_bytes(entry))
        elif entry.arg_refs:
            self.cw.release_submitted([r._id for r in entry.arg_refs])
        entry.arg_refs = None

    # ------------------------------------------------------ reconstruction
    def reconstruct(self, conn, msg: m.ObjectLost) -> None:
        """An owned object's only copy is gone (a node died): run the task that made it again, as a new
        attempt with the same return ids, or store the error that says why it cannot be rebuilt.
        A lost argument of that task is found the same way by the worker that reads it (recursion)."""
        cw, oid = self.cw, msg.oid
        obj = cw.store.get(oid)
        if obj is None or obj.is_error or (msg.seen and obj.data != msg.seen):
            return                                  # being rebuilt, failed already, or rebuilt since
        with cw._lock:
            old = cw.lineage.producer(oid)
            why = cw.lineage.why_not(oid)
        if old is None or old.retries_left == 0:
            self._lost_for_good(oid, old, why)
            return
        if old.task_id in self.tasks:
            return                                  # its rebuild is under way
        entry = TaskEntry(old.task_id, old.fid, old.name, old.args, old.deps, old.return_ids, old.num_returns,
                          old.resources, old.retries_left - 1 if old.retries_left > 0 else -1,
                          old.retry_exceptions, old.parent_task_id, old.strategy, old.affinity)
        entry.attempt, entry.tag, entry.log_sink = old.attempt + 1, old.tag, old.log_sink
        with cw._lock:
            cw.lineage.replace(entry)
            live = [r for r in entry.return_ids if r in cw.refs]
        logger.info("rebuilding %d lost output(s) of task %s() (attempt %d)", len(live), entry.name, entry.attempt)
        cw.store.delete(live)                       # gets and borrowers wait for the new values
        self.submit(entry)

    def _lost_for_good(self, oid: bytes, producer, why: str) -> None:
        if producer is not None:
            err = exceptions.ObjectReconstructionFailedMaxAttemptsExceededError(
                f"Object {oid.hex()} was lost (the node holding it died) and cannot be rebuilt: the task "
                f"{producer.name}() that made it has no retries left. Give the task max_retries > 0 (or -1).")
        elif why == "evicted":
            err = exceptions.ObjectReconstructionFailedLineageEvictedError(
                f"Object {oid.hex()} was lost (the node holding it died) and cannot be rebuilt: its lineage "
                f"was evicted to stay within max_lineage_bytes. Raise _system_config['max_lineage_bytes'].")
        elif why == "no retries":
            err = exceptions.ObjectReconstructionFailedMaxAttemptsExceededError(
                f"Object {oid.hex()} was lost (the node holding it died) and cannot be rebuilt: the task that "
                f"made it ran with max_retries=0. Give the task max_retries > 0 (or -1) to make it recoverable.")
        else:
            err = exceptions.ObjectLostError(
                f"Object {oid.hex()} was lost (the node holding it died) and cannot be rebuilt: it was made by "
                f"strato.put() or by an actor call, which keep no lineage. Return it from a task (with "
                f"max_retries > 0) to make it recoverable, or keep a copy on the driver.")
        self.cw.store.put(oid, StoredObject(serialization.serialize(err)[0], True))

    def _fail_with(self, entry: TaskEntry, err: BaseException, state: TaskState = TaskState.FAILED) -> None:
        blob = serialization.serialize(err)[0]
        self._finish(entry, [(blob, True)] * len(entry.return_ids), state)

    def on_connection_lost(self, conn) -> None:
        leases = self._leases_by_conn.pop(id(conn), [])
        for lease in leases:
            q = self.queues.get(lease.key)
            if q is not None and lease in q.leases:
                q.leases.remove(lease)
            if lease.linger is not None:
                lease.linger.cancel()
            in_flight, lease.in_flight = list(lease.in_flight.values()), {}
            for entry in in_flight:
                entry.lease = None
                if entry.cancel_requested:
                    self._fail_with(entry, exceptions.TaskCancelledError(entry.task_id.hex()),
                                    TaskState.CANCELLED)
                elif retry_decision(Failure.WORKER_DIED, entry.retries_left, entry.retry_exceptions, None):
                    self._retry(entry)
                else:
                    self._fail_with(entry, exceptions.WorkerCrashedError(
                        f"The worker running task {entry.name}() (worker {lease.worker_id.hex()[:12]} at "
                        f"{lease.address}) died before the task finished. The process exited or was killed "
                        f"-- look for an os._exit, a segfault or the kernel's OOM killer in the worker's log "
                        f"in the session folder. Set max_retries on the task to retry it."))
            if q is not None:
                self._dispatch(q)

    def conns_on_node(self, node_id: bytes) -> list:
        """Connections to leased workers on that node (node_watch.py closes them when it dies)."""
        return [lease.conn for q in self.queues.values() for lease in q.leases
                if lease.node_id == node_id and lease.conn is not None and not lease.conn.closed]

    # ------------------------------------------------------------ cancel
    def cancel(self, task_id: bytes, force: bool) -> None:
        entry = self.tasks.get(task_id)
        if entry is None:
            return
        entry.cancel_requested = True
        err = exceptions.TaskCancelledError(task_id.hex())
        if entry.state is TaskState.PENDING_ARGS:
            self._fail_with(entry, err, TaskState.CANCELLED)
        elif entry.state is TaskState.PENDING_LEASE:
            q = self.queues.get(entry.key)
            if q is not None and entry in q.tasks:
                q.tasks.remove(entry)
            self._fail_with(entry, err, TaskState.CANCELLED)
        elif entry.state is TaskState.SUBMITTED and entry.lease is not None:
            entry.force_cancel = force
            entry.lease.conn.send(m.CancelTask(task_id, force))

    # ------------------------------------------------------------ shutdown
    async def return_all_leases(self) -> None:
        self._closed = True
        leases = [lease for q in self.queues.values() for lease in q.leases]
        await asyncio.gather(*(self._return_lease(lease) for lease in leases), return_exceptions=True)

    def close(self) -> None:
        self._closed = True
        for client in self._raylets.values():
            self.cw.loop.create_task(client.close())
