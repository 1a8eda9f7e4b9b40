"""The files behind a node's store: one arena in /dev/shm, spill files on disk.

    /dev/shm/strato-<uid>-<raylet pid>-<node id prefix>.arena    the arena (sparse; capacity bytes)
    <session>/sockets/store-<raylet pid>.sock                    the store's socket (server.py)
    <session>/spill/<node id>/batch-<n>.bin                      spilled objects, several per file

The names carry the user id and the raylet's pid, so the next raylet that
starts on the machine can tell a leftover of a dead raylet (killed with
SIGKILL, say) from a live store, and remove it (`remove_stale`). When
/dev/shm cannot hold the capacity the arena goes to a temp directory
instead, with a warning: everything works, only slower.
"""
from __future__ import annotations

import logging
import mmap
import os
import re
import tempfile

import psutil

logger = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"
PREFIX = "strato-"
MADV_POPULATE_WRITE = 23           # Linux >= 5.14; not exported by Python 3.11's mmap module


def fallback_dir() -> str:
    return os.path.join(tempfile.gettempdir(), f"strato-{os.getuid()}", "shm")


def arena_name(node_id: bytes, pid: int | None = None) -> str:
    return f"{PREFIX}{os.getuid()}-{pid or os.getpid()}-{node_id.hex()[:12]}.arena"


_NAME = re.compile(r"^strato-(\d+)-(\d+)-[0-9a-f]+\.arena$")


def choose_dir(capacity: int, shm_dir: str = SHM_DIR) -> str:
    try:
        st = os.statvfs(shm_dir)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = 0
    if free >= capacity:
        return shm_dir
    from strato.runtime import temp_root
    temp_root.ensure_root(None)            # private (0700, ours) or refused, never a planted folder
    path = fallback_dir()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if os.path.islink(path) or not os.path.isdir(path):
            raise NotADirectoryError(f"{path} is not a plain folder (a link?): remove it and start again")
    logger.warning("%s has %.1f GiB free, less than the object store's capacity (%.1f GiB); the store "
                   "uses %s instead, which is slower. Give /dev/shm more room (docker: --shm-size) or "
                   "lower object_store_memory.", shm_dir, free / 2**30, capacity / 2**30, path)
    return path


def create_arena(directory: str, name: str, capacity: int) -> tuple[str, int]:
    """Create the (sparse) arena file; returns (path, fd)."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, capacity)
    except OSError:
        os.close(fd)
        os.unlink(path)
        raise
    return path, fd


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


def _is_live_raylet(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and any("strato" in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def remove_stale(dirs: list[str] | None = None) -> list[str]:
    """Delete arenas of this user whose raylet is gone; returns the removed paths."""
    removed = []
    uid = os.getuid()
    for directory in dirs or [SHM_DIR, fallback_dir()]:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            m = _NAME.match(name)
            if not m or int(m.group(1)) != uid:
                continue
            pid = int(m.group(2))
            if pid == os.getpid() or _is_live_raylet(pid):
                continue
            path = os.path.join(directory, name)
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    if removed:
        logger.info("removed %d object store file(s) left by raylets that are gone: %s", len(removed), removed)
    return removed
