"""strato.init / strato.shutdown: the life cycle of an embedded cluster.

Every test here starts its own cluster through the ``fresh_strato`` fixture,
which guarantees a shutdown even when the test fails.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from strato._testing import live_children, process_gone, wait_for

GRACE_S = 15


def strato_shm_entries(pids):
    """/dev/shm entries named after "strato" and one of the given pids.

    Other strato clusters may be running on this machine at the same time,
    so only entries carrying the pid of one of our processes are counted.
    """
    pids = {str(p) for p in pids}
    return {p.name for p in Path("/dev/shm").iterdir()
            if "strato" in p.name.lower() and pids & set(re.findall(r"\d+", p.name))}


def test_init_starts_a_cluster_and_shutdown_ends_it(fresh_strato):
    strato = fresh_strato
    assert not strato.is_initialized()
    strato.init(num_cpus=2)
    assert strato.is_initialized()
    assert strato.cluster_resources()["CPU"] == 2.0

    strato.shutdown()
    assert not strato.is_initialized()


def test_the_embedded_cluster_runs_as_child_processes_of_the_driver(fresh_strato):
    strato = fresh_strato
    strato.init(num_cpus=1)
    assert live_children(), "init() without an address must start GCS and raylet as children"


def test_shutdown_leaves_no_processes_and_no_shared_memory(fresh_strato):
    strato = fresh_strato
    strato.init(num_cpus=2)

    @strato.remote
    def make_array():
        import numpy as np
        return np.zeros(1_000_000)

    # Make the object store and the workers really do something first.
    assert strato.get(make_array.remote()).shape == (1_000_000,)
    assert strato.get(strato.put(b"x" * 5_000_000)) == b"x" * 5_000_000
    pids = [p.pid for p in live_children()]
    assert pids

    strato.shutdown()

    assert wait_for(lambda: not live_children(), GRACE_S), \
        f"still running after shutdown: {[p.pid for p in live_children()]}"
    assert all(process_gone(pid) for pid in pids), [pid for pid in pids if not process_gone(pid)]
    ours = pids + [os.getpid()]
    assert wait_for(lambda: not strato_shm_entries(ours), GRACE_S), \
        f"left in /dev/shm: {strato_shm_entries(ours)}"


def test_init_twice_without_shutdown_is_a_runtime_error(fresh_strato):
    strato = fresh_strato
    strato.init(num_cpus=1)
    with pytest.raises(RuntimeError):
        strato.init(num_cpus=1)
    # The first cluster is unaffected.
    assert strato.is_initialized()
    assert strato.get(strato.put("still here")) == "still here"


def test_ignore_reinit_error_makes_a_second_init_a_no_op(fresh_strato):
    strato = fresh_strato
    strato.init(num_cpus=1)
    job = strato.get_runtime_context().get_job_id()
    strato.init(num_cpus=2, ignore_reinit_error=True)
    assert strato.is_initialized()
    assert strato.get_runtime_context().get_job_id() == job
    assert strato.cluster_resources()["CPU"] == 1.0


def test_unknown_init_keyword_is_a_type_error_and_starts_nothing(fresh_strato):
    strato = fresh_strato
    with pytest.raises(TypeError):
        strato.init(num_cpus=1, num_cpu=1)
    assert not strato.is_initialized()
    assert wait_for(lambda: not live_children(), GRACE_S)


def test_init_after_shutdown_starts_a_new_working_cluster(fresh_strato):
    strato = fresh_strato

    @strato.remote
    def double(x):
        return 2 * x

    jobs = []
    for round_number in range(2):
        # Each round uses a different configuration: nothing stale survives.
        strato.init(num_cpus=round_number + 1, resources={f"round{round_number}": 1})
        jobs.append(strato.get_runtime_context().get_job_id())
        total = strato.cluster_resources()
        assert total["CPU"] == round_number + 1
        assert f"round{round_number}" in total and f"round{1 - round_number}" not in total
        assert strato.get(double.remote(round_number + 1)) == 2 * (round_number + 1)
        strato.shutdown()
        assert not strato.is_initialized()
        assert wait_for(lambda: not live_children(), GRACE_S)
    assert len(jobs) == 2


def test_shutdown_with_tasks_still_running_stops_them_promptly(fresh_strato, tmp_path):
    strato = fresh_strato
    strato.init(num_cpus=2)

    @strato.remote
    def long_sleep(path):
        import os, time
        open(path, "w").write(str(os.getpid()))
        time.sleep(300)

    markers = [str(tmp_path / f"t{i}") for i in range(2)]
    refs = [long_sleep.remote(m) for m in markers]
    assert wait_for(lambda: all(Path(m).exists() and Path(m).read_text() for m in markers), 60)
    worker_pids = [int(Path(m).read_text()) for m in markers]

    strato.shutdown()

    assert wait_for(lambda: not live_children(), GRACE_S), [p.pid for p in live_children()]
    assert all(process_gone(pid) for pid in worker_pids), [pid for pid in worker_pids if not process_gone(pid)]
    del refs


def test_shutdown_when_not_initialized_is_harmless(fresh_strato):
    strato = fresh_strato
    strato.shutdown()
    strato.shutdown()
    assert not strato.is_initialized()


def test_init_accepts_resources_namespace_and_gpus(fresh_strato):
    strato = fresh_strato
    strato.init(num_cpus=1, num_gpus=0, resources={"gizmo": 2}, namespace="docs")
    total = strato.cluster_resources()
    assert total["CPU"] == 1.0
    assert total["gizmo"] == 2.0
    assert total.get("GPU", 0) == 0


def test_a_driver_that_exits_without_shutdown_tears_its_cluster_down(tmp_path, child_env):
    # The driver runs in a subprocess, prints the pids of its children, and
    # exits without calling shutdown: the at-exit hook must clean up.
    script = textwrap.dedent("""
        import json, time, psutil, strato
        strato.init(num_cpus=1)
        assert strato.get(strato.remote(lambda: 41).remote()) == 41
        busy = strato.remote(lambda: time.sleep(300)).remote()  # still running at exit
        time.sleep(1)
        children = psutil.Process().children(recursive=True)
        print(json.dumps([c.pid for c in children]), flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=90, cwd=str(tmp_path), env=child_env)
    assert proc.returncode == 0, proc.stderr
    pids = json.loads(proc.stdout.strip().splitlines()[-1])
    assert pids, "the driver had no child processes"

    assert wait_for(lambda: all(process_gone(pid) for pid in pids), GRACE_S), \
        f"cluster processes outlived their driver: {[pid for pid in pids if not process_gone(pid)]}"
