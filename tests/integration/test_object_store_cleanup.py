"""No shared-memory leftovers, whatever way a cluster ends; a crashed writer loses nothing sealed."""
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from strato._testing import node_store_stats, process_gone, wait_for
from strato.exceptions import WorkerCrashedError
from strato.runtime.object_store.server import files

MiB = 1 << 20


def arenas_of(pid: int) -> list[str]:
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"strato-{os.getuid()}-{pid}-")]


def raylet_pid() -> int:
    from strato import api
    return api._embedded["raylet"].proc.pid


def test_shutdown_removes_the_arena(fresh_strato):
    strato = fresh_strato
    strato.init(num_cpus=1, object_store_memory=256 * MiB)
    pid = raylet_pid()
    assert arenas_of(pid)
    ref = strato.put(np.ones(8 * MiB, dtype=np.uint8))
    value = strato.get(ref)
    strato.shutdown()
    assert not arenas_of(pid)
    assert value.sum() == 8 * MiB                     # a value still held stays readable after the file goes


def test_killed_driver_leaves_nothing(child_env):
    script = textwrap.dedent("""
        import sys, time, numpy as np, strato
        from strato import api
        strato.init(num_cpus=1, object_store_memory=256 << 20)
        ref = strato.put(np.ones(16 << 20, dtype=np.uint8))
        print(api._embedded["raylet"].proc.pid, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=child_env, text=True)
    try:
        pid = int(proc.stdout.readline())
        assert arenas_of(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert wait_for(lambda: not arenas_of(pid), 20), "the raylet did not remove its arena"
        assert wait_for(lambda: process_gone(pid), 20), f"the raylet (pid {pid}) outlived its driver"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stale_arena_is_removed_by_the_next_start(fresh_strato):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                        # a pid that no longer runs
    stale = os.path.join("/dev/shm", files.arena_name(b"\x05" * 16, pid=dead.pid))
    with open(stale, "wb") as f:
        f.write(b"left by a raylet killed with SIGKILL")
    try:
        fresh_strato.init(num_cpus=1, object_store_memory=80 * MiB)      # Ray's smallest store is 75 MiB
        assert not os.path.exists(stale)
    finally:
        if os.path.exists(stale):
            os.unlink(stale)


def test_worker_crash_mid_put_loses_nothing_sealed(fresh_strato):
    strato = fresh_strato
    strato.init(num_cpus=1, object_store_memory=256 * MiB)

    @strato.remote(max_retries=0)
    def make(n):
        return np.arange(n, dtype=np.int64)

    @strato.remote(max_retries=0)
    def put_and_crash():
        from strato import _context as worker_context
        me = worker_context.worker().address
        client = worker_context.worker().node_store.client
        client.put(b"\x01" * 20, np.ones(4 * MiB, dtype=np.uint8), owner=me)   # sealed by this worker ...
        offset = client.create(b"\x02" * 20, 32 * MiB, owner=me)               # ... then dies mid-put
        client._writable()[offset:offset + MiB] = b"\xff" * MiB
        os._exit(1)

    kept = make.remote(2 * MiB)
    mine = strato.put(np.full(3 * MiB, 7, dtype=np.uint8))
    assert strato.get(kept)[-1] == 2 * MiB - 1
    with pytest.raises(WorkerCrashedError):
        strato.get(put_and_crash.remote(), timeout=60)

    # The unsealed object is gone, the dead worker's own put with it; everything sealed for a live owner stays.
    assert wait_for(lambda: node_store_stats()["num_objects"] == 2, 20), node_store_stats()
    assert int(strato.get(kept)[-1]) == 2 * MiB - 1
    assert int(strato.get(mine).sum()) == 7 * 3 * MiB
    gc.collect()


def test_a_raylet_stopped_while_starting_removes_its_arena(tmp_path):
    # Its GCS never answers (nothing listens on port 1): SIGTERM must still end it at once,
    # and the arena it already made must go with it.
    (tmp_path / "logs").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "strato.runtime.raylet", "--gcs", "127.0.0.1:1",
                             "--session-dir", str(tmp_path), "--num-cpus", "1", "--detached"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write(b"token\n")
    proc.stdin.close()
    try:
        assert wait_for(lambda: [f for f in os.listdir("/dev/shm") if f"-{proc.pid}-" in f], 30), \
            "the raylet made no arena"
        started = time.monotonic()
        proc.terminate()
        proc.wait(timeout=10)
        assert time.monotonic() - started < 5
        assert not [f for f in os.listdir("/dev/shm") if f"-{proc.pid}-" in f]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
