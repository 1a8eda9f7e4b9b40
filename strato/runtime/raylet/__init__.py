"""The raylet: one process per node (`python -m strato.runtime.raylet`).

It owns the node's resources and its worker pool, and grants worker leases.
lease_scheduler.py decides (a pure state machine: grant, spill back, wait,
start or kill workers), with policy.py's placement over the cluster view
and bundles.py's placement-group bundles (reserved for the GCS, leased as
resources of their own); server.py is the IO shell: the gRPC service, heartbeats to the GCS, the
worker processes. The raylet also runs the node's shared-memory object
store, whose raylet-side modules live in object_store/server/ (see
object_store/__init__.py).
"""
