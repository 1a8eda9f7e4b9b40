"""strato.data's executor decisions (strato/data/policy.py), worked by hand, no cluster."""
import pytest

from strato.data.policy import (
    PoolTooLarge,
    StageLoad,
    actor_pool_size,
    footprint,
    launches,
    least_loaded,
    task_slots,
)

MB = 1 << 20


def test_an_idle_pipeline_starts_the_first_operator_up_to_its_slots_within_the_budget():
    stages = [StageLoad(queued=10, running=0, slots=4, est_output_bytes=10 * MB)]
    assert launches(stages, bytes_in_store=0, budget=25 * MB) == [0, 0]


def test_a_block_larger_than_the_budget_still_goes_through_alone():
    stages = [StageLoad(queued=3, running=0, slots=2, est_output_bytes=100 * MB)]
    assert launches(stages, 0, 10 * MB) == [0]
    busy = [StageLoad(queued=3, running=1, slots=2, est_output_bytes=100 * MB)]
    assert launches(busy, 100 * MB, 10 * MB) == []


def test_the_first_operator_waits_while_the_store_holds_the_budget():
    stages = [StageLoad(5, 1, 4, 10 * MB), StageLoad(0, 1, 2, 10 * MB)]
    assert launches(stages, bytes_in_store=40 * MB, budget=40 * MB) == []


def test_downstream_operators_are_served_first_and_always_drain_one_at_a_time():
    stages = [StageLoad(5, 0, 4, 10 * MB), StageLoad(3, 0, 2, 10 * MB)]
    # over budget: only the downstream stage may start, and only one task
    assert launches(stages, bytes_in_store=60 * MB, budget=40 * MB) == [1]
    # within budget: downstream first, then the read, alternating while it fits
    assert launches(stages, bytes_in_store=0, budget=35 * MB) == [1, 0, 1]


def test_slots_bound_each_operator():
    stages = [StageLoad(10, 3, 3, 1), StageLoad(10, 1, 2, 1)]
    assert launches(stages, 0, 1 << 40) == [1]


def test_nothing_queued_nothing_launched():
    assert launches([StageLoad(0, 0, 4, 1), StageLoad(0, 2, 4, 1)], 0, 100) == []


def test_task_slots_follow_the_cpus():
    assert task_slots(2, 1) == 2
    assert task_slots(2, 0.5) == 4
    assert task_slots(2, 4) == 1
    assert task_slots(2, 0) == 4
    assert task_slots(4, 1, concurrency=2) == 2
    assert task_slots(2, 1, concurrency=8) == 2


def test_a_pool_leaves_cpus_for_the_tasks_that_feed_it():
    # 2 CPUs, reads need 1: a pool asked for 2 actors of 1 CPU gets 1, with a note
    size, note = actor_pool_size(2, 2, cluster_cpus=2, actor_cpus=1, reserved_cpus=1)
    assert size == 1 and "1 of the cluster's 2 CPUs" in note
    # input already in the store: nothing to reserve
    assert actor_pool_size(2, 2, 2, 1, 0) == (2, None)
    # autoscaling bounds: as many as fit, up to max
    assert actor_pool_size(1, 8, 4, 1, 1) == (3, None)
    assert actor_pool_size(1, 8, 2, 0.5, 1) == (2, None)
    # actors that need no CPU do not take any
    assert actor_pool_size(3, 3, 2, 0, 2) == (3, None)


def test_a_pool_that_cannot_fit_one_actor_is_a_clear_error():
    with pytest.raises(PoolTooLarge, match=r"num_cpus=0\.5"):
        actor_pool_size(1, 1, cluster_cpus=1, actor_cpus=1, reserved_cpus=1)


def test_least_loaded_picks_the_least_busy_taking_turns_among_equals():
    assert least_loaded([2, 1, 1]) == 1
    assert least_loaded([2, 1, 1], last=1) == 2
    assert least_loaded([0, 0, 0], last=2) == 0
    assert least_loaded([0]) == 0


def test_an_operator_does_not_run_ahead_of_the_next_ones_queue():
    # the pool (stage 1) has 4 blocks waiting, its cap: the read stops even with budget to spare
    stages = [StageLoad(10, 0, 2, MB), StageLoad(4, 2, 2, MB, queue_cap=4)]
    assert launches(stages, 0, 1 << 40) == []
    # one place left in the queue: one read (its running task will fill it)
    stages = [StageLoad(10, 0, 2, MB), StageLoad(3, 2, 2, MB, queue_cap=4)]
    assert launches(stages, 0, 1 << 40) == [0]


def test_footprint_counts_what_a_block_grows_into_downstream():
    assert footprint(MB, [4.0, 0.5]) == 4 * MB      # shrinking later does not lower the bound
    assert footprint(MB, []) == MB
