"""The object store's raylet side: runs inside the raylet process, on its event loop.

Owns the node's arena: creates its file, decides which region each object
gets, pins primaries for their owners, evicts and spills when memory is
short, grants and revokes read leases, and moves objects to and from other
raylets. The decisions are pure classes (accounting.py, allocator.py,
memory_policy.py) that store_server.py and service.py only carry out.
Nothing here runs in a core worker: clients reach it through the Unix
socket (client/store_client.py) and other raylets through gRPC.
"""
