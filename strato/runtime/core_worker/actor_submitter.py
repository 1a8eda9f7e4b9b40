"""The caller's side of actor calls (event-loop thread only).

    call(handle.method.remote) -> resolve argument refs -> per-actor queue, in
    this caller's submission order -> ActorCall(...) straight to the
    actor's worker -> ActorDone(...) -> returns stored like task results

The actor's address comes from the GCS (GetActorInfo, waiting for a newer
version while the actor is pending or restarting). When the connection to
the actor drops, calls in flight are sent again once it is back if they
have retries left (max_task_retries), and otherwise fail with
ActorDiedError carrying the GCS's cause. Calls to a dead actor fail at
once; if its constructor raised, with that error.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time

from strato import exceptions
from strato.runtime import serialization
from strato.runtime.core_worker.memory_store import StoredObject
from strato.runtime.core_worker.submitter import resolve_dependencies
from strato.runtime.protocol import gcs_pb2
from strato.runtime.protocol import messages as m

logger = logging.getLogger(__name__)


class ActorCall:
    __slots__ = ("task_id", "actor_id", "method", "name", "args", "deps", "arg_refs", "return_ids",
                 "num_returns", "retries_left", "seq", "ready", "inlined", "attempt", "tag", "log_sink",
                 "error")

    def __init__(self, task_id, actor_id, method, name, args, deps, arg_refs, return_ids, num_returns,
                 retries_left, seq, tag, log_sink):
        self.task_id = task_id
        self.actor_id = actor_id
        self.method = method
        self.name = name
        self.args = args
        self.deps = deps
        self.arg_refs = arg_refs
        self.return_ids = return_ids
        self.num_returns = num_returns
        self.retries_left = retries_left
        self.seq = seq
        self.ready = False
        self.inlined = None
        self.attempt = 0
        self.tag = tag
        self.log_sink = log_sink
        self.error = None

    def wire(self, caller: str, job_id: bytes) -> m.ActorCall:
        return m.make(m.ActorCall, (self.task_id, self.attempt, job_id, self.method, self.name, self.args,
                                    self.inlined, self.num_returns, caller, self.seq, self.tag, self.log_sink))


class ActorQueue:
    def __init__(self, actor_id: bytes):
        self.actor_id = actor_id
        self.unsent: collections.deque[ActorCall] = collections.deque()
        self.in_flight: dict[bytes, ActorCall] = {}
        self.lost: list[ActorCall] = []
        self.conn = None
        self.node_id = b""                  # where the actor runs now (its connection dies with that node)
        self.worker_id = b""                # and its worker (a call's task event says where it ran)
        self.connecting = False
        self.version = 0
        self.dead_error: bytes | None = None


class ActorSubmitter:
    def __init__(self, cw):
        self.cw = cw
        self.queues: dict[bytes, ActorQueue] = {}
        self.by_task: dict[bytes, ActorQueue] = {}
        self.pending_counts: collections.Counter = collections.Counter()   # touched under cw._lock

    def queue(self, actor_id: bytes) -> ActorQueue:
        q = self.queues.get(actor_id)
        if q is None:
            q = self.queues[actor_id] = ActorQueue(actor_id)
        return q

    # ------------------------------------------------------------ submit
    def submit(self, call: ActorCall) -> None:
        q = self.queue(call.actor_id)
        self.by_task[call.task_id] = q
        q.unsent.append(call)
        self.cw.record_event(call.task_id, call.name, "PENDING_ARGS", tag=call.tag, arg_ids=call.deps,
                             return_ids=call.return_ids, parent=self.cw.current_task_id or b"",
                             actor_id=call.actor_id)

        def resolved(inlined, error):
            if error is not None:
                call.error = error
            call.inlined = inlined or {}
            call.ready = True
            self._pump(q)
        resolve_dependencies(self.cw, call.deps, call.arg_refs, resolved)

    def _pump(self, q: ActorQueue) -> None:
        if q.dead_error is not None:
            self._fail_all(q, q.dead_error)
            return
        while q.unsent and q.unsent[0].ready and q.unsent[0].error is not None:
            call = q.unsent.popleft()
            self._finish(q, call, [(call.error.data, True)] * len(call.return_ids), "FAILED")
        if q.conn is None or q.conn.closed:
            q.conn = None
            if q.unsent and not q.connecting:
                q.connecting = True
                self.cw.loop.create_task(self._connect(q))
            return
        while q.unsent and q.unsent[0].ready:
            call = q.unsent.popleft()
            if call.error is not None:
                self._finish(q, call, [(call.error.data, True)] * len(call.return_ids), "FAILED")
                continue
            q.in_flight[call.task_id] = call
            q.conn.send(call.wire(self.cw.address, self.cw.job_id))

    async def _connect(self, q: ActorQueue) -> None:
        try:
            while True:
                if self.cw._closed:
                    return
                wait = q.version if (q.lost or q.version) else 0
                try:
                    reply = await self.cw.gcs.call("GetActorInfo", gcs_pb2.GetActorInfoRequest(
                        actor_id=q.actor_id, wait_newer_than=wait, timeout_s=20), timeout=40)
                except Exception as exc:
                    if self.cw._closed:
                        return
                    logger.warning("actor lookup failed: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                if not reply.found:
                    q.dead_error = _blob(exceptions.ActorDiedError(
                        f"Actor {q.actor_id.hex()} is unknown to the cluster (it was never created here, or the "
                        f"cluster restarted)."))
                    break
                info = reply.info
                if info.version <= q.version and wait:
                    continue   # long poll timed out
                q.version = info.version
                if q.lost:
                    self._settle_lost(q, info)
                if info.state == "DEAD":
                    q.dead_error = _blob(self._death_error(info))
                    break
                if info.state == "ALIVE":
                    try:
                        q.conn = await self.cw.connect(info.address)
                        q.node_id, q.worker_id = info.node_id, info.worker_id
                        self.cw.node_watch.start()
                        break
                    except (ConnectionError, OSError):
                        continue
        finally:
            q.connecting = False
        self._pump(q)

    def _death_error(self, info) -> exceptions.ActorDiedError:
        """ActorDiedError with the cause; when the constructor raised, its error and traceback."""
        where = f"The actor {info.class_name} ({info.actor_id.hex()[:12]}) is dead"
        if info.unschedulable:       # never placed: its strategy names a dead node or a removed group
            return exceptions.ActorUnschedulableError(f"{info.class_name} ({info.actor_id.hex()[:12]}): "
                                                      f"{info.death_cause}")
        if not info.creation_error:
            return exceptions.ActorDiedError(f"{where}: {info.death_cause}.")
        try:
            cause = serialization.deserialize(info.creation_error, self.cw)
        except Exception as exc:
            cause = exceptions.StratoError(f"(its constructor's error could not be read: {exc})")
        err = exceptions.ActorDiedError(f"{where}: its constructor raised, so every call fails.\n\n{cause}")
        err.creation_error = cause
        return err

    def _settle_lost(self, q: ActorQueue, info) -> None:
        """Calls that were in flight when the actor's connection dropped."""
        lost, q.lost = q.lost, []
        retry = []
        for call in lost:
            if call.retries_left != 0 and info.state != "DEAD":
                call.retries_left -= 1 if call.retries_left > 0 else 0
                call.attempt += 1
                retry.append(call)
            else:
                err = exceptions.ActorDiedError(
                    f"The actor {info.class_name} died while running {call.name}(): "
                    f"{info.death_cause or 'its worker process died'}. (Calls in flight are retried after a "
                    f"restart up to the actor's max_task_retries times.)")
                self._finish(q, call, [(_blob(err), True)] * len(call.return_ids), "FAILED")
        for call in sorted(retry, key=lambda c: c.seq, reverse=True):
            q.unsent.appendleft(call)

    # ----------------------------------------------------------- results
    def on_done(self, conn, msg: m.ActorDone) -> None:
        task_id, attempt, status, results, exec_s, nested = msg
        q = self.by_task.get(task_id)
        call = q.in_flight.pop(task_id, None) if q is not None else None
        if call is None or call.attempt != attempt:
            self.cw.borrowing.adopt_nested(conn, [], nested)   # stale: the actor may drop its holds
            return
        self.cw.borrowing.adopt_nested(conn, call.return_ids, nested)
        # where and when it ran: the actor drops its RUNNING event of a call that ended before its flush
        self._finish(q, call, results, "FINISHED" if status == "ok" else "FAILED",
                     (q.node_id, q.worker_id, time.time() - exec_s))

    def _finish(self, q: ActorQueue, call: ActorCall, results: list, state: str, ran_on: tuple | None = None) -> None:
        self.by_task.pop(call.task_id, None)
        self.cw.record_event(call.task_id, call.name, state, call.attempt, actor_id=call.actor_id, ran_on=ran_on)
        for oid, (data, is_error) in zip(call.return_ids, results):
            self.cw.store_result(oid, StoredObject(data, is_error), owned=True)
        if call.arg_refs:
            self.cw.release_submitted([r._id for r in call.arg_refs])
        call.arg_refs = None
        with self.cw._lock:
            self.pending_counts[call.actor_id] -= 1

    def _fail_all(self, q: ActorQueue, blob: bytes) -> None:
        calls = list(q.unsent) + list(q.in_flight.values()) + q.lost
        q.unsent.clear()
        q.in_flight.clear()
        q.lost = []
        for call in calls:
            self._finish(q, call, [(blob, True)] * len(call.return_ids), "FAILED")

    def forget_connection(self, actor_id: bytes) -> None:
        """This process just killed the actor: later calls wait for its next incarnation
        (or its death) instead of going down the old connection before it closes."""
        q = self.queues.get(actor_id)
        if q is not None and q.conn is not None:
            self._reconnect(q)

    def forget_actor(self, actor_id: bytes) -> None:
        """The actor went out of scope: nothing of this process can call it any more."""
        q = self.queues.get(actor_id)
        if q is not None and not (q.unsent or q.in_flight or q.lost):
            del self.queues[actor_id]

    def conns_on_node(self, node_id: bytes) -> list:
        """Connections to actors running on that node (node_watch.py closes them when it dies)."""
        return [q.conn for q in self.queues.values()
                if q.node_id == node_id and q.conn is not None and not q.conn.closed]

    def on_connection_lost(self, conn) -> None:
        if self.cw._closed:
            return
        for q in self.queues.values():
            if q.conn is conn:
                self._reconnect(q)

    def _reconnect(self, q: ActorQueue) -> None:
        """Calls in flight are settled once the GCS says what became of the actor."""
        q.conn = None
        q.lost.extend(q.in_flight.values())
        q.in_flight.clear()
        if not q.connecting:
            q.connecting = True
            self.cw.loop.create_task(self._connect(q))

def _blob(err: BaseException) -> bytes:
    return serialization.serialize(err)[0]
