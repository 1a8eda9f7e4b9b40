"""The object store's client side: runs in every core worker (drivers and workers) of a node.

Decides what goes to the store (values over max_inline_bytes), lays values
out for zero-copy reads, writes them into and maps them out of the arena,
and keeps the read leases the raylet grants. It never decides where an
object lives in the arena or when memory is reused: it asks the raylet's
store (server/) over the Unix socket and gives back what it is told to.
"""
