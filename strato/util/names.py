"""Ray's small lookup helpers: the named actors of a namespace, this node's IP address."""
from __future__ import annotations

from strato import _context
from strato.runtime.protocol import gcs_pb2


def list_named_actors(all_namespaces: bool = False) -> list:
    """Names of the live named actors in this job's namespace; with all_namespaces=True,
    [{"name": ..., "namespace": ...}] across every namespace (as Ray's ray.util.list_named_actors)."""
    cw = _context.require_worker("util.list_named_actors")
    reply = cw.run_sync(cw.gcs.call("ListActors", gcs_pb2.ListActorsRequest(include_dead=False)), timeout=30)
    named = [a for a in reply.actors if a.name and a.state != "DEAD"]
    if all_namespaces:
        return [{"name": a.name, "namespace": a.namespace} for a in named]
    namespace = cw.job_namespace()
    return [a.name for a in named if a.namespace == namespace]


def get_node_ip_address() -> str:
    """The IP address of the node this process runs on, as the cluster knows it."""
    return _context.require_worker("util.get_node_ip_address").node_ip
