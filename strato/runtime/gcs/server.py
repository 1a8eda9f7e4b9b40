"""The GCS: the cluster's control store, one process on the head node.

    raylets --RegisterNode/Heartbeat--> node table + HealthTracker --> NodeChange pubsub
    drivers --AddJob/MarkJobFinished--> job table
    drivers, workers --KVPut/KVGet--> KV (function and class exports)
    core workers --AddTaskEvents(batch)--> rows (task_event_rows.py) in a bounded buffer (state API, widgets)

Tables live behind storage.StoreClient, opened from the storage URL the
starter puts in STRATO_GCS_STORAGE (memory, a SQLite file in the session
folder, or Redis: storage.py). What must outlive the process -- nodes, jobs,
actors with their specs, names, KV, placement groups -- is written through
on every change; a GCS started on a store that holds them takes the cluster
back (recovery.py), and raylets and core workers reconnect (rpc.py: a
client that reached the GCS once retries while it is away). A node silent
for `health_check_timeout_s` is marked dead and the change is published to
every subscriber; its raylet, if it comes back, is told it is dead and exits.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import sys
import time

import grpc

from strato.runtime.config import SystemConfig
from strato.runtime.gcs.actor_manager import ActorManager
from strato.runtime.gcs.node_health import HealthTracker
from strato.runtime.gcs.placement_group_manager import PlacementGroupManager
from strato.runtime.gcs import recovery, storage, task_event_rows
from strato.runtime.gcs.storage import StoreClient
from strato.runtime.gcs.storage_url import open_store
from strato.runtime.protocol import gcs_pb2, gcs_pb2_grpc
from strato.runtime import tls
from strato.runtime.rpc import add_port, make_server

logger = logging.getLogger("strato.gcs")
VERSION = "0.1.0"
#: A node's changed resources (from its heartbeat) are pushed to every subscriber this soon, coalesced:
#: with the raylets' own change-driven heartbeats, every raylet's view is about 100 ms fresh at most.
RESOURCE_PUSH_S = 0.05


class GcsServer(gcs_pb2_grpc.GcsServiceServicer):
    def __init__(self, store: StoreClient, config: SystemConfig, session_dir: str, token: str = "",
                 host: str = "127.0.0.1"):
        self.actors = ActorManager(self, token, host)
        self.placement_groups = PlacementGroupManager(self, token)
        self.actors.on_change = self._save_actor
        self.store = store
        if store.durable:     # a restarted GCS takes its actors back: raylets must not end them with this process
            self.actors.lease_owner_pid = 0
        self.config = config
        self.session_dir = session_dir
        self.health = HealthTracker(config.health_check_timeout_s, config.health_check_initial_delay_s)
        self.nodes: dict[bytes, gcs_pb2.NodeInfo] = {}
        self.subscribers: list[asyncio.Queue] = []
        self.owner_subscribers: list[asyncio.Queue] = []     # raylets: owners gone (SubscribeOwnersGone)
        self._changed: set[bytes] = set()       # nodes whose resources changed since the last push
        self._push_handle = None
        # A task costs one event when it is quick (its owner coalesces them) and three when it is
        # not (submitted, running, ended): room for the last task_events_buffer tasks either way.
        self.events: collections.deque = collections.deque(maxlen=3 * config.task_events_buffer)
        self.events_dropped = 0
        self.job_counter = 0
        self.start_time = time.time()

    # ---------------------------------------------------------- nodes
    def _save_node(self, node: gcs_pb2.NodeInfo) -> None:
        self.nodes[node.node_id] = node
        self.store.put("nodes", node.node_id, node.SerializeToString())

    def _save_actor(self, entry) -> None:
        """Write an actor's info and creation spec through to storage (the actor manager's on_change)."""
        self.store.put(storage.ACTORS, entry.info.actor_id,
                       storage.actor_record(entry.info.SerializeToString(), entry.creation_spec))

    def recover(self) -> dict:
        """Take back the cluster the store holds, if any (recovery.py); call on the running loop."""
        return recovery.recover(self)

    def _publish(self, node: gcs_pb2.NodeInfo) -> None:
        for q in list(self.subscribers):
            q.put_nowait(gcs_pb2.NodeChange(node=node))

    def _resources_changed(self, node_id: bytes) -> None:
        self._changed.add(node_id)
        if self._push_handle is None:
            self._push_handle = asyncio.get_running_loop().call_later(RESOURCE_PUSH_S, self._push_changed)

    def _push_changed(self) -> None:
        """Publish the nodes whose resources changed (raylets update their views from the stream), and let
        placement groups waiting for resources try again."""
        self._push_handle = None
        changed, self._changed = self._changed, set()
        for node_id in changed:
            node = self.nodes.get(node_id)
            if node is not None and node.alive:
                self._publish(node)
        self.placement_groups.wake()

    def _mark_dead(self, node_id: bytes, reason: str) -> None:
        node = self.nodes.get(node_id)
        if node is None or not node.alive:
            return
        node.alive = False
        node.death_time = time.time()
        node.death_reason = reason
        node.resources_available.clear()
        self._save_node(node)
        self.health.forget(node_id)
        logger.warning("node %s marked dead: %s", node_id.hex()[:12], reason)
        self._publish(node)
        self.actors.node_died(node_id)
        self.placement_groups.node_died(node_id)

    async def check_health_forever(self) -> None:
        period = min(self.config.health_check_period_s, self.config.health_check_timeout_s / 2)
        while True:
            await asyncio.sleep(period)
            for node_id in self.health.expired(time.monotonic()):
                self._mark_dead(node_id, f"no heartbeat for {self.config.health_check_timeout_s} s")

    async def GetClusterInfo(self, request, context):
        return gcs_pb2.ClusterInfo(session_dir=self.session_dir, start_time=self.start_time, version=VERSION)

    async def RegisterNode(self, request, context):
        node = request.node
        known = self.nodes.get(node.node_id)
        if known is not None and not known.alive:
            # a raylet re-registering after a GCS restart, but its node was declared dead: it stays dead
            # (its next heartbeat is answered known=False and it exits; a node rejoins with a new id)
            return gcs_pb2.RegisterNodeReply(health_check_period_s=self.config.health_check_period_s,
                                             health_check_timeout_s=self.config.health_check_timeout_s)
        node.alive = True
        self._save_node(node)
        self.health.seen(node.node_id, time.monotonic())
        logger.info("node %s registered at %s:%d", node.node_id.hex()[:12], node.address, node.raylet_port)
        self._publish(node)
        self.placement_groups.node_registered(node.node_id)
        return gcs_pb2.RegisterNodeReply(health_check_period_s=self.config.health_check_period_s,
                                         health_check_timeout_s=self.config.health_check_timeout_s)

    async def Heartbeat(self, request, context):
        node = self.nodes.get(request.node_id)
        if node is None or not node.alive:
            return gcs_pb2.HeartbeatReply(known=False)
        self.health.seen(request.node_id, time.monotonic())
        changed = request.resources_available != node.resources_available or (
            request.resources_total and request.resources_total != node.resources_total)
        node.resources_available.clear()
        node.resources_available.update(request.resources_available)
        if request.resources_total:      # placement-group bundles change a node's totals
            node.resources_total.clear()
            node.resources_total.update(request.resources_total)
        if changed:
            self._resources_changed(node.node_id)
        return gcs_pb2.HeartbeatReply(known=True, nodes=list(self.nodes.values()))

    async def UnregisterNode(self, request, context):
        self._mark_dead(request.node_id, request.reason or "unregistered")
        return gcs_pb2.Empty()

    async def GetAllNodes(self, request, context):
        return gcs_pb2.GetAllNodesReply(nodes=list(self.nodes.values()))

    async def SubscribeNodeChanges(self, request, context):
        q: asyncio.Queue = asyncio.Queue()
        self.subscribers.append(q)
        try:
            for node in list(self.nodes.values()):
                yield gcs_pb2.NodeChange(node=node)
            while True:
                yield await q.get()
        finally:
            self.subscribers.remove(q)

    # ----------------------------------------------------------- jobs
    async def AddJob(self, request, context):
        self.job_counter += 1
        job = request.job
        job.job_id = self.job_counter.to_bytes(4, "big")
        job.start_time = time.time()
        self.store.put("jobs", job.job_id, job.SerializeToString())
        if job.driver_address:
            asyncio.get_running_loop().create_task(self.actors.watch_job(job.job_id, job.driver_address))
        return gcs_pb2.AddJobReply(job_id=job.job_id)

    async def MarkJobFinished(self, request, context):
        await self.finish_job(request.job_id)
        return gcs_pb2.Empty()

    async def finish_job(self, job_id: bytes) -> None:
        raw = self.store.get("jobs", job_id)
        if raw is not None:
            job = gcs_pb2.JobInfo.FromString(raw)
            if job.driver_worker_id:
                self.owner_gone(job.driver_worker_id)
            if not job.is_dead:
                job.is_dead = True
                job.end_time = time.time()
                self.store.put("jobs", job.job_id, job.SerializeToString())
        await self.actors.job_finished(job_id)

    async def GetAllJobs(self, request, context):
        return gcs_pb2.GetAllJobsReply(jobs=[gcs_pb2.JobInfo.FromString(v) for _, v in self.store.items("jobs")])

    # ------------------------------------------------------------- KV
    async def KVPut(self, request, context):
        added = self.store.put("kv:" + request.namespace, request.key, request.value, request.overwrite)
        return gcs_pb2.KVPutReply(added=added)

    async def KVGet(self, request, context):
        value = self.store.get("kv:" + request.namespace, request.key)
        return gcs_pb2.KVGetReply(found=value is not None, value=value or b"")

    async def KVDel(self, request, context):
        return gcs_pb2.KVDelReply(deleted=self.store.delete("kv:" + request.namespace, request.key))

    async def KVKeys(self, request, context):
        return gcs_pb2.KVKeysReply(keys=self.store.keys("kv:" + request.namespace, request.prefix))

    # ----------------------------------------------------------- actors
    async def RegisterActor(self, request, context):
        return self.actors.register(request)

    async def CreateActor(self, request, context):
        self.actors.create(request.actor_id, request.creation_spec)
        return gcs_pb2.Empty()

    async def GetActorInfo(self, request, context):
        entry = self.actors.lookup(request.actor_id, request.name, request.namespace)
        if entry is None:
            return gcs_pb2.GetActorInfoReply(found=False)
        if request.wait_newer_than > 0:
            await self.actors.wait_newer(entry, request.wait_newer_than, request.timeout_s or 30.0)
        return gcs_pb2.GetActorInfoReply(found=True, info=entry.info)

    async def KillActor(self, request, context):
        await self.actors.kill(request.actor_id, request.no_restart, request.cause)
        return gcs_pb2.Empty()

    async def ListActors(self, request, context):
        return gcs_pb2.ListActorsReply(actors=[
            e.info for e in self.actors.actors.values() if request.include_dead or e.info.state != "DEAD"])

    async def ReportWorkerFailure(self, request, context):
        self.actors.worker_failed(request.worker_id, request.exit_code, request.reason)
        self.owner_gone(request.worker_id)
        return gcs_pb2.Empty()

    def owner_gone(self, worker_id: bytes) -> None:
        """Tell every raylet that `worker_id` owns nothing any more: the workers it had leased on other
        nodes would otherwise hold their resources for good (only a node's own raylet sees its pid go)."""
        for q in list(self.owner_subscribers):
            q.put_nowait(gcs_pb2.OwnerGone(worker_id=worker_id))

    async def SubscribeOwnersGone(self, request, context):
        q: asyncio.Queue = asyncio.Queue()
        self.owner_subscribers.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self.owner_subscribers.remove(q)

    # ------------------------------------------------- placement groups
    async def CreatePlacementGroup(self, request, context):
        return gcs_pb2.CreatePlacementGroupReply(error=self.placement_groups.create(request.info))

    async def RemovePlacementGroup(self, request, context):
        await self.placement_groups.remove(request.placement_group_id)
        return gcs_pb2.Empty()

    async def GetPlacementGroup(self, request, context):
        g = self.placement_groups.lookup(request.placement_group_id, request.name, request.namespace)
        if g is None:
            return gcs_pb2.GetPlacementGroupReply(found=False)
        if request.wait_created_s > 0:
            await self.placement_groups.wait_created(g, request.wait_created_s)
        return gcs_pb2.GetPlacementGroupReply(found=True, info=g.info)

    async def ListPlacementGroups(self, request, context):
        return gcs_pb2.ListPlacementGroupsReply(groups=[g.info for g in self.placement_groups.groups.values()])

    # ----------------------------------------------------- task events
    async def AddTaskEvents(self, request, context):
        events = request.events
        if request.HasField("batch"):
            try:
                events = task_event_rows.rows(request.batch)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        free = self.events.maxlen - len(self.events)
        if len(events) > free:
            self.events_dropped += len(events) - free
        self.events.extend(events)
        self.events_dropped += request.dropped
        return gcs_pb2.Empty()

    async def GetTaskEvents(self, request, context):
        events = list(self.events)
        if request.limit:
            events = events[-request.limit:]
        return gcs_pb2.GetTaskEventsReply(
            events=[e.to_message() if isinstance(e, task_event_rows.TaskEventRow) else e for e in events],
            dropped=self.events_dropped)


async def _amain(args) -> int:
    from strato.runtime import node as node_mod
    token = sys.stdin.readline().strip()
    tls.install(tls.from_env())      # paths from the starter (tls.py); None: plain TCP
    config = SystemConfig.from_json(args.config)
    try:
        store = open_store(os.environ.get(storage.STORAGE_ENV, "memory"), args.session_dir)
    except ValueError as exc:
        print(f"ERROR {exc}", flush=True)
        return 1
    gcs = GcsServer(store, config, args.session_dir, token, args.host)
    server = make_server(token)
    gcs_pb2_grpc.add_GcsServiceServicer_to_server(gcs, server)
    port = add_port(server, f"{args.host}:{args.port}")
    if port == 0:
        print(f"ERROR could not listen on {args.host}:{args.port} (port in use?)", flush=True)
        return 1
    found = gcs.recover()
    logger.info("GCS storage: %s%s", store.describe(),
                "" if not any(found.values()) else " (taken back: " + ", ".join(
                    f"{n} {what}" for what, n in found.items()) + ")")
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not args.detached:
        node_mod.watch_parent_pipe(loop, stop.set)
    loop.create_task(gcs.check_health_forever())
    http_server, _ = await _start_http(gcs, token, args.host)     # state API, widgets
    print(f"READY {port}", flush=True)
    await stop.wait()
    await http_server.stop()
    await server.stop(0.2)
    store.close()
    return 0


async def _start_http(gcs, token: str, host: str):
    """The state API, on the port an earlier GCS of this cluster advertised when there was one (drivers keep
    the URL they read), else on a free port."""
    from strato.runtime.gcs import http_api
    from strato.runtime.gcs.state_rows import DASHBOARD_KV_KEY, DASHBOARD_KV_NAMESPACE
    earlier = gcs.store.get(storage.KV_PREFIX + DASHBOARD_KV_NAMESPACE, DASHBOARD_KV_KEY)
    if earlier:
        try:
            return await http_api.start(gcs, token, host, int(earlier))
        except (OSError, ValueError) as exc:
            logger.warning("state API: port %s of the earlier GCS is not free (%s); taking another", earlier, exc)
    return await http_api.start(gcs, token, host)


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="strato-gcs")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--session-dir", required=True)
    p.add_argument("--config", default="")
    p.add_argument("--detached", action="store_true")
    args = p.parse_args(argv)
    from strato.runtime.node import configure_daemon_logging, new_event_loop
    configure_daemon_logging()
    loop = new_event_loop()
    try:
        return loop.run_until_complete(_amain(args))
    finally:
        loop.close()
