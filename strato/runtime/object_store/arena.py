"""The arena as both sides map it: the raylet's store and every core worker on the node.

The raylet creates the arena file (server/files.py) and maps it to copy
spilled and pulled objects in and out; a client maps it once per process,
writable to write its objects and read-only for the views `get` hands out.
Only the mapping is shared: which region holds what is the raylet's to
decide (server/), and the bytes' layout is the clients' (client/layout.py).
"""
from __future__ import annotations

import mmap

MADV_POPULATE_WRITE = 23           # Linux >= 5.14; not exported by Python 3.11's mmap module


def map_arena(fd: int, capacity: int) -> mmap.mmap:
    return mmap.mmap(fd, capacity, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)


def map_arena_read_only(fd: int, capacity: int) -> mmap.mmap:
    """The whole arena, read-only: what a client's reads view (one mapping per process)."""
    return mmap.mmap(fd, capacity, mmap.MAP_SHARED, mmap.PROT_READ)


POPULATE_CHUNK = 2 << 20


def prefault(arena: mmap.mmap, offset: int, size: int, done: bytearray | None = None) -> None:
    """Map a range's pages in one call instead of one page fault at a time (best effort).

    `done` marks the 2 MiB chunks this process already populated: rewriting
    them needs no page table work, and asking again costs a walk of it.
    """
    if size < (4 << 20):
        return
    first, last = offset // POPULATE_CHUNK, (offset + size - 1) // POPULATE_CHUNK
    if done is not None and all(done[first:last + 1]):
        return
    try:
        start = first * POPULATE_CHUNK
        end = min((last + 1) * POPULATE_CHUNK, len(arena))
        arena.madvise(MADV_POPULATE_WRITE, start, end - start)
    except (OSError, ValueError, AttributeError):
        pass
    if done is not None:
        done[first:last + 1] = b"\x01" * (last + 1 - first)
