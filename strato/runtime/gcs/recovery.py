"""A GCS started on storage that already holds a cluster's tables takes the cluster back (GCS fault tolerance).

    storage --nodes--> node table; live nodes get a full health timeout to heartbeat again
                       (their raylets reconnect with backoff and re-register: raylet/server.py)
            --jobs---> job table, job counter; the GCS reconnects to each live job's driver
                       (it cannot: the driver is gone, the job finishes and its actors die)
            --actors-> actor table and names; an ALIVE actor's worker is reconnected (cannot: the actor
                       died while the GCS was away; it restarts if it has restarts left); an actor being
                       created is created again, after the worker leased for it, if one was, is ended;
                       one waiting for its arguments waits for its owner's CreateActor, which the owner
                       retries until the GCS answers
            --kv:*---> read through the store on every call: nothing to load
            --placement_groups--> the placement-group manager's own recover(), when it has one

What is written, and when, is server.py's business (write-through on every
change: GcsServer._save_node, AddJob, MarkJobFinished, KV*, and
_save_actor, which ActorManager calls at every version bump through its
on_change hook). Task events are not stored: the state API starts again
from what core workers report after the restart.

Known gap: a lease a raylet granted in the instant the earlier GCS died
(the reply sent, never read) goes to nobody. A request still waiting is
cancelled with the connection, but with durable storage the GCS's leases
name no owner pid (so that raylets keep actors alive across a restart), so
a worker granted that way stays leased until its node stops.
"""
from __future__ import annotations

import asyncio
import logging
import time

from google.protobuf.message import DecodeError

from strato.runtime import transport
from strato.runtime.gcs import storage
from strato.runtime.gcs.actor_state import ActorState
from strato.runtime.protocol import gcs_pb2

logger = logging.getLogger("strato.gcs.recovery")


def load_nodes(store: storage.StoreClient) -> list[gcs_pb2.NodeInfo]:
    """Every stored node, in registration order."""
    nodes = [gcs_pb2.NodeInfo.FromString(v) for _, v in store.items(storage.NODES)]
    return sorted(nodes, key=lambda n: n.start_time)


def load_jobs(store: storage.StoreClient) -> list[gcs_pb2.JobInfo]:
    return [gcs_pb2.JobInfo.FromString(v) for _, v in store.items(storage.JOBS)]


def load_actors(store: storage.StoreClient) -> list[tuple[gcs_pb2.ActorInfo, bytes]]:
    """(info, creation spec) of every stored actor; an unreadable record is logged and skipped."""
    out = []
    for key, blob in store.items(storage.ACTORS):
        try:
            raw_info, spec = storage.parse_actor_record(blob)
            out.append((gcs_pb2.ActorInfo.FromString(raw_info), spec))
        except (ValueError, DecodeError) as exc:   # one bad row must not keep the GCS down
            logger.error("skipping unreadable actor record %s: %s", key.hex()[:12], exc)
    return out


def recover(gcs) -> dict:
    """Load what `gcs.store` holds into a fresh GcsServer, and start reconnecting (needs a running loop).

    Returns counts of what was found, for the log."""
    from strato.runtime.gcs.actor_manager import ActorEntry
    store, now = gcs.store, time.monotonic()
    nodes = load_nodes(store)
    for node in nodes:
        gcs.nodes[node.node_id] = node
        if node.alive:
            gcs.health.seen(node.node_id, now)     # a full timeout to heartbeat the new GCS
    jobs = load_jobs(store)
    gcs.job_counter = max([int.from_bytes(j.job_id, "big") for j in jobs], default=0)
    loop = asyncio.get_running_loop()
    for job in jobs:
        if not job.is_dead and job.driver_address:
            loop.create_task(_rewatch_driver(gcs, job))
    manager = gcs.actors
    actors = load_actors(store)
    for info, spec in actors:
        state = ActorState(info.state)
        entry = ActorEntry(info, state=state, creation_spec=spec, incarnation=1)
        manager.actors[info.actor_id] = entry
        if state is ActorState.DEAD:
            continue
        if info.name:
            manager.named[(info.namespace, info.name)] = info.actor_id
        if state is ActorState.ALIVE:
            manager.by_worker[info.worker_id] = info.actor_id
            loop.create_task(_reconnect_actor(gcs, entry))
        elif state in (ActorState.PENDING_CREATION, ActorState.RESTARTING):
            if state is ActorState.RESTARTING:
                manager._set_state(entry, ActorState.PENDING_CREATION)
            loop.create_task(_create_again(gcs, entry))
    pgs = getattr(gcs, "placement_groups", None)
    if pgs is not None and hasattr(pgs, "recover"):
        pgs.recover()
    return {"nodes": sum(n.alive for n in nodes), "dead nodes": sum(not n.alive for n in nodes),
            "jobs": sum(not j.is_dead for j in jobs), "actors": sum(i.state != "DEAD" for i, _ in actors)}


async def _rewatch_driver(gcs, job: gcs_pb2.JobInfo) -> None:
    """Watch a live job's driver again; a driver that cannot be reached has gone: its job is finished."""
    await gcs.actors.watch_job(job.job_id, job.driver_address)
    if job.job_id not in gcs.actors.job_conns:
        logger.warning("the driver of job %s is gone: finishing the job", job.job_id.hex())
        await gcs.finish_job(job.job_id)


async def _create_again(gcs, entry) -> None:
    """Create an actor whose creation the earlier GCS did not see finish: first end the worker it had leased
    for it, if any (its constructor may have run, or be running), then lease a new one."""
    manager, info = gcs.actors, entry.info
    node = gcs.nodes.get(info.node_id)
    if info.worker_id and node is not None and node.alive:
        await manager._kill_worker(manager._raylet(f"{node.address}:{node.raylet_port}"), info.worker_id)
    await manager._create(entry)


async def _reconnect_actor(gcs, entry) -> None:
    """Reopen the GCS's connection to an ALIVE actor's worker; its closing means the actor died."""
    manager, info = gcs.actors, entry.info
    actor_id, incarnation = info.actor_id, entry.incarnation
    node = gcs.nodes.get(info.node_id)
    if node is not None:
        entry.raylet = manager._raylet(f"{node.address}:{node.raylet_port}")
    if node is None or not node.alive:
        manager._on_death(actor_id, incarnation, f"its node {info.node_id.hex()[:12]} died")
        return
    host, port = info.address.rsplit(":", 1)
    try:
        entry.conn = await transport.connect(host, int(port), manager.token, {"gcs": True}, _ignore,
                                             lambda c, e: manager._on_conn_lost(actor_id, incarnation))
    except (ConnectionError, OSError, PermissionError) as exc:
        manager._on_death(actor_id, incarnation, f"its worker process died while the GCS was restarting ({exc})")


def _ignore(conn, msg):
    pass
