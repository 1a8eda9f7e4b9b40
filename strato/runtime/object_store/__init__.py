"""The node's shared-memory object store (DESIGN section 3: large objects, zero copy, spilling).

    raylet process                                   core worker processes (drivers, workers)
    --------------                                   -----------------------------------------
    server.py   StoreServer: IO shell on the          node_store.py  NodeStore: put / task returns over
                raylet's loop, Unix socket     <----                 max_inline_bytes go to the store,
    accounting.py  pure state machine: regions,                      `get` of a marker reads it back
                pinning, LRU eviction, spilling       client.py      StoreClient: create / seal / get /
    allocator.py   first-fit over the arena                          release / free; maps the arena
    service.py  the raylet's RPCs: pulls between      layout.py      pickle-5 layout of one object, and
                raylets (5 MiB chunks), frees                        the marker that names its node
    shm.py      the files: arena in /dev/shm, spill files, stale-file cleanup

The raylet owns the memory: it decides which region of the arena an object
gets and when a region may be reused. Core workers copy bytes in and map
them out themselves; only small control messages cross the socket.
"""
