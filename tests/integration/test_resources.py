"""Resource accounting: CPUs and custom resources bound how many tasks run at once.

The cluster has 2 CPUs and one unit of a custom resource "widget".
Concurrency is checked from the (start, end) times the tasks record
themselves, never from how long the driver waited.
"""
import os
import time
import warnings

import pytest

import strato
from strato.exceptions import GetTimeoutError

CLUSTER_KWARGS = {"num_cpus": 2, "resources": {"widget": 1}}

pytestmark = pytest.mark.usefixtures("cluster")


@strato.remote
def timed_sleep(seconds):
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


@strato.remote
def rendezvous(my_file, other_files, timeout=60):
    """Finish only once every other task of the group has started too."""
    open(my_file, "w").close()
    deadline = time.time() + timeout
    while not all(os.path.exists(p) for p in other_files):
        if time.time() > deadline:
            return "alone"
        time.sleep(0.05)
    return "together"


@strato.remote
def hold(started_file, release_file):
    open(started_file, "w").close()
    deadline = time.time() + 60
    while not os.path.exists(release_file) and time.time() < deadline:
        time.sleep(0.05)
    return "released"


def run_rendezvous(tmp_path, count, **options):
    files = [str(tmp_path / f"member{i}") for i in range(count)]
    refs = [rendezvous.options(**options).remote(f, [o for o in files if o != f])
            for f in files]
    return strato.get(refs, timeout=100)


# --- what the cluster reports ------------------------------------------------------

def test_cluster_resources_reflect_init_arguments():
    total = strato.cluster_resources()
    assert total["CPU"] == 2.0
    assert total["widget"] == 1.0


def test_available_resources_equal_the_total_when_idle(poll):
    def idle():
        available = strato.available_resources()
        return available.get("CPU") == 2.0 and available.get("widget") == 1.0

    assert poll(idle, 15), strato.available_resources()


def test_a_running_task_is_subtracted_from_available_resources(tmp_path, poll):
    started, release = str(tmp_path / "started"), str(tmp_path / "release")
    ref = hold.options(resources={"widget": 1}).remote(started, release)
    try:
        assert poll(lambda: os.path.exists(started), 60)
        assert poll(lambda: strato.available_resources().get("CPU") == 1.0
                    and strato.available_resources().get("widget", 0.0) == 0.0, 15), \
            strato.available_resources()
    finally:
        open(release, "w").close()
    assert strato.get(ref, timeout=60) == "released"
    assert poll(lambda: strato.available_resources().get("CPU") == 2.0, 15), \
        strato.available_resources()


def test_nodes_lists_the_single_local_node():
    nodes = strato.nodes()
    assert len(nodes) == 1
    node = nodes[0]
    assert node["Alive"] is True
    assert isinstance(node["NodeID"], str)
    int(node["NodeID"], 16)  # a hex string
    assert isinstance(node["NodeManagerAddress"], str) and node["NodeManagerAddress"]
    assert node["Resources"]["CPU"] == 2.0
    assert node["Resources"]["widget"] == 1.0


# --- CPUs -----------------------------------------------------------------------

def test_no_more_one_cpu_tasks_run_at_once_than_there_are_cpus(overlap):
    start = time.monotonic()
    intervals = strato.get([timed_sleep.remote(1.0) for _ in range(4)], timeout=100)
    elapsed = time.monotonic() - start
    assert overlap(intervals) <= 2, intervals
    assert elapsed >= 1.9, f"4 one-second tasks on 2 CPUs finished in {elapsed:.2f}s"


def test_two_cpus_really_run_two_tasks_at_the_same_time(tmp_path):
    assert run_rendezvous(tmp_path, 2) == ["together", "together"]


def test_fractional_cpu_requests_pack_several_tasks_per_cpu(tmp_path):
    assert run_rendezvous(tmp_path, 4, num_cpus=0.5) == ["together"] * 4


def test_a_task_needing_every_cpu_runs_alone(overlap):
    refs = [timed_sleep.options(num_cpus=2).remote(0.5) for _ in range(3)]
    intervals = strato.get(refs, timeout=100)
    assert overlap(intervals) == 1, intervals


def test_zero_cpu_tasks_are_not_limited_by_cpus(tmp_path):
    assert run_rendezvous(tmp_path, 3, num_cpus=0) == ["together"] * 3


# --- custom resources ------------------------------------------------------------------

def test_custom_resource_limits_concurrency_to_its_capacity(overlap):
    refs = [timed_sleep.options(resources={"widget": 1}).remote(0.5) for _ in range(3)]
    intervals = strato.get(refs, timeout=100)
    assert overlap(intervals) == 1, intervals


def test_fractional_custom_resources_can_be_shared(tmp_path):
    assert run_rendezvous(tmp_path, 2, num_cpus=0, resources={"widget": 0.5}) == ["together"] * 2


# --- infeasible requests ----------------------------------------------------------------

def submit_and_expect_infeasible_warning(fn, resource_name, poll):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = fn.remote(0)
        with pytest.raises(GetTimeoutError):
            strato.get(ref, timeout=1)

        def matching():
            return [w for w in caught
                    if issubclass(w.category, UserWarning)
                    and ("infeasible" in str(w.message).lower() or resource_name in str(w.message))]

        found = poll(matching, 10)
    assert found, f"no infeasible-task warning; got {[str(w.message) for w in caught]}"
    return ref


def test_asking_for_more_cpus_than_exist_warns_and_stays_pending(poll):
    ref = submit_and_expect_infeasible_warning(timed_sleep.options(num_cpus=64), "CPU", poll)
    # Still pending, not failed: a second get also times out.
    with pytest.raises(GetTimeoutError):
        strato.get(ref, timeout=0.5)


def test_asking_for_an_unknown_resource_warns_and_stays_pending(poll):
    submit_and_expect_infeasible_warning(timed_sleep.options(resources={"nonexistent": 1}),
                                         "nonexistent", poll)


def test_an_infeasible_task_does_not_block_feasible_ones(poll):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stuck = timed_sleep.options(resources={"nonexistent": 1}).remote(0)
    fine = [timed_sleep.remote(0) for _ in range(3)]
    assert len(strato.get(fine, timeout=60)) == 3
    with pytest.raises(GetTimeoutError):
        strato.get(stuck, timeout=0.5)
