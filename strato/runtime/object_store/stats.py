"""Per-node object store statistics for the state API, the widgets and tests.

    from strato.runtime.object_store.stats import cluster_store_stats
    cluster_store_stats(core_worker)   # {node_id hex: {"capacity", "used", "primary_bytes",
                                       #   "secondary_bytes", "spilled_bytes", "num_objects",
                                       #   "num_spilled", "largest": [...], "counters": {...}}}

Asks each live node's raylet (GetNodeStats); `largest` lists the biggest
objects with the call site that made them.
"""
from __future__ import annotations

from google.protobuf.json_format import MessageToDict

from strato.runtime.protocol import gcs_pb2, raylet_pb2
from strato.runtime.rpc import RayletClient


def _as_dict(st) -> dict:
    d = MessageToDict(st, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    for key in ("capacity", "used", "primary_bytes", "secondary_bytes", "spilled_bytes", "num_objects",
                "num_spilled"):
        d[key] = int(d.get(key, 0))
    d["counters"] = {k: int(v) for k, v in d.get("counters", {}).items()}
    d["largest"] = [{"object_id": bytes(o.object_id).hex(), "size": o.size, "state": o.state,
                     "call_site": o.call_site, "owner": o.owner} for o in st.largest]
    return d


async def _collect(cw) -> dict:
    nodes = (await cw.gcs.call("GetAllNodes", gcs_pb2.Empty())).nodes
    out = {}
    for n in nodes:
        if not n.alive:
            continue
        client = RayletClient(f"{n.address}:{n.raylet_port}", cw.token)
        try:
            reply = await client.call("GetNodeStats", raylet_pb2.GetNodeStatsRequest(), timeout=10)
            out[n.node_id.hex()] = _as_dict(reply.object_store)
        finally:
            await client.close()
    return out


def cluster_store_stats(cw) -> dict:
    """Object store statistics of every live node, keyed by node id (hex). `cw`: a CoreWorker."""
    return cw.run_sync(_collect(cw), timeout=30)
