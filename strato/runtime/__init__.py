"""The cluster runtime: one folder per process role (DESIGN section 2).

    gcs/           the GCS process, one per cluster on the head: nodes, jobs, KV, actors, task events,
                   the state API's HTTP endpoint
    raylet/        the raylet process, one per node: resources, worker leases, the worker pool
    object_store/  the node's shared-memory store: its server side runs in the raylet, its client
                   side in every core worker
    core_worker/   a library in every driver and worker process: submitting, owning, getting
    worker/        the worker process: runs tasks, or one actor, with a core worker inside
    protocol/      wire schemas every process shares (.proto and generated stubs, framed messages)

The modules at this level serve several roles: transport.py (the framed hot
path: core workers, the GCS's actor manager, the store's socket), rpc.py
(gRPC clients and servers, every process), leasing.py (asking raylets for
leases: task submitters and the GCS), serialization.py (core workers),
config.py, ids.py, tls.py; tokens.py is a client's token; node.py and
temp_root.py start, find and stop a node's daemons (`strato start`, or a
driver's embedded cluster).
"""
