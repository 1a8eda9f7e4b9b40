"""The files behind a node's store (raylet side): the arena, stale arenas, spill files.

    /dev/shm/strato-<uid>-<raylet pid>-<node id prefix>.arena    the arena (sparse; capacity bytes)
    <session>/sockets/store-<raylet pid>-<node id prefix>.sock   the store's socket (store_server.py)
    <session>/spill/<node id>/batch-<n>.bin                      spilled objects, several per file

The raylet creates the arena and removes it when it stops; clients only map
it (object_store/arena.py). The names carry the user id and the raylet's
pid, so the next raylet that starts on the machine can tell a leftover of a
dead raylet (killed with SIGKILL, say) from a live store, and remove it
(`remove_stale`). When /dev/shm cannot hold the capacity the arena goes to
a temp directory instead, with a warning: everything works, only slower.
Spill batches are written and read back here, on the store's IO threads.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile

import psutil

from strato import exceptions

logger = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"
PREFIX = "strato-"


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


# ------------------------------------------------------------ spill files (run on the store's IO threads)
def write_spill_batch(arena: memoryview, spill_dir: str, path: str, objects) -> dict:
    """Write objects ((oid, offset, size) in the arena) one after another into a new file at `path`;
    returns oid -> offset in the file."""
    os.makedirs(spill_dir, mode=0o700, exist_ok=True)
    placed = {}
    with open(path, "wb") as f:
        pos = 0
        for oid, offset, size in objects:
            f.write(arena[offset:offset + size])
            placed[oid] = pos
            pos += size
        f.flush()
    return placed


def read_back(arena: memoryview, path: str, file_offset: int, offset: int, size: int) -> None:
    """Read `size` bytes at `file_offset` of a spill file into the arena at `offset`."""
    with open(path, "rb") as f:
        f.seek(file_offset)
        view = arena[offset:offset + size]
        got = 0
        while got < size:
            n = f.readinto(view[got:])
            if not n:
                raise exceptions.ObjectLostError(f"spill file {path} is truncated")
            got += n
