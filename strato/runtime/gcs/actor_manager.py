"""The GCS's actor manager: the actor table and every actor's creation and restarts.

    caller --RegisterActor--> table (name reserved, DEPENDENCIES_UNREADY)
    caller --CreateActor (args resolved)--> PENDING_CREATION
        -> lease a worker from a raylet (following spill-backs), as the lease's owner
        -> CreateActor(spec) to the worker over the framed protocol -> ALIVE
    the worker's connection closes, or its raylet reports its exit code
        -> RESTARTING and again, while max_restarts allows; else DEAD with the cause
    a job's driver disconnects / finishes -> its non-detached actors are killed

An actor's scheduling strategy (ActorInfo.scheduling: SPREAD, node affinity,
a placement group's bundle) goes into its lease requests as a task's does; a
request the raylets answer UNSCHEDULABLE (a hard affinity to a dead node, a
removed group) leaves the actor DEAD and `unschedulable` (callers raise
ActorUnschedulableError). Removing a placement group kills its actors.

Callers learn addresses and deaths with GetActorInfo, which can wait for
the next version of an entry (long poll). The decisions -- which node to
ask first, restart or not, the cause recorded, which actors a dead node or
job takes along -- are pure functions in actor_state.py; this module does
the IO they call for.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time

from strato.runtime import leasing, transport
from strato.runtime.gcs.actor_state import (
    ActorState, AfterDeath, after_creation, after_death, check_transition, creation_node, dies_with_job,
    dies_with_node, lost_worker_cause)
from strato.runtime.protocol import gcs_pb2, raylet_pb2
from strato.runtime.protocol import messages
from strato.runtime.rpc import RayletClient

logger = logging.getLogger("strato.gcs.actors")
Reply = raylet_pb2.RequestWorkerLeaseReply


@dataclasses.dataclass
class ActorEntry:
    info: gcs_pb2.ActorInfo
    state: ActorState = ActorState.DEPENDENCIES_UNREADY
    creation_spec: bytes = b""
    conn: transport.Connection | None = None
    raylet: RayletClient | None = None
    incarnation: int = 0
    waiters: list = dataclasses.field(default_factory=list)
    killed: bool = False


class ActorManager:
    def __init__(self, gcs, token: str, host: str):
        self.gcs = gcs
        self.token = token
        self.host = host
        self.actors: dict[bytes, ActorEntry] = {}
        self.named: dict[tuple[str, str], bytes] = {}
        self.by_worker: dict[bytes, bytes] = {}
        self.raylets: dict[str, RayletClient] = {}
        self.job_conns: dict[bytes, transport.Connection] = {}
        self._spread_turn = 0
        self.on_change = _ignore_change     # called with an entry after each change (the GCS writes it through)
        # the pid the actors' worker leases name as their owner; 0 (no pid to watch) when the GCS's storage is
        # durable: a raylet must not end actors because the GCS process died, as a restarted GCS takes them back
        self.lease_owner_pid = os.getpid()

    # ------------------------------------------------------------ table
    def _set_state(self, entry: ActorEntry, state: ActorState, cause: str = "") -> None:
        check_transition(entry.state, state)
        entry.state = state
        info = entry.info
        info.state = state.value
        if cause:
            info.death_cause = cause
        if state is ActorState.DEAD:
            info.end_time = time.time()
            info.address = ""
            if info.name and self.named.get((info.namespace, info.name)) == info.actor_id:
                del self.named[(info.namespace, info.name)]
        self._bump(entry)

    def _bump(self, entry: ActorEntry) -> None:
        entry.info.version += 1
        self.on_change(entry)
        waiters, entry.waiters = entry.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def register(self, request: gcs_pb2.RegisterActorRequest) -> gcs_pb2.RegisterActorReply:
        info = request.info
        if info.actor_id in self.actors:     # the same call again: its caller's GCS client retried it
            return gcs_pb2.RegisterActorReply(info=self.actors[info.actor_id].info)
        key = (info.namespace, info.name)
        if info.name and key in self.named:
            existing = self.actors[self.named[key]]
            if request.get_if_exists:
                return gcs_pb2.RegisterActorReply(info=existing.info, existed=True)
            return gcs_pb2.RegisterActorReply(error=(
                f"The actor name {info.name!r} is already taken in namespace {info.namespace!r} (by actor "
                f"{existing.info.actor_id.hex()[:12]}). Use strato.get_actor({info.name!r}) to reach it, pass "
                f"get_if_exists=True, or kill it first."))
        info.state = ActorState.DEPENDENCIES_UNREADY.value
        info.version = 1
        info.start_time = time.time()
        self.actors[info.actor_id] = ActorEntry(info)
        if info.name:
            self.named[key] = info.actor_id
        self.on_change(self.actors[info.actor_id])
        return gcs_pb2.RegisterActorReply(info=info)

    def create(self, actor_id: bytes, creation_spec: bytes) -> None:
        entry = self.actors.get(actor_id)
        if entry is None or entry.state is not ActorState.DEPENDENCIES_UNREADY:
            return
        entry.creation_spec = creation_spec
        self._set_state(entry, ActorState.PENDING_CREATION)
        asyncio.get_running_loop().create_task(self._create(entry))

    def lookup(self, actor_id: bytes, name: str, namespace: str) -> ActorEntry | None:
        if not actor_id and name:
            actor_id = self.named.get((namespace, name), b"")
        return self.actors.get(actor_id)

    async def wait_newer(self, entry: ActorEntry, version: int, timeout: float) -> None:
        if entry.info.version > version:
            return
        fut = asyncio.get_running_loop().create_future()
        entry.waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass

    # --------------------------------------------------------- creation
    def _raylet(self, address: str) -> RayletClient:
        client = self.raylets.get(address)
        if client is None:
            client = self.raylets[address] = RayletClient(address, self.token)
        return client

    def _start_raylet(self, entry: ActorEntry, spread_turn: int | None = None) -> RayletClient | None:
        node = creation_node(self.gcs.nodes.values(), entry.info.owner_node_id, spread_turn)
        return None if node is None else self._raylet(f"{node.address}:{node.raylet_port}")

    async def _create(self, entry: ActorEntry) -> None:
        entry.incarnation += 1
        incarnation = entry.incarnation
        info = entry.info
        sched = info.scheduling
        req = raylet_pb2.RequestWorkerLeaseRequest(
            request_id=os.urandom(8), resources=dict(info.resources),
            placement_resources=dict(info.placement_resources), owner_worker_id=b"gcs", owner_pid=self.lease_owner_pid,
            owner_host=self.host, name=info.class_name, strategy="SPREAD" if sched.kind == "SPREAD" else "DEFAULT",
            affinity_node_id=sched.node_id if sched.kind == "NODE_AFFINITY" else b"", affinity_soft=sched.soft,
            placement_group_id=sched.placement_group_id if sched.kind == "PLACEMENT_GROUP" else b"",
            bundle_index=sched.bundle_index)
        turn = None
        if sched.kind == "SPREAD":
            turn, self._spread_turn = self._spread_turn, self._spread_turn + 1
        warned = []

        def on_infeasible(message: str) -> None:
            if not warned:
                warned.append(True)
                logger.warning("actor %s is infeasible: %s", info.class_name, message)

        granted = await leasing.follow(
            req, home=lambda: self._start_raylet(entry, turn), raylet_at=self._raylet, on_infeasible=on_infeasible,
            wanted=lambda: entry.incarnation == incarnation and entry.state is not ActorState.DEAD,
            what=f"actor {info.actor_id.hex()[:12]}")
        if granted is None:
            return
        reply, raylet = granted
        if reply.status == Reply.UNSCHEDULABLE:
            if entry.incarnation == incarnation and entry.state is not ActorState.DEAD:
                logger.warning("actor %s is unschedulable: %s", info.class_name, reply.message)
                info.unschedulable = True
                self._set_state(entry, ActorState.DEAD, reply.message)
            return
        w = reply.worker
        address = f"{w.host}:{w.port}"
        if entry.incarnation != incarnation or entry.state is ActorState.DEAD:
            await raylet.call("ReturnWorker", raylet_pb2.ReturnWorkerRequest(  # unused: back to the pool
                lease_id=reply.lease_id, worker_id=w.worker_id))
            return
        entry.raylet = raylet
        info.worker_id, info.node_id, info.pid = w.worker_id, w.node_id, w.pid
        self.by_worker[w.worker_id] = info.actor_id
        self.on_change(entry)     # stored: a GCS restarted before the constructor answers ends this worker
        try:
            conn = await transport.connect(w.host, w.port, self.token, {"gcs": True}, _ignore,
                                           lambda c, e: self._on_conn_lost(info.actor_id, incarnation))
            entry.conn = conn
            result = await conn.request(messages.CreateActor, info.actor_id, entry.creation_spec, info.job_id)
        except (ConnectionError, OSError, PermissionError) as exc:
            self._on_death(info.actor_id, incarnation, f"its worker process died during creation ({exc})")
            return
        if entry.incarnation != incarnation or entry.state is ActorState.DEAD:
            return
        state, cause = after_creation(result)
        if state is ActorState.ALIVE:
            info.address = address
            self._set_state(entry, ActorState.ALIVE)
        else:
            info.creation_error = result[1]
            self._set_state(entry, ActorState.DEAD, cause)
            self.by_worker.pop(info.worker_id, None)
            await self._kill_worker(raylet, info.worker_id)

    # ------------------------------------------------------------ deaths
    def _on_conn_lost(self, actor_id: bytes, incarnation: int) -> None:
        async def later():
            await asyncio.sleep(1.0)   # give the raylet time to report the exit code
            entry = self.actors.get(actor_id)
            if entry is None or entry.incarnation != incarnation:
                return
            node_id, answers = entry.info.node_id, True
            try:   # no exit report: is its raylet gone too?
                await entry.raylet.call("GetNodeStats", raylet_pb2.GetNodeStatsRequest(), timeout=1.0)
            except Exception:
                answers = False
            self._on_death(actor_id, incarnation, lost_worker_cause(answers, node_id))
        asyncio.get_running_loop().create_task(later())

    def worker_failed(self, worker_id: bytes, exit_code: int, reason: str) -> None:
        actor_id = self.by_worker.pop(worker_id, None)
        entry = self.actors.get(actor_id) if actor_id else None
        if entry is not None:
            self._on_death(actor_id, entry.incarnation, reason or f"its worker process exited with code {exit_code}")

    def node_died(self, node_id: bytes) -> None:
        for entry in list(self.actors.values()):
            if dies_with_node(entry.state, entry.info.node_id, node_id):
                self._on_death(entry.info.actor_id, entry.incarnation,
                               f"its node {node_id.hex()[:12]} died")

    def _on_death(self, actor_id: bytes, incarnation: int, cause: str, no_restart: bool = False) -> None:
        entry = self.actors.get(actor_id)
        if entry is None:
            return
        info = entry.info
        verdict, cause = after_death(entry.state, current=entry.incarnation == incarnation, killed=entry.killed,
                                     num_restarts=info.num_restarts, max_restarts=info.max_restarts,
                                     no_restart=no_restart, cause=cause)
        if verdict is AfterDeath.IGNORE:
            return
        self.by_worker.pop(info.worker_id, None)
        if entry.conn is not None:
            entry.conn.on_close = None
            entry.conn.close()
            entry.conn = None
        info.address = ""
        if verdict is AfterDeath.RESTART:
            info.num_restarts += 1
            info.death_cause = cause
            logger.info("actor %s restarting (%d): %s", info.class_name, info.num_restarts, cause)
            self._set_state(entry, ActorState.RESTARTING)
            self._set_state(entry, ActorState.PENDING_CREATION)
            asyncio.get_running_loop().create_task(self._create(entry))
        else:
            self._set_state(entry, ActorState.DEAD, cause)

    async def kill(self, actor_id: bytes, no_restart: bool, cause: str = "") -> bool:
        entry = self.actors.get(actor_id)
        if entry is None:
            return False
        if entry.state is ActorState.DEAD:
            return True
        entry.killed = no_restart
        cause = cause or "it was killed with strato.kill()"
        if entry.state is ActorState.DEPENDENCIES_UNREADY:
            self._set_state(entry, ActorState.DEAD, cause)
            return True
        raylet, worker_id = entry.raylet, entry.info.worker_id
        self._on_death(actor_id, entry.incarnation, cause, no_restart)
        await self._kill_worker(raylet, worker_id)
        return True

    async def placement_group_removed(self, pg_id: bytes) -> None:
        """Its placement group was removed: the group's actors die, without restarts (as in Ray)."""
        for entry in list(self.actors.values()):
            sched = entry.info.scheduling
            if sched.kind == "PLACEMENT_GROUP" and sched.placement_group_id == pg_id:
                await self.kill(entry.info.actor_id, True, f"its placement group {pg_id.hex()} was removed")

    async def _kill_worker(self, raylet: RayletClient | None, worker_id: bytes) -> None:
        if raylet is not None and worker_id:
            try:
                await raylet.call("KillWorker", raylet_pb2.KillWorkerRequest(worker_id=worker_id), timeout=5)
            except Exception as exc:
                logger.warning("could not kill actor worker: %s", exc)

    # -------------------------------------------------------------- jobs
    async def watch_job(self, job_id: bytes, driver_address: str) -> None:
        """Keep a connection to the driver; when it closes (MarkJobFinished or not: a crashed driver too),
        the job ends as MarkJobFinished ends it (GcsServer.finish_job): its leases elsewhere, actors, groups."""
        host, port = driver_address.rsplit(":", 1)
        try:
            conn = await transport.connect(host, int(port), self.token, {"gcs": True}, _ignore,
                                           lambda c, e: asyncio.get_running_loop().create_task(
                                               self.gcs.finish_job(job_id)))
            self.job_conns[job_id] = conn
        except (ConnectionError, OSError, PermissionError) as exc:
            logger.warning("cannot watch the driver of job %s: %s", job_id.hex(), exc)

    async def job_finished(self, job_id: bytes) -> None:
        conn = self.job_conns.pop(job_id, None)
        if conn is not None:
            conn.on_close = None
            conn.close()
        for entry in list(self.actors.values()):
            if dies_with_job(entry.state, entry.info.job_id, entry.info.detached, job_id):
                await self.kill(entry.info.actor_id, True, "its driver (the job that created it) exited")
        groups = getattr(self.gcs, "placement_groups", None)
        if groups is not None:
            await groups.job_finished(job_id)       # its placement groups go too, unless detached


def _ignore(conn, msg):
    pass


def _ignore_change(entry):
    pass
