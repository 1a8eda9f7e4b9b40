"""The raylet's lease scheduler: a pure state machine (no sockets, no processes).

Events go in -- a lease request, a worker registering / exiting / blocking,
a returned lease, a new cluster view, an owner or its node gone, a clock tick -- and instructions come
out: Grant, Spillback, Reject, Infeasible, StartWorkers, KillWorker. The IO
shell, `Raylet._apply` in server.py, carries them out. The worker pool is
split the same way: which workers exist and what each is doing is
`LeaseScheduler.workers` here; their processes are started, watched and
killed in server.py (`Raylet._start_worker`, `Raylet.procs`). Placement
decisions come from policy.pick_node over the cluster view, with this node's
own resources always taken from here (the view of other nodes is a
heartbeat old).

Resources are taken when a lease is granted and given back when it is
returned or its worker exits. A worker blocked in `get` gives its CPUs back
(a bundle's CPUs too) until it resumes, so nested tasks cannot deadlock the node.

Placement-group bundles (bundles.py) are reserved here on the GCS's word
(prepare_bundles, commit_bundles, return_bundles); a lease in a bundle asks for
the bundle's own resource names. Two answers need the IO shell's help first:
a hard node affinity to a node this raylet has never heard of, and a lease in
a group no node of the view holds a bundle of -- both `LookUp`, answered with
`looked_up` (the node's fate or the group's bundle node, from the GCS). A
request that can never run as asked gets `Unschedulable`.
"""
from __future__ import annotations

import dataclasses
import enum
import math

from strato.runtime.raylet import bundles as bd
from strato.runtime.raylet.policy import EPS, Decision, NodeView, pick_node


class WorkerState(enum.Enum):
    STARTING = "STARTING"
    IDLE = "IDLE"
    LEASED = "LEASED"


@dataclasses.dataclass
class WorkerInfo:
    worker_id: bytes
    state: WorkerState = WorkerState.STARTING
    pid: int = 0
    host: str = ""
    port: int = 0
    lease_id: bytes = b""
    lease_resources: dict = dataclasses.field(default_factory=dict)
    owner_id: bytes = b""
    owner_pid: int = 0
    owner_host: str = ""
    owner_node: bytes = b""
    blocked: bool = False
    idle_since: float = 0.0


ACTOR_OWNER = b"gcs"       # the owner id of the GCS's actor-creation leases: the worker stays with the actor


@dataclasses.dataclass
class LeaseRequest:
    request_id: bytes
    resources: dict
    owner_id: bytes = b""
    owner_pid: int = 0
    owner_host: str = ""
    owner_node: bytes = b""           # the owner's node id: its death ends the lease (node_gone)
    strategy: str = "DEFAULT"
    affinity: bytes = b""
    affinity_soft: bool = False
    grant_or_reject: bool = False
    name: str = ""
    placement: dict | None = None     # must fit to place; defaults to resources
    placement_group: bytes = b""      # in a bundle of this group (resources already renamed, bundles.py)
    bundle_index: int = -1
    looked_up: bool = False           # the IO shell asked the GCS about its node / group (LookUp)


@dataclasses.dataclass(frozen=True)
class Grant:
    request: LeaseRequest
    worker: WorkerInfo
    lease_id: bytes


@dataclasses.dataclass(frozen=True)
class Spillback:
    request: LeaseRequest
    node_id: bytes


@dataclasses.dataclass(frozen=True)
class Reject:
    request: LeaseRequest


@dataclasses.dataclass(frozen=True)
class Infeasible:
    request: LeaseRequest
    message: str


@dataclasses.dataclass(frozen=True)
class Unschedulable:
    """It can never run as asked: the owner fails it (TaskUnschedulableError / ActorUnschedulableError)."""
    request: LeaseRequest
    message: str


@dataclasses.dataclass(frozen=True)
class LookUp:
    """Ask the GCS where the request's affinity node or placement group is, then call `looked_up`."""
    request: LeaseRequest


@dataclasses.dataclass(frozen=True)
class StartWorkers:
    count: int


@dataclasses.dataclass(frozen=True)
class KillWorker:
    worker_id: bytes
    reason: str


class LeaseScheduler:
    def __init__(self, node_id: bytes, total: dict, pool_size: int, *, spread_threshold: float = 0.5,
                 idle_timeout_s: float = 10.0, max_workers: int = 64):
        self.node_id = node_id
        self.total = dict(total)
        self.available = dict(total)
        self.pool_size = pool_size
        self.spread_threshold = spread_threshold
        self.idle_timeout_s = idle_timeout_s
        self.max_workers = max_workers
        self.workers: dict[bytes, WorkerInfo] = {}
        self.queue: list[LeaseRequest] = []
        self.remote_nodes: dict[bytes, NodeView] = {}
        self._lease_counter = 0
        self._starts_requested = 0            # StartWorkers issued, process not spawned yet
        self.bundles = bd.BundleTable()

    # ----------------------------------------------------------- events
    def request_lease(self, req: LeaseRequest) -> list:
        self.queue.append(req)
        return self._schedule()

    def cancel_request(self, request_id: bytes) -> list:
        self.queue = [r for r in self.queue if r.request_id != request_id]
        return []

    def worker_starting(self, worker_id: bytes, pid: int) -> None:
        self._starts_requested = max(0, self._starts_requested - 1)
        self.workers[worker_id] = WorkerInfo(worker_id, WorkerState.STARTING, pid)

    def prestart(self, count: int) -> list:
        self._starts_requested += count
        return [StartWorkers(count)]

    def worker_start_failed(self) -> list:
        self._starts_requested = max(0, self._starts_requested - 1)
        return self._schedule()

    def worker_registered(self, worker_id: bytes, host: str, port: int, now: float) -> list:
        w = self.workers.get(worker_id)
        if w is None:
            w = self.workers[worker_id] = WorkerInfo(worker_id)
        w.state, w.host, w.port, w.idle_since = WorkerState.IDLE, host, port, now
        return self._schedule()

    def worker_exited(self, worker_id: bytes) -> list:
        w = self.workers.pop(worker_id, None)
        actor_gone = w is not None and w.state is WorkerState.LEASED and w.owner_id == ACTOR_OWNER
        if w is not None and w.state is WorkerState.LEASED:
            self._release(w)
        return self._schedule(refill_for=int(actor_gone))

    def return_worker(self, worker_id: bytes, lease_id: bytes, now: float, disconnect: bool = False) -> list:
        w = self.workers.get(worker_id)
        if w is None or w.state is not WorkerState.LEASED or w.lease_id != lease_id:
            return []
        self._release(w)
        if disconnect:  # never hand it out again; its exit is reported later and finds nothing
            del self.workers[worker_id]
            return [KillWorker(worker_id, "returned as faulty")] + self._schedule(
                refill_for=int(w.owner_id == ACTOR_OWNER))
        w.state, w.lease_id, w.owner_id, w.owner_pid, w.idle_since = WorkerState.IDLE, b"", b"", 0, now
        return self._schedule()

    def worker_blocked(self, worker_id: bytes, blocked: bool) -> list:
        w = self.workers.get(worker_id)
        if w is None or w.state is not WorkerState.LEASED or w.blocked == blocked:
            return []
        w.blocked = blocked
        for k, v in w.lease_resources.items():
            if bd.is_cpu(k) and k in self.total:
                self.available[k] = self.available.get(k, 0.0) + (v if blocked else -v)
        return self._schedule()

    def owner_died(self, owner_pid: int, owner_host: str) -> list:
        """An owner on this node exited: its leased workers may run orphaned tasks; stop them."""
        return self._end_leases(lambda w: w.owner_pid == owner_pid and w.owner_host == owner_host,
                                f"its owner (pid {owner_pid}) exited")

    def owner_gone(self, owner_id: bytes) -> list:
        """The process with worker id `owner_id` (on any node) is gone: stop the workers it leased here;
        their exits give the resources back. The GCS's actor leases (ACTOR_OWNER) are never ended so."""
        if not owner_id or owner_id == ACTOR_OWNER:
            return []
        return self._end_leases(lambda w: w.owner_id == owner_id, f"its owner (worker {owner_id.hex()[:12]}) is gone")

    def node_gone(self, node_id: bytes) -> list:
        """Node `node_id` died: its processes can no longer report their own deaths, so end the workers
        here that owners on it leased (the GCS's actor leases aside)."""
        if not node_id or node_id == self.node_id:
            return []
        return self._end_leases(lambda w: w.owner_node == node_id and w.owner_id != ACTOR_OWNER,
                                f"its owner's node {node_id.hex()[:12]} died")

    def _end_leases(self, match, reason: str) -> list:
        return [KillWorker(w.worker_id, reason) for w in self.workers.values()
                if w.state is WorkerState.LEASED and match(w)]

    def update_view(self, nodes: dict[bytes, NodeView]) -> list:
        self.remote_nodes = {nid: n for nid, n in nodes.items() if nid != self.node_id}
        return self._schedule()

    # ---------------------------------------------------------- bundles
    def prepare_bundles(self, specs: list[tuple[bytes, int, dict]]) -> str:
        """Reserve bundles for the GCS, all or none: "" when done, else why not."""
        return self.bundles.prepare(specs, self.available)

    def commit_bundles(self, pg_id: bytes, indexes: list[int]) -> tuple[bool, list]:
        ok = self.bundles.commit(pg_id, indexes, self.total, self.available)
        return ok, self._schedule()

    def return_bundles(self, pg_id: bytes, indexes: list[int] | None) -> list:
        """Give bundles back (a rollback, or the group removed): the workers leased in them are stopped."""
        returned = self.bundles.give_back(pg_id, indexes, self.total, self.available)
        out: list = []
        if not returned:
            return out
        for w in list(self.workers.values()):
            if w.state is WorkerState.LEASED and any(bd.is_group_resource(k, pg_id) for k in w.lease_resources):
                w.lease_resources = {k: v for k, v in w.lease_resources.items()
                                     if not bd.is_group_resource(k, pg_id)}
                out.append(KillWorker(w.worker_id, f"its placement group {pg_id.hex()[:12]} was removed"))
        return out + self._schedule()

    def looked_up(self, request_id: bytes, node_id: bytes | None, message: str = "") -> list:
        """The GCS's answer to a LookUp: `node_id` is where the request should go (its group's bundle
        node), or None with `message` when it can never run; None without a message: the cluster view
        was refreshed, decide again."""
        req = next((r for r in self.queue if r.request_id == request_id), None)
        if req is None:
            return []
        if node_id is None and message:
            self.queue.remove(req)
            return [Unschedulable(req, message)] + self._schedule()
        if node_id is not None and node_id != self.node_id:
            self.queue.remove(req)
            return [Reject(req) if req.grant_or_reject else Spillback(req, node_id)] + self._schedule()
        if node_id == self.node_id and not _fits_total(req.placement or req.resources, self.total):
            self.queue.remove(req)
            return [Unschedulable(req, f"{req.name or 'it'} asks for more than its placement group's bundle "
                                       f"holds ({_plain(req.placement or req.resources)}); make the bundle "
                                       f"bigger or the request smaller")] + self._schedule()
        return self._schedule()

    def tick(self, now: float) -> list:
        """Reap idle workers beyond the pool size."""
        idle = sorted((w for w in self.workers.values() if w.state is WorkerState.IDLE),
                      key=lambda w: w.idle_since)
        extra = len(self.workers) - self.pool_size
        out = []
        for w in idle:
            if extra <= 0:
                break
            if now - w.idle_since >= self.idle_timeout_s:
                out.append(KillWorker(w.worker_id, "idle beyond the pool size"))
                self.workers.pop(w.worker_id)
                extra -= 1
        return out

    # ---------------------------------------------------------- queries
    def local_view(self) -> NodeView:
        return NodeView(self.node_id, self.total, self.available)

    def leased_owners(self) -> set[tuple[int, str]]:
        return {(w.owner_pid, w.owner_host) for w in self.workers.values() if w.state is WorkerState.LEASED}

    # --------------------------------------------------------- internals
    def _release(self, w: WorkerInfo) -> None:
        for k, v in w.lease_resources.items():
            if bd.is_cpu(k) and w.blocked or k not in self.total:
                continue    # given back while blocked; or its bundle is gone
            self.available[k] = self.available.get(k, 0.0) + v
        w.lease_resources, w.blocked = {}, False

    def _schedule(self, refill_for: int = 0) -> list:
        """Grant what fits, spill back or fail the rest, and start workers: one per request left
        waiting here, and warm replacements for `refill_for` actor workers that just went away (an
        actor's worker never comes back to the pool) plus any an actor takes for good below."""
        out: list = []
        nodes = dict(self.remote_nodes)
        tentative = dict(self.available)      # minus what requests waiting for a worker will take
        nodes[self.node_id] = NodeView(self.node_id, self.total, tentative)
        waiting_local = 0
        dedicated = refill_for                 # idle workers an actor took for good just now, or lost
        keep: list[LeaseRequest] = []
        idle = [w for w in self.workers.values() if w.state is WorkerState.IDLE]
        for req in self.queue:
            decision, target = pick_node(
                req.placement or req.resources, nodes, self.node_id, strategy=req.strategy, affinity=req.affinity or None,
                affinity_soft=req.affinity_soft, spread_threshold=self.spread_threshold,
                local_only=req.grant_or_reject)
            if decision is Decision.INFEASIBLE:
                why = self._unschedulable(req, nodes)
                if why is LookUp:
                    req.looked_up = True
                    out.append(LookUp(req))
                    keep.append(req)
                elif why is not None:
                    out.append(Unschedulable(req, why))
                elif req.placement_group:
                    keep.append(req)          # a LookUp is under way
                else:
                    out.append(Infeasible(req, self._infeasible_message(req)))
            elif target != self.node_id:
                out.append(Reject(req) if req.grant_or_reject else Spillback(req, target))
            elif decision is Decision.RUN and idle:
                w = idle.pop()
                self._lease(w, req)
                out.append(Grant(req, w, w.lease_id))
                _take(tentative, req.resources)
                if req.owner_id == ACTOR_OWNER:
                    dedicated += 1
            elif decision is Decision.RUN:
                waiting_local += 1
                _take(tentative, req.resources)
                keep.append(req)
            elif req.grant_or_reject:
                out.append(Reject(req))
            else:
                keep.append(req)
        self.queue = keep
        starting = self._starts_requested + sum(1 for w in self.workers.values()
                                                if w.state is WorkerState.STARTING)
        # An actor keeps its worker for good: start a replacement so the next lease finds one warm
        # (process start-up is most of an actor's creation), up to pool_size idle-or-starting workers,
        # and no more than the node could lease now: one per free CPU, plus one for a CPU-less actor.
        # (Warm workers for CPUs that actors hold would only take CPU from those actors as they start.)
        # When an actor's worker goes, its CPU is free again: top the pool up the same way, so the
        # next actors (a Tune run's next trials) find their workers warm.
        refill = 0
        if dedicated:
            warm_target = min(self.pool_size, math.ceil(max(tentative.get("CPU", 0.0), 0.0) - 1e-9) + 1)
            idle_left = sum(1 for w in self.workers.values() if w.state is WorkerState.IDLE)
            refill = min(dedicated, warm_target - idle_left - starting)
        want = min(max(waiting_local - starting, 0) + max(refill, 0),
                   self.max_workers - len(self.workers) - self._starts_requested)
        if want > 0:
            self._starts_requested += want
            out.append(StartWorkers(want))
        return out

    def _unschedulable(self, req: LeaseRequest, nodes: dict):
        """For an infeasible request: why it can never run (a message), LookUp (ask the GCS first), or
        None (plain infeasible: it may fit once a bigger node joins; or a LookUp is under way)."""
        if req.affinity and not req.affinity_soft:
            node = nodes.get(req.affinity)
            if node is None and not req.looked_up:
                return LookUp
            if node is None or not node.alive:
                state = "unknown to the cluster" if node is None else "dead"
                return (f"the node {req.affinity.hex()} that NodeAffinitySchedulingStrategy names (soft=False) is "
                        f"{state}. Pick a live node from strato.nodes(), or pass soft=True to run elsewhere "
                        f"when it is gone.")
            return (f"the node {req.affinity.hex()} that NodeAffinitySchedulingStrategy names (soft=False) can "
                    f"never fit {req.placement or req.resources} (it has {node.total}). Ask for less, pick "
                    f"another node, or pass soft=True.")
        if req.placement_group and not req.looked_up:
            return LookUp
        return None

    def _lease(self, w: WorkerInfo, req: LeaseRequest) -> None:
        self._lease_counter += 1
        _take(self.available, req.resources)
        w.state = WorkerState.LEASED
        w.lease_id = self.node_id[:8] + self._lease_counter.to_bytes(8, "big")
        w.lease_resources = dict(req.resources)
        w.owner_id, w.owner_pid, w.owner_host, w.owner_node = req.owner_id, req.owner_pid, req.owner_host, \
            req.owner_node

    def _infeasible_message(self, req: LeaseRequest) -> str:
        if req.affinity and not req.affinity_soft:
            return (f"Task {req.name or ''}() asks to run on node {req.affinity.hex()[:12]}, which is not alive "
                    f"or cannot fit {req.resources}. Use a soft node affinity, or pick a live node.")
        totals: dict = {}
        for n in list(self.remote_nodes.values()) + [self.local_view()]:
            if n.alive:
                for k, v in n.total.items():
                    totals[k] = max(totals.get(k, 0.0), v)
        short = {k: v for k, v in req.resources.items() if totals.get(k, 0.0) + EPS < v}
        return (f"Task {req.name or ''}() is infeasible: it requests {req.resources}, but no node of the cluster "
                f"has {short} (largest nodes: { {k: totals.get(k, 0.0) for k in short} }). It stays pending "
                f"until a node that can run it joins; lower the request or add such a node.")


def _fits_total(resources: dict, total: dict) -> bool:
    return all(total.get(k, 0.0) + EPS >= v for k, v in resources.items())


def _plain(resources: dict) -> dict:
    """A bundle request's resources under their plain names ("CPU_group_0_<pg>" -> "CPU")."""
    return {k.split("_group_", 1)[0]: v for k, v in resources.items()
            if "_group_" in k and not k.startswith("bundle_group_") and k.count("_group_") == 1
            and k.split("_group_", 1)[1].count("_") == 0}


def _take(available: dict, resources: dict) -> None:
    for k, v in resources.items():
        available[k] = available.get(k, 0.0) - v
        if abs(available[k]) < EPS:
            available[k] = 0.0
