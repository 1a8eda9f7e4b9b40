"""The GCS's placement-group manager: the group table, and every group's atomic reservation.

    driver --CreatePlacementGroup--> table (PENDING), stored in the "placement_groups" table
    scheduling loop (woken by a new group, a node joining, resources freed; every 0.2 s while any waits):
        place_bundles (placement_group_policy.py, pure) over the alive nodes' free resources, for every
        waiting group in turn (each plan takes its bundles off the view the next one sees); then for all
        of them at once, one call per raylet for the whole round:
        -> PrepareBundles on every chosen raylet                  (each reserves its batch, all or nothing;
                                                                    groups on one node only: committed too)
        -> a group every node of which said yes: PREPARED, CommitBundles -> CREATED, waiters woken
        -> a group a node said no to (or failed): ReturnBundles where it was reserved, back to waiting
    driver --RemovePlacementGroup--> REMOVED: the group's actors are killed (no restart), its bundles
        returned (the raylets stop the workers leased in them: its tasks fail), waiters woken
    a node holding bundles dies -> RESCHEDULING: its bundles are placed again, the others stay
    a node registers, or the GCS starts again on stored tables -> reservations a raylet holds that the
        table does not account for are returned (placement_group_state.stale_bundles)
    the creator's job ends -> its groups are removed, unless lifetime="detached"

A group's lifecycle is placement_group_state.py's Enum and table. Raylets
learn where a group's bundles are with GetPlacementGroup (which can wait for
CREATED), when their own cluster view does not show them yet. The node view
used for placement is the heartbeats' (a second old at most); what this
manager reserved since a node's last heartbeat is taken off its copy here, so
groups created together do not all aim at the same free CPU.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time

from strato.runtime.gcs.placement_group_policy import NodeResources, Outcome, place_bundles
from strato.runtime.gcs.placement_group_state import WAITING, PgState, check_transition, stale_bundles
from strato.runtime.protocol import gcs_pb2, raylet_pb2
from strato.runtime.rpc import RayletClient

logger = logging.getLogger("strato.gcs.placement_groups")
TABLE = "placement_groups"          # storage.py: placement group id -> PlacementGroupInfo (protobuf)
RETRY_S = 0.2                       # while a group waits: try again this often (node views change)
RPC_TIMEOUT_S = 10.0
#: Removed groups kept in the table (placement_group_table shows them as REMOVED); older ones are dropped.
MAX_REMOVED_KEPT = 1000


@dataclasses.dataclass
class Group:
    info: gcs_pb2.PlacementGroupInfo
    state: PgState = PgState.PENDING
    waiters: list = dataclasses.field(default_factory=list)


class PlacementGroupManager:
    def __init__(self, gcs, token: str):
        self.gcs = gcs
        self.token = token
        self.groups: dict[bytes, Group] = {}
        self.named: dict[tuple[str, str], bytes] = {}
        self.raylets: dict[str, RayletClient] = {}
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None
        self._removed: collections.deque[bytes] = collections.deque()   # oldest first
        self._in_flight: set[bytes] = set()        # groups of the reservation round under way

    # ------------------------------------------------------------- table
    def _set_state(self, g: Group, state: PgState) -> None:
        check_transition(g.state, state)
        g.state = state
        g.info.state = state.value
        if state is PgState.CREATED:
            g.info.placed_time = time.time()
            g.info.pending_reason = ""
        if state is PgState.REMOVED and g.info.name:
            if self.named.get((g.info.namespace, g.info.name)) == g.info.placement_group_id:
                del self.named[(g.info.namespace, g.info.name)]
        self._save(g)
        if state is PgState.REMOVED:
            self._forget_old_removed(g.info.placement_group_id)
        if state in (PgState.CREATED, PgState.REMOVED):
            waiters, g.waiters = g.waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def _save(self, g: Group) -> None:
        self.gcs.store.put(TABLE, g.info.placement_group_id, g.info.SerializeToString())

    def _forget_old_removed(self, pg_id: bytes) -> None:
        self._removed.append(pg_id)
        while len(self._removed) > MAX_REMOVED_KEPT:
            old = self._removed.popleft()
            if old in self.groups and self.groups[old].state is PgState.REMOVED:
                del self.groups[old]
                self.gcs.store.delete(TABLE, old)

    def recover(self) -> None:
        """Reload the table from storage (a GCS restarted on durable storage). A group caught between
        prepare and commit is placed again; its raylets' half-made reservations are returned then."""
        for key, blob in self.gcs.store.items(TABLE):
            info = gcs_pb2.PlacementGroupInfo.FromString(blob)
            state = PgState(info.state or "PENDING")
            if state is PgState.PREPARED:
                state = PgState.RESCHEDULING if any(b.node_id for b in info.bundles) else PgState.PENDING
                info.state = state.value
            self.groups[key] = Group(info, state)
            if state is PgState.REMOVED:
                self._forget_old_removed(key)
            if info.name and state is not PgState.REMOVED:
                self.named[(info.namespace, info.name)] = key
        if any(g.state in WAITING for g in self.groups.values()):
            self.wake()
        alive = [n.node_id for n in self.gcs.nodes.values() if n.alive]
        if alive:       # what the raylets hold, against the table taken back (they answer without the GCS)
            loop = asyncio.get_running_loop()
            for node_id in alive:
                loop.create_task(self._reconcile(node_id))

    def create(self, info: gcs_pb2.PlacementGroupInfo) -> str:
        """Add a group (PENDING) and have it placed; returns an error message, or "" when accepted."""
        key = (info.namespace, info.name)
        if info.name and key in self.named:
            return (f"a placement group named {info.name!r} already exists in namespace {info.namespace!r}; "
                    f"get it with get_placement_group({info.name!r}), or remove it first")
        info.state = PgState.PENDING.value
        info.create_time = time.time()
        g = Group(info)
        self.groups[info.placement_group_id] = g
        if info.name:
            self.named[key] = info.placement_group_id
        self._save(g)
        self.wake()
        return ""

    def lookup(self, pg_id: bytes, name: str = "", namespace: str = "") -> Group | None:
        if not pg_id and name:
            pg_id = self.named.get((namespace, name), b"")
        return self.groups.get(pg_id)

    async def wait_created(self, g: Group, timeout: float) -> None:
        if g.state in (PgState.CREATED, PgState.REMOVED):
            return
        fut = asyncio.get_running_loop().create_future()
        g.waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass

    # ----------------------------------------------------------- events
    def wake(self) -> None:
        """Something changed (a group, a node, freed resources): try the waiting groups again."""
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._schedule_forever())

    def node_registered(self, node_id: bytes) -> None:
        """A node (re)joined: groups may fit now, and what it holds is checked against the table."""
        self.wake()
        asyncio.get_running_loop().create_task(self._reconcile(node_id))

    async def _reconcile(self, node_id: bytes) -> None:
        raylet = self._raylet(node_id)
        if raylet is None:
            return
        try:
            stats = await raylet.call("GetNodeStats", raylet_pb2.GetNodeStatsRequest(), timeout=RPC_TIMEOUT_S)
        except Exception as exc:
            logger.debug("could not ask node %s for its bundles: %s", node_id.hex()[:12], exc)
            return
        table = {pg_id: (g.state, [b.node_id for b in g.info.bundles]) for pg_id, g in self.groups.items()}
        stale: dict[bytes, list[int]] = {}
        for pg_id, i in stale_bundles([(b.placement_group_id, b.bundle_index) for b in stats.bundles], table,
                                      node_id, self._in_flight):
            stale.setdefault(pg_id, []).append(i)
        for pg_id, indexes in stale.items():
            logger.info("node %s holds bundles %s of group %s the table does not account for: returning them",
                        node_id.hex()[:12], indexes, pg_id.hex()[:12])
            await self._return(node_id, pg_id, indexes, [])

    def node_died(self, node_id: bytes) -> None:
        for g in self.groups.values():
            if g.state is PgState.CREATED and any(b.node_id == node_id for b in g.info.bundles):
                for b in g.info.bundles:
                    if b.node_id == node_id:
                        b.node_id = b""
                g.info.pending_reason = f"node {node_id.hex()[:12]} holding some of its bundles died"
                self._set_state(g, PgState.RESCHEDULING)
                logger.info("placement group %s: rescheduling the bundles of dead node %s",
                            g.info.placement_group_id.hex()[:12], node_id.hex()[:12])
        self.wake()

    async def remove(self, pg_id: bytes) -> bool:
        g = self.groups.get(pg_id)
        if g is None:
            return False
        if g.state is PgState.REMOVED:
            return True
        self._set_state(g, PgState.REMOVED)
        logger.info("placement group %s removed", pg_id.hex()[:12])
        await self.gcs.actors.placement_group_removed(pg_id)
        held: dict[bytes, list] = {}
        for i, b in enumerate(g.info.bundles):
            if b.node_id:
                held.setdefault(b.node_id, []).append((i, dict(b.resources)))
        for node_id, bundles in held.items():       # free in the view at once: the next plans may use them
            if node_id in self.gcs.nodes:
                _take(self.gcs.nodes[node_id].resources_available, bundles, -1)

        async def give_back():      # after the reply, as Ray's removal: the raylets stop the group's tasks
            await asyncio.gather(*(self._return(node_id, pg_id, None, []) for node_id in held))
            self.wake()
        asyncio.get_running_loop().create_task(give_back())
        return True

    async def job_finished(self, job_id: bytes) -> None:
        for g in list(self.groups.values()):
            if g.info.creator_job_id == job_id and not g.info.detached and g.state is not PgState.REMOVED:
                await self.remove(g.info.placement_group_id)

    # ------------------------------------------------------- scheduling
    async def _schedule_forever(self) -> None:
        """Each round: plan every waiting group in creation order (each plan takes its bundles off the
        view the next one sees), then reserve the planned ones all at once."""
        while True:
            waiting = sorted((g for g in self.groups.values() if g.state in WAITING), key=lambda g: g.info.create_time)
            if not waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            self._wake.clear()
            plans = [plan for plan in map(self._plan_or_log, waiting) if plan is not None]
            if plans:
                try:
                    await self._reserve_all(plans)
                except Exception:
                    logger.exception("placing %d group(s) failed", len(plans))
            if any(g.state in WAITING for g in self.groups.values()):
                try:
                    await asyncio.wait_for(self._wake.wait(), RETRY_S)
                except asyncio.TimeoutError:
                    pass

    def _node_view(self) -> dict:
        return {n.node_id: NodeResources(dict(n.resources_total), dict(n.resources_available))
                for n in self.gcs.nodes.values() if n.alive}

    def _plan_or_log(self, g: Group):
        try:
            return self._plan(g)
        except Exception:      # a bug must not stop the loop for every other group
            logger.exception("planning group %s failed", g.info.placement_group_id.hex()[:12])
            return None

    def _plan(self, g: Group):
        """Where a waiting group's bundles go now: (group, node -> bundle indexes, bundles, state before),
        with those bundles taken off the GCS's copy of the nodes' free resources; None if it must wait."""
        info = g.info
        fixed = {i: b.node_id for i, b in enumerate(info.bundles)
                 if b.node_id and b.node_id in self.gcs.nodes and self.gcs.nodes[b.node_id].alive}
        bundles = [dict(b.resources) for b in info.bundles]
        info.scheduling_attempts += 1
        placement = place_bundles(bundles, info.strategy, self._node_view(), fixed)
        if placement.outcome is not Outcome.PLACED:
            if info.pending_reason != placement.reason:
                info.pending_reason = placement.reason
                self._save(g)
            return None
        todo: dict[bytes, list[int]] = {}
        for i, node_id in enumerate(placement.nodes):
            if i not in fixed:
                todo.setdefault(node_id, []).append(i)
        for node_id, idx in todo.items():
            _take(self.gcs.nodes[node_id].resources_available, [(i, bundles[i]) for i in idx])
        return g, todo, bundles, g.state

    async def _reserve_all(self, plans: list) -> None:
        """Reserve the planned groups: one PrepareBundles per node for all of them (groups held by one
        node alone are committed in the same call; the others are prepared only), then one CommitBundles
        per node for the groups prepared on several nodes. A group whose bundles a node refused (each
        group's share of a batch is reserved whole or not at all), or that was removed meanwhile, is
        rolled back and waits for the next round; the others are CREATED."""
        batches: dict[tuple[bytes, bool], list] = {}        # (node, commit at once) -> BundleSpecs
        for g, todo, bundles, _ in plans:
            one_node = len(todo) == 1
            for node_id, idx in todo.items():
                batches.setdefault((node_id, one_node), []).extend(
                    raylet_pb2.BundleSpec(placement_group_id=g.info.placement_group_id, bundle_index=i,
                                          resources=bundles[i]) for i in idx)
        keys = list(batches)
        self._in_flight = {g.info.placement_group_id for g, *_ in plans}
        try:
            await self._reserve_round(plans, batches, keys)
        finally:
            self._in_flight = set()

    async def _reserve_round(self, plans: list, batches: dict, keys: list) -> None:
        answers = dict(zip(keys, await asyncio.gather(*(self._prepare(node_id, batches[(node_id, one)], one)
                                                         for node_id, one in keys))))
        to_commit: list = []
        for g, todo, bundles, before in plans:
            one_node, pg_id = len(todo) == 1, g.info.placement_group_id
            untouched = {n for n in todo if _refused(answers[(n, one_node)], pg_id)}
            why = next((_why(answers[(n, one_node)], n) for n in untouched), None)
            if why is not None or g.state is not before:     # refused somewhere, or removed meanwhile
                await self._roll_back(g, todo, bundles, untouched)
                if g.state is before:
                    g.info.pending_reason = f"a node refused its bundles ({why}); retrying"
                    self._save(g)
                continue
            self._set_state(g, PgState.PREPARED)
            if one_node:
                self._created(g, todo)
            else:
                to_commit.append((g, todo, bundles, before))
        if not to_commit:
            return
        per_node: dict[bytes, list] = {}
        for g, todo, bundles, _ in to_commit:
            for node_id, idx in todo.items():
                per_node.setdefault(node_id, []).extend(
                    raylet_pb2.BundleSpec(placement_group_id=g.info.placement_group_id, bundle_index=i) for i in idx)
        nodes = list(per_node)
        committed = dict(zip(nodes, await asyncio.gather(*(self._commit(n, per_node[n]) for n in nodes))))
        for g, todo, bundles, before in to_commit:
            if g.state is PgState.PREPARED and all(committed[n] for n in todo):
                self._created(g, todo)
                continue
            await self._roll_back(g, todo, bundles, set())     # a node failed meanwhile, or removed
            if g.state is PgState.PREPARED:
                g.info.pending_reason = "a node failed while its bundles were being committed; retrying"
                self._set_state(g, before)

    def _created(self, g: Group, todo: dict) -> None:
        for node_id, idx in todo.items():
            for i in idx:
                g.info.bundles[i].node_id = node_id
        self._set_state(g, PgState.CREATED)

    async def _roll_back(self, g: Group, todo: dict, bundles: list, untouched: set) -> None:
        """Give back what a failed reservation took: on `untouched` nodes nothing was reserved (only
        the plan's share of the view is returned), the others are told to return the bundles."""
        pg_id = g.info.placement_group_id
        for node_id in untouched:
            if node_id in self.gcs.nodes:
                _take(self.gcs.nodes[node_id].resources_available, [(i, bundles[i]) for i in todo[node_id]], -1)
        await asyncio.gather(*(self._return(node_id, pg_id, idx, [(i, bundles[i]) for i in idx])
                               for node_id, idx in todo.items() if node_id not in untouched))

    # ------------------------------------------------------------- RPCs
    def _raylet(self, node_id: bytes) -> RayletClient | None:
        node = self.gcs.nodes.get(node_id)
        if node is None:
            return None
        address = f"{node.address}:{node.raylet_port}"
        client = self.raylets.get(address)
        if client is None:
            client = self.raylets[address] = RayletClient(address, self.token)
        return client

    async def _prepare(self, node_id: bytes, specs: list, commit: bool):
        """The raylet's PrepareBundlesReply; None when it cannot be reached (every group refused)."""
        raylet = self._raylet(node_id)
        if raylet is None:
            return None
        try:
            return await raylet.call("PrepareBundles", raylet_pb2.PrepareBundlesRequest(
                bundles=specs, commit=commit), timeout=RPC_TIMEOUT_S)
        except Exception as exc:
            logger.warning("prepare on node %s failed: %s", node_id.hex()[:12], exc)
            return None

    async def _commit(self, node_id: bytes, specs: list) -> bool:
        raylet = self._raylet(node_id)
        if raylet is None:
            return False
        try:
            reply = await raylet.call("CommitBundles", raylet_pb2.CommitBundlesRequest(bundles=specs),
                                      timeout=RPC_TIMEOUT_S)
        except Exception as exc:
            logger.warning("commit on node %s failed: %s", node_id.hex()[:12], exc)
            return False
        return reply.ok

    async def _return(self, node_id: bytes, pg_id: bytes, indexes: list[int] | None,
                      bundles: list[tuple[int, dict]]) -> None:
        raylet = self._raylet(node_id)
        node = self.gcs.nodes.get(node_id)
        if raylet is None or node is None or not node.alive:
            return
        _take(node.resources_available, bundles, -1)
        try:
            await raylet.call("ReturnBundles", raylet_pb2.ReturnBundlesRequest(
                placement_group_id=pg_id, bundle_indexes=indexes or []), timeout=RPC_TIMEOUT_S)
        except Exception as exc:
            logger.warning("could not return group %s's bundles on node %s: %s", pg_id.hex()[:12],
                           node_id.hex()[:12], exc)


def _why(reply, node_id: bytes) -> str:
    return reply.message if reply is not None else f"node {node_id.hex()[:12]} did not answer"


def _refused(reply, pg_id: bytes) -> bool:
    return reply is None or (not reply.ok and pg_id in reply.refused_groups)


def _take(available, bundles: list[tuple[int, dict]], sign: int = 1) -> None:
    """Take reserved bundles off the GCS's copy of a node's free resources (sign -1: give returned ones
    back), until the node's next heartbeat says what it has."""
    for _, r in bundles:
        for k, v in r.items():
            available[k] = available.get(k, 0.0) - sign * v
