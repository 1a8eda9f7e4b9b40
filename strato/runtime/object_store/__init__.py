"""The node's shared-memory object store (DESIGN section 3: large objects, zero copy, spilling).

The store spans two kinds of process, and its folders follow them (DESIGN
section 7: a folder shows which process runs its code):

    server/  runs in the RAYLET (one per node)       client/  runs in every CORE WORKER on the node
    ------------------------------------------       ---------------------------------------------
    store_server.py  StoreServer: IO shell on the    node_store.py    NodeStore: put / task returns over
                     raylet's loop, Unix socket <---                  max_inline_bytes go to the store,
    memory_policy.py pure: read-lease revokes,                        `get` of a marker reads it back
                     admission of waiting requests    store_client.py  StoreClient: create / seal / get /
    accounting.py    pure: regions, pinning, LRU                      release / free; read leases
                     eviction, spilling               layout.py       pickle-5 layout of one object, and
    allocator.py     pure: first fit over the arena                   the marker that names its node
    service.py       the raylet's RPCs: pulls between
                     raylets (gRPC, 5 MiB chunks), frees
    transfer.py      plain-TCP pulls: raw bytes arena
                     to arena after the token hello
    files.py         arena file, stale arenas, spill files

    shared by both:  arena.py   mapping the arena file (writable, read-only), prefaulting
    asks raylets:    stats.py   per-node store statistics over gRPC (drivers, tests, the GCS's HTTP API)

The raylet owns the memory: it decides which region of the arena an object
gets and when a region may be reused. Core workers copy bytes in and map
them out themselves; only small control messages cross the socket.

The store is a folder of its own rather than a part of raylet/ and
core_worker/ because its two halves speak one protocol over one arena and
change together; the subfolders keep which process runs a line plain.
"""
