"""strato.get and strato.wait: ordering, timeouts and argument checking."""
import time

import pytest

import strato
from strato.exceptions import GetTimeoutError, RayError

pytestmark = pytest.mark.usefixtures("cluster")


@strato.remote
def sleep_then_return(seconds, value):
    time.sleep(seconds)
    return value


# --- get ------------------------------------------------------------------------

def test_get_of_a_list_returns_values_in_the_same_order():
    refs = [sleep_then_return.remote(0.3 - 0.1 * i, i) for i in range(3)]
    assert strato.get(refs) == [0, 1, 2]


def test_get_of_an_empty_list_is_an_empty_list():
    assert strato.get([]) == []


def test_get_of_a_non_ref_is_a_value_error_mentioning_object_ref():
    with pytest.raises(ValueError) as info:
        strato.get(5)
    assert "ObjectRef" in str(info.value)


def test_get_of_a_list_containing_a_non_ref_is_rejected():
    # Ray raises TypeError here (ValueError for a bare non-ref); strato says ValueError for both.
    with pytest.raises(ValueError) as info:
        strato.get([strato.put(1), 5])
    assert "ObjectRef" in str(info.value)


def test_get_times_out_with_get_timeout_error():
    ref = sleep_then_return.remote(3, "late")
    start = time.monotonic()
    with pytest.raises(GetTimeoutError) as info:
        strato.get(ref, timeout=0.5)
    elapsed = time.monotonic() - start
    assert elapsed < 2.9, f"get(timeout=0.5) returned only after {elapsed:.1f}s"
    # The error is both a strato error and a built-in TimeoutError.
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, RayError)
    # The task itself was not affected by the timed-out get.
    assert strato.get(ref, timeout=60) == "late"


def test_get_of_a_list_times_out_if_any_ref_is_late():
    fast = strato.put("now")
    slow = sleep_then_return.remote(3, "later")
    with pytest.raises(GetTimeoutError):
        strato.get([fast, slow], timeout=0.5)
    assert strato.get([fast, slow], timeout=60) == ["now", "later"]


def test_get_with_timeout_zero_returns_ready_values():
    ref = strato.put("ready")
    assert strato.get(ref, timeout=0) == "ready"


def test_get_with_timeout_zero_raises_for_a_pending_value():
    ref = sleep_then_return.remote(2, None)
    with pytest.raises(GetTimeoutError):
        strato.get(ref, timeout=0)
    strato.get(ref, timeout=60)


# --- wait -----------------------------------------------------------------------

def test_wait_returns_ready_and_not_ready_lists():
    fast = sleep_then_return.remote(0, "fast")
    slow = sleep_then_return.remote(5, "slow")
    ready, not_ready = strato.wait([slow, fast], num_returns=1, timeout=30)
    assert ready == [fast]
    assert not_ready == [slow]


def test_wait_defaults_to_one_ready_ref():
    refs = [strato.put(i) for i in range(3)]
    ready, not_ready = strato.wait(refs)
    assert len(ready) == 1
    assert len(not_ready) == 2
    assert set(ready + not_ready) == set(refs)


def test_wait_keeps_the_input_order_not_the_completion_order():
    refs = [sleep_then_return.remote(1.0, "slow"), strato.put("a"), strato.put("b")]
    ready, not_ready = strato.wait(refs, num_returns=3, timeout=60)
    assert ready == refs
    assert not_ready == []


def test_wait_returns_exactly_num_returns_refs_when_more_are_ready():
    refs = [strato.put(i) for i in range(4)]
    ready, not_ready = strato.wait(refs, num_returns=2)
    assert len(ready) == 2 and len(not_ready) == 2
    # Both lists keep the relative order of the input list.
    assert ready == [r for r in refs if r in ready]
    assert not_ready == [r for r in refs if r in not_ready]


def test_wait_with_timeout_returns_what_is_ready_so_far():
    fast = [sleep_then_return.remote(0, i) for i in range(2)]
    strato.get(fast)
    slow = sleep_then_return.remote(5, "slow")
    start = time.monotonic()
    ready, not_ready = strato.wait(fast + [slow], num_returns=3, timeout=0.5)
    assert time.monotonic() - start < 4.5
    assert ready == fast
    assert not_ready == [slow]


def test_wait_with_timeout_zero_does_not_block():
    slow = sleep_then_return.remote(3, None)
    start = time.monotonic()
    ready, not_ready = strato.wait([slow], timeout=0)
    assert time.monotonic() - start < 2.5
    assert ready == [] and not_ready == [slow]


def test_wait_without_fetch_local_still_reports_readiness():
    ref = sleep_then_return.remote(0, "x")
    ready, not_ready = strato.wait([ref], fetch_local=False, timeout=60)
    assert ready == [ref] and not_ready == []
    assert strato.get(ref) == "x"


def test_wait_with_num_returns_larger_than_the_list_is_a_value_error():
    with pytest.raises(ValueError):
        strato.wait([strato.put(1)], num_returns=2)


def test_wait_on_duplicate_refs_is_a_value_error():
    ref = strato.put(1)
    with pytest.raises(ValueError):
        strato.wait([ref, ref], num_returns=1)


def test_wait_on_a_single_ref_instead_of_a_list_is_a_type_error():
    with pytest.raises(TypeError):
        strato.wait(strato.put(1))


def test_wait_loop_collects_every_result_once():
    pending = [sleep_then_return.remote(0.1 * (i % 3), i) for i in range(8)]
    seen = []
    while pending:
        ready, pending = strato.wait(pending, num_returns=1, timeout=60)
        assert len(ready) == 1
        seen.extend(strato.get(ready))
    assert sorted(seen) == list(range(8))


def test_a_failed_task_counts_as_ready_for_wait():
    @strato.remote(max_retries=0)
    def fail():
        raise RuntimeError("failed quickly")

    failed = fail.remote()
    slow = sleep_then_return.remote(5, None)
    ready, not_ready = strato.wait([slow, failed], num_returns=1, timeout=60)
    assert ready == [failed] and not_ready == [slow]
    with pytest.raises(RuntimeError):
        strato.get(failed)
