"""The raylet: one per node. Owns the node's resources and its worker pool.

    owners (drivers, workers) --RequestWorkerLease--> NodeManagerService
                                   |  LeaseScheduler (pure): grant / spill back / wait
    GCS <--Heartbeat (resources)---+  <--cluster view (other nodes' resources)
                                   |
                          worker processes (prestarted, one per CPU; more on demand,
                          idle extras reaped), each registering back with RegisterWorker
    GCS --PrepareBundles/CommitBundles/ReturnBundles--> placement-group bundles (bundles.py)
    GCS --SubscribeOwnersGone--> workers leased by an owner that died on any node are ended

gRPC on the node's address carries the control plane; tasks themselves go
straight from owners to leased workers (core_worker/submitter.py). The
raylet exits when the GCS declares its node dead, when the process that
started it goes away (embedded clusters: its stdin closes), or on SIGTERM;
its workers follow because their stdin pipes from the raylet close.

When the GCS restarts (gcs/recovery.py), the raylet's GCS client retries
with backoff (rpc.py), and once the GCS answers again the raylet registers
its node again with its current resources; a node the GCS declared dead in
the meantime stays dead (the next heartbeat says so and the raylet exits).

The raylet also owns the node's shared-memory object store
(object_store/server/): created at start, served on a Unix socket to the node's
core workers, its files removed on every exit path (stop, or the `finally`
of `_amain`); arenas left by a raylet killed outright are removed by the
next one that starts.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time

import psutil

from strato.runtime import ids
from strato.runtime.config import SystemConfig
from strato.runtime.object_store.server.service import ObjectStoreService
from strato.runtime.object_store.server.store_server import default_capacity
from strato.runtime.protocol import gcs_pb2, raylet_pb2, raylet_pb2_grpc
from strato.runtime.raylet import bundles as bd
from strato.runtime.raylet import lease_scheduler as ls
from strato.runtime.raylet.policy import NodeView
from strato.runtime import tls
from strato.runtime.rpc import GcsClient, add_port, make_server, wait_ready

logger = logging.getLogger("strato.raylet")
#: How often a raylet checks whether its resources changed; a change is reported (as an early
#: heartbeat) at once, so the GCS and, through it, every raylet see it within about 100 ms.
RESOURCE_CHECK_S = 0.05
Reply = raylet_pb2.RequestWorkerLeaseReply


class Raylet(raylet_pb2_grpc.NodeManagerServiceServicer):
    def __init__(self, *, gcs_address: str, node_ip: str, port: int, resources: dict, token: str,
                 session_dir: str, config: SystemConfig, is_head: bool, node_name: str = "",
                 object_store_memory: int | None = None):
        self.node_id = ids.random_id(16)
        self.gcs_address = gcs_address
        self.node_ip = node_ip
        self.port = port
        self.token = token
        self.session_dir = session_dir
        self.config = config
        self.is_head = is_head
        self.node_name = node_name or node_ip
        pool_size = max(1, min(int(resources.get("CPU", 1)), 32))
        self.sched = ls.LeaseScheduler(self.node_id, resources, pool_size,
                                       spread_threshold=config.spread_threshold,
                                       idle_timeout_s=config.idle_worker_timeout_s,
                                       max_workers=max(64, 4 * pool_size))
        self.pool_size = pool_size
        self.procs: dict[bytes, asyncio.subprocess.Process] = {}
        self.waiting: dict[bytes, asyncio.Future] = {}
        self.addresses: dict[bytes, tuple[str, int]] = {}
        self.gcs: GcsClient | None = None
        self.node_info: gcs_pb2.NodeInfo | None = None
        self.server = None
        self.stopping = asyncio.Event()
        self.declared_dead = False      # the GCS answered a heartbeat with known=False
        self.announce = True            # print READY for the process that started this raylet
        self.store = ObjectStoreService(node_id=self.node_id, session_dir=session_dir, token=token,
                                        capacity=object_store_memory)

    # ------------------------------------------------------------- life
    async def start(self) -> None:
        self.server = make_server(self.token)
        raylet_pb2_grpc.add_NodeManagerServiceServicer_to_server(self, self.server)
        self.port = add_port(self.server, f"{self.node_ip}:{self.port}")
        await self.server.start()
        self.addresses[self.node_id] = (self.node_ip, self.port)
        await self.store.start(f"{self.node_ip}:{self.port}")
        self._apply(self.sched.prestart(self.pool_size))
        self.gcs = GcsClient(self.gcs_address, self.token)
        node = self.node_info = gcs_pb2.NodeInfo(
            node_id=self.node_id, address=self.node_ip, raylet_port=self.port,
            resources_total=self.sched.total, resources_available=self.sched.available, alive=True,
            start_time=time.time(), is_head=self.is_head, node_name=self.node_name, raylet_pid=os.getpid(),
            session_dir=self.session_dir)
        await wait_ready(self.gcs, "RegisterNode", gcs_pb2.RegisterNodeRequest(node=node), 30)
        asyncio.get_running_loop().create_task(self._heartbeat_forever())
        asyncio.get_running_loop().create_task(self._follow_forever("SubscribeNodeChanges", self._node_changed))
        asyncio.get_running_loop().create_task(self._follow_forever(
            "SubscribeOwnersGone", lambda gone: self._apply(self.sched.owner_gone(gone.worker_id))))
        asyncio.get_running_loop().create_task(self._tick_forever())
        if self.announce:                # the starter reads this line; a rejoining raylet has no starter left
            print(f"READY {self.port} {self.node_id.hex()}", flush=True)

    async def stop(self, reason: str) -> None:
        logger.info("raylet stopping: %s", reason)
        await self.store.stop()           # first: the files must go even if the rest is cut short
        for proc in list(self.procs.values()):
            _kill(proc)
        try:
            await asyncio.wait_for(self.gcs.call(
                "UnregisterNode", gcs_pb2.UnregisterNodeRequest(node_id=self.node_id, reason=reason), timeout=2,
                retry=False), 3)     # a GCS that is away (stopped first) finds the node silent instead
        except Exception:
            pass
        await self.server.stop(0.2)
        for proc in list(self.procs.values()):
            try:
                await asyncio.wait_for(proc.wait(), 2)
            except Exception:
                pass
        if self.gcs is not None:
            await self.gcs.close()

    async def _heartbeat_forever(self) -> None:
        period = self.config.health_check_period_s
        failures_since = None
        reconnects = self.gcs.reconnects
        while True:
            try:
                self._reported = (dict(self.sched.available), dict(self.sched.total))
                reply = await self.gcs.call("Heartbeat", gcs_pb2.HeartbeatRequest(
                    node_id=self.node_id, resources_available=self.sched.available,
                    resources_total=self.sched.total), timeout=max(1.0, period * 4))
                failures_since = None
                if self.gcs.reconnects != reconnects:     # the GCS was away (restarted): report the node again
                    reconnects = self.gcs.reconnects
                    await self._register_again()
                    continue                              # and heartbeat at once: that reply predates it
            except Exception as exc:
                now = time.monotonic()
                failures_since = failures_since or now
                if now - failures_since > max(30.0, self.config.health_check_timeout_s * 3):
                    self.stopping.set()
                    logger.error("GCS unreachable for too long (%s); exiting", exc)
                    return
                await asyncio.sleep(period)
                continue
            if not reply.known:
                logger.error("the GCS declared this node dead (it was unreachable, e.g. partitioned); stopping")
                self.declared_dead = True
                self.stopping.set()
                return
            view = {}
            for n in reply.nodes:
                self.addresses[n.node_id] = (n.address, n.raylet_port)
                view[n.node_id] = NodeView(n.node_id, dict(n.resources_total), dict(n.resources_available), n.alive)
            self._apply(self.sched.update_view(view))
            await self._until_heartbeat_due(period)

    async def _until_heartbeat_due(self, period: float) -> None:
        """Wait `period`, or less once this node's resources differ from those last reported."""
        deadline = time.monotonic() + period
        while time.monotonic() < deadline:
            await asyncio.sleep(min(RESOURCE_CHECK_S, max(0.0, deadline - time.monotonic())))
            if (self.sched.available, self.sched.total) != self._reported:
                return

    async def _register_again(self) -> None:
        node = gcs_pb2.NodeInfo()
        node.CopyFrom(self.node_info)
        node.resources_total.clear()
        node.resources_total.update(self.sched.total)
        node.resources_available.clear()
        node.resources_available.update(self.sched.available)
        await self.gcs.call("RegisterNode", gcs_pb2.RegisterNodeRequest(node=node), timeout=5)
        logger.info("registered this node again with the GCS at %s", self.gcs_address)

    async def _follow_forever(self, method: str, on_item) -> None:
        """Apply each item a GCS stream pushes; subscribe again a second after it breaks (a GCS restart)."""
        while not self.stopping.is_set():
            try:
                async for item in self.gcs.stream(method, gcs_pb2.Empty()):
                    on_item(item)
            except Exception as exc:
                logger.debug("%s interrupted: %s", method, exc)
            await asyncio.sleep(1.0)

    def _node_changed(self, change) -> None:
        """A node change pushed by the GCS: a joining node is usable before the next heartbeat; a dead
        node's owners' leases here end."""
        n = change.node
        self.addresses[n.node_id] = (n.address, n.raylet_port)
        view = dict(self.sched.remote_nodes)
        view[n.node_id] = NodeView(n.node_id, dict(n.resources_total), dict(n.resources_available), n.alive)
        self._apply(self.sched.update_view(view))
        if not n.alive:
            self._apply(self.sched.node_gone(n.node_id))

    async def _tick_forever(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(1.0)
            self._apply(self.sched.tick(time.monotonic()))
            for pid, host in self.sched.leased_owners():
                if host == self.node_ip and pid and not psutil.pid_exists(pid):
                    self._apply(self.sched.owner_died(pid, host))

    # -------------------------------------------------- instructions
    def _apply(self, instructions: list) -> None:
        for ins in instructions:
            if isinstance(ins, ls.Grant):
                w = ins.worker
                self._answer(ins.request, Reply(status=Reply.GRANTED, lease_id=ins.lease_id,
                                                worker=raylet_pb2.WorkerAddress(
                                                    worker_id=w.worker_id, host=w.host, port=w.port,
                                                    pid=w.pid, node_id=self.node_id)))
            elif isinstance(ins, ls.Spillback):
                host, port = self.addresses.get(ins.node_id, ("", 0))
                self._answer(ins.request, Reply(status=Reply.SPILLBACK, spill_node_id=ins.node_id,
                                                spill_host=host, spill_port=port))
            elif isinstance(ins, ls.Reject):
                self._answer(ins.request, Reply(status=Reply.REJECTED))
            elif isinstance(ins, ls.Infeasible):
                self._answer(ins.request, Reply(status=Reply.INFEASIBLE, message=ins.message))
            elif isinstance(ins, ls.Unschedulable):
                self._answer(ins.request, Reply(status=Reply.UNSCHEDULABLE, message=ins.message))
            elif isinstance(ins, ls.LookUp):
                asyncio.get_running_loop().create_task(self._look_up(ins.request))
            elif isinstance(ins, ls.StartWorkers):
                for _ in range(ins.count):
                    asyncio.get_running_loop().create_task(self._start_worker())
            elif isinstance(ins, ls.KillWorker):
                proc = self.procs.get(ins.worker_id)
                if proc is not None:
                    logger.info("stopping worker %s: %s", ins.worker_id.hex()[:12], ins.reason)
                    _kill(proc)

    def _answer(self, req: ls.LeaseRequest, reply) -> None:
        fut = self.waiting.pop(req.request_id, None)
        if fut is not None and not fut.done():
            fut.set_result(reply)
        elif reply.status == Reply.GRANTED:  # the requester gave up meanwhile
            self._apply(self.sched.return_worker(reply.worker.worker_id, reply.lease_id, time.monotonic()))

    async def _look_up(self, req: ls.LeaseRequest) -> None:
        """Ask the GCS what the scheduler could not know (ls.LookUp): where a placement group's bundles
        are (waiting while the group is pending), or whether an affinity node exists at all."""
        while req.request_id in self.waiting and not self.stopping.is_set():
            try:
                if not req.placement_group:
                    reply = await self.gcs.call("GetAllNodes", gcs_pb2.Empty(), timeout=10)
                    view = dict(self.sched.remote_nodes)
                    for n in reply.nodes:
                        self.addresses[n.node_id] = (n.address, n.raylet_port)
                        view[n.node_id] = NodeView(n.node_id, dict(n.resources_total), dict(n.resources_available),
                                                   n.alive)
                    self._apply(self.sched.update_view(view))
                    self._apply(self.sched.looked_up(req.request_id, None))
                    return
                reply = await self.gcs.call("GetPlacementGroup", gcs_pb2.GetPlacementGroupRequest(
                    placement_group_id=req.placement_group, wait_created_s=10.0), timeout=20)
            except Exception as exc:
                logger.debug("look-up for lease %s failed: %s", req.request_id.hex(), exc)
                await asyncio.sleep(0.5)
                continue
            pg = req.placement_group.hex()
            if not reply.found or reply.info.state == "REMOVED":
                what = "was removed" if reply.found else "does not exist"
                self._apply(self.sched.looked_up(req.request_id, None, (
                    f"its placement group {pg} {what} (remove_placement_group kills and fails what runs in it). "
                    f"Create a new group for it.")))
                return
            if reply.info.state == "CREATED":
                bundles = reply.info.bundles
                if req.bundle_index >= len(bundles):
                    self._apply(self.sched.looked_up(req.request_id, None, (
                        f"placement_group_bundle_index {req.bundle_index} is out of range: group {pg} has "
                        f"{len(bundles)} bundle(s)")))
                    return
                if req.bundle_index >= 0:
                    node = bundles[req.bundle_index].node_id
                else:
                    nodes = [b.node_id for b in bundles]
                    node = self.node_id if self.node_id in nodes else nodes[0]
                if node != self.node_id and node not in self.addresses:
                    await asyncio.sleep(0.1)      # a node the view has not heard of yet
                    continue
                self._apply(self.sched.looked_up(req.request_id, node))
                return
            # still pending (or being rescheduled): ask again, the request keeps waiting

    async def _start_worker(self) -> None:
        worker_id = ids.random_id(16)
        log_dir = os.path.join(self.session_dir, "logs")
        os.makedirs(log_dir, exist_ok=True)
        log = open(os.path.join(log_dir, f"worker-{worker_id.hex()[:12]}.log"), "ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "strato.runtime.worker",
                "--worker-id", worker_id.hex(), "--node-id", self.node_id.hex(), "--node-ip", self.node_ip,
                "--raylet", f"{self.node_ip}:{self.port}", "--gcs", self.gcs_address,
                "--session-dir", self.session_dir, "--config", self.config.to_json(),
                stdin=asyncio.subprocess.PIPE, stdout=log, stderr=log, start_new_session=False)
        except OSError as exc:
            logger.error("could not start a worker: %s", exc)
            self._apply(self.sched.worker_start_failed())
            return
        finally:
            log.close()
        self.procs[worker_id] = proc
        self.sched.worker_starting(worker_id, proc.pid)
        try:
            proc.stdin.write(self.token.encode() + b"\n")
        except (RuntimeError, OSError) as exc:   # it died at once; its exit is handled below
            logger.error("worker %s died before it started: %s", worker_id.hex()[:12], exc)
        rc = await proc.wait()
        self.procs.pop(worker_id, None)
        if rc not in (0, -signal.SIGTERM, -signal.SIGKILL) and not self.stopping.is_set():
            logger.warning("worker %s (pid %d) exited with code %s", worker_id.hex()[:12], proc.pid, rc)
        w = self.sched.workers.get(worker_id)
        if w is not None and w.state is ls.WorkerState.LEASED and not self.stopping.is_set():
            how = f"was killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
            try:  # the GCS turns this into an actor's death cause
                await self.gcs.call("ReportWorkerFailure", gcs_pb2.ReportWorkerFailureRequest(
                    worker_id=worker_id, node_id=self.node_id, exit_code=rc,
                    reason=f"its worker process (pid {proc.pid}) {how}"), timeout=5)
            except Exception as exc:
                logger.debug("could not report worker exit: %s", exc)
        self._apply(self.sched.worker_exited(worker_id))

    # ------------------------------------------------------------- RPCs
    async def RequestWorkerLease(self, request, context):
        resources, placement = dict(request.resources), dict(request.placement_resources) or None
        pg = request.placement_group_id
        if pg:       # in a bundle: ask for the bundle's own resources (bundles.py)
            resources = bd.bundle_request(resources, pg, request.bundle_index)
            placement = placement and bd.bundle_request(placement, pg, request.bundle_index)
        req = ls.LeaseRequest(
            request_id=request.request_id, resources=resources, owner_id=request.owner_worker_id,
            owner_pid=request.owner_pid, owner_host=request.owner_host, owner_node=request.owner_node_id,
            strategy=request.strategy or "DEFAULT",
            affinity=request.affinity_node_id, affinity_soft=request.affinity_soft,
            grant_or_reject=request.grant_or_reject, name=request.name,
            placement=placement, placement_group=pg, bundle_index=request.bundle_index if pg else -1)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[req.request_id] = fut
        self._apply(self.sched.request_lease(req))
        try:
            return await fut
        except asyncio.CancelledError:
            self.waiting.pop(req.request_id, None)
            self.sched.cancel_request(req.request_id)
            raise

    async def ReturnWorker(self, request, context):
        self._apply(self.sched.return_worker(request.worker_id, request.lease_id, time.monotonic(),
                                             request.disconnect))
        return raylet_pb2.ReturnWorkerReply()

    async def RegisterWorker(self, request, context):
        if request.worker_id not in self.procs:
            await context.abort(5, "unknown worker: only workers this raylet started may register")  # NOT_FOUND
        self._apply(self.sched.worker_registered(request.worker_id, request.host, request.port, time.monotonic()))
        return raylet_pb2.RegisterWorkerReply(node_id=self.node_id, gcs_address=self.gcs_address)

    async def NotifyWorkerBlocked(self, request, context):
        self._apply(self.sched.worker_blocked(request.worker_id, request.blocked))
        return raylet_pb2.NotifyWorkerBlockedReply()

    async def KillWorker(self, request, context):
        proc = self.procs.get(request.worker_id)
        if proc is not None:
            _kill(proc)
        return raylet_pb2.KillWorkerReply(killed=proc is not None)

    async def GetNodeStats(self, request, context):
        workers = [raylet_pb2.WorkerStats(worker_id=w.worker_id, pid=w.pid,
                                          state="BLOCKED" if w.blocked else w.state.value,
                                          lease_owner_id=w.owner_id, lease_resources=w.lease_resources)
                   for w in self.sched.workers.values()]
        return raylet_pb2.GetNodeStatsReply(node_id=self.node_id, resources_total=self.sched.total,
                                            resources_available=self.sched.available, workers=workers,
                                            pending_leases=len(self.sched.queue),
                                            object_store=self.store.stats_proto(),
                                            bundles=[raylet_pb2.BundleSpec(placement_group_id=pg, bundle_index=i)
                                                     for pg, i in self.sched.bundles.bundles])

    async def PrepareBundles(self, request, context):
        groups: dict[bytes, list] = {}          # each group's bundles are reserved all or none
        for b in request.bundles:
            groups.setdefault(b.placement_group_id, []).append(b)
        refused, why = [], ""
        for pg_id, specs in groups.items():
            reason = self.sched.prepare_bundles([(pg_id, b.bundle_index, dict(b.resources)) for b in specs])
            if reason:
                refused.append(pg_id)
                why = why or reason
            elif request.commit:            # the only node of this group: no other node to wait for
                self._commit(specs)
        return raylet_pb2.PrepareBundlesReply(ok=not refused, message=why, refused_groups=refused)

    async def CommitBundles(self, request, context):
        ok = True
        if request.placement_group_id:
            ok, instructions = self.sched.commit_bundles(request.placement_group_id, list(request.bundle_indexes))
            self._apply(instructions)
        return raylet_pb2.CommitBundlesReply(ok=self._commit(request.bundles) and ok)

    def _commit(self, bundles) -> bool:
        """Commit bundles of one or more groups (BundleSpecs); False if one was never prepared here."""
        ok = True
        for pg_id in dict.fromkeys(b.placement_group_id for b in bundles):
            done, instructions = self.sched.commit_bundles(
                pg_id, [b.bundle_index for b in bundles if b.placement_group_id == pg_id])
            ok = ok and done
            self._apply(instructions)
        return ok

    async def ReturnBundles(self, request, context):
        self._apply(self.sched.return_bundles(request.placement_group_id, list(request.bundle_indexes) or None))
        return raylet_pb2.ReturnBundlesReply()

    async def GetObjectStoreInfo(self, request, context):
        return self.store.info_reply()

    async def PullObject(self, request, context):
        async for chunk in self.store.pull(request, context):
            yield chunk

    async def FreeObjects(self, request, context):
        return self.store.free(request)


def _kill(proc) -> None:
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def node_resources(num_cpus: float | None, num_gpus: float | None, custom: dict | None, node_ip: str,
                   is_head: bool) -> dict:
    cpus = float(num_cpus if num_cpus is not None else (os.cpu_count() or 1))
    out = {"CPU": cpus, "memory": float(int(psutil.virtual_memory().total * 0.7)), f"node:{node_ip}": 1.0}
    if num_gpus:
        out["GPU"] = float(num_gpus)
    if is_head:
        out["node:__internal_head__"] = 1.0
    for k, v in (custom or {}).items():
        out[k] = float(v)
    return out


async def _amain(args) -> int:
    token = sys.stdin.readline().strip()
    tls.install(tls.from_env())      # paths from the starter (tls.py), passed on to our workers' environment
    config = SystemConfig.from_json(args.config)
    resources = node_resources(args.num_cpus, args.num_gpus, json.loads(args.resources or "{}"),
                               args.node_ip, args.head)
    store_capacity = args.object_store_memory or default_capacity()
    resources["object_store_memory"] = float(store_capacity)
    announce = True
    while True:
        raylet = Raylet(gcs_address=args.gcs, node_ip=args.node_ip, port=args.port, resources=resources,
                        token=token, session_dir=args.session_dir, config=config, is_head=args.head,
                        object_store_memory=store_capacity)
        raylet.announce, announce = announce, False
        code = await _run(raylet, args)
        if code or not (raylet.declared_dead and args.detached):
            return code
        # A detached node (`strato start`) that the GCS declared dead while it was cut off comes back as a
        # new node: its workers and objects were given up by the cluster, so it starts empty, with a new id.
        logger.warning("rejoining the cluster as a new node (was %s)", raylet.node_id.hex()[:12])
        await asyncio.sleep(config.health_check_period_s)


async def _run(raylet: "Raylet", args) -> int:
    from strato.runtime import node as node_mod
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, raylet.stopping.set)
    if not args.detached:
        node_mod.watch_parent_pipe(loop, raylet.stopping.set)
    try:
        # A stop request must work during start-up too (e.g. while the GCS cannot be reached).
        starting = loop.create_task(raylet.start())
        stop_wait = loop.create_task(raylet.stopping.wait())
        await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            for proc in list(raylet.procs.values()):
                _kill(proc)
            return 1
        starting.result()
        await stop_wait
        await raylet.stop("declared dead by the GCS" if raylet.declared_dead else "shutdown")
    finally:
        raylet.store.cleanup()
    return 0


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="strato-raylet")
    p.add_argument("--gcs", required=True)
    p.add_argument("--node-ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--num-cpus", type=float, default=None)
    p.add_argument("--num-gpus", type=float, default=None)
    p.add_argument("--resources", default="{}")
    p.add_argument("--session-dir", required=True)
    p.add_argument("--config", default="")
    p.add_argument("--head", action="store_true")
    p.add_argument("--detached", action="store_true")
    p.add_argument("--object-store-memory", type=int, default=None)
    args = p.parse_args(argv)
    from strato.runtime.node import configure_daemon_logging, new_event_loop
    configure_daemon_logging()
    loop = new_event_loop()
    try:
        return loop.run_until_complete(_amain(args))
    finally:
        loop.close()
