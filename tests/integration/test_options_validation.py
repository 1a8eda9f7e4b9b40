"""Checking of task options, in the decorator and in .options(): bad input fails early and clearly.

Ray validates options when the decorator or ``.options()`` is applied; the
tests accept the error at any point up to ``.remote()`` but require the right
exception type and a message that names the offending option.
"""
import pytest

import strato

pytestmark = pytest.mark.usefixtures("cluster")


def plain(x=0):
    return x


@strato.remote
def ok(x=0):
    return x


def decorate_and_call(**options):
    strato.remote(**options)(plain).remote()


def options_and_call(**options):
    ok.options(**options).remote()


APPLY = pytest.mark.parametrize("apply", [decorate_and_call, options_and_call],
                                ids=["decorator", "options"])


@APPLY
def test_an_unknown_option_is_a_value_error_naming_it(apply):
    with pytest.raises(ValueError) as info:
        apply(num_cpu=1)  # typo for num_cpus
    assert "num_cpu" in str(info.value)


@APPLY
def test_num_cpus_of_the_wrong_type_is_a_type_error(apply):
    with pytest.raises(TypeError) as info:
        apply(num_cpus="two")
    assert "num_cpus" in str(info.value)


@APPLY
def test_negative_num_cpus_is_a_value_error(apply):
    with pytest.raises(ValueError) as info:
        apply(num_cpus=-1)
    assert "num_cpus" in str(info.value)


@APPLY
def test_negative_num_gpus_is_a_value_error(apply):
    with pytest.raises(ValueError) as info:
        apply(num_gpus=-1)
    assert "num_gpus" in str(info.value)


@APPLY
def test_resources_must_be_a_dict(apply):
    with pytest.raises(TypeError) as info:
        apply(resources=["widget"])
    assert "resources" in str(info.value)


@APPLY
def test_cpu_and_gpu_must_not_be_given_through_resources(apply):
    with pytest.raises(ValueError):
        apply(resources={"CPU": 1})


@APPLY
def test_negative_custom_resource_is_a_value_error(apply):
    with pytest.raises(ValueError):
        apply(resources={"widget": -1})


@APPLY
def test_max_retries_of_the_wrong_type_is_a_type_error(apply):
    with pytest.raises(TypeError) as info:
        apply(max_retries="3")
    assert "max_retries" in str(info.value)


@APPLY
def test_negative_num_returns_is_a_value_error(apply):
    with pytest.raises(ValueError) as info:
        apply(num_returns=-1)
    assert "num_returns" in str(info.value)


def test_remote_applied_to_something_that_is_not_a_function_is_rejected():
    # Ray fails with an AssertionError here; a TypeError is clearer.
    with pytest.raises(TypeError) as info:
        strato.remote(42)
    assert "remote" in str(info.value)


def test_valid_options_are_accepted_and_the_task_runs():
    ref = ok.options(num_cpus=0.5, num_gpus=0, num_returns=1, max_retries=0,
                     retry_exceptions=[ValueError], name="validated",
                     resources={}).remote(7)
    assert strato.get(ref) == 7


def test_valid_decorator_options_are_accepted_and_the_task_runs():
    @strato.remote(num_cpus=1, max_retries=-1, retry_exceptions=False)
    def task(x):
        return x

    assert strato.get(task.remote(3)) == 3


def test_a_failed_options_call_does_not_change_the_function():
    with pytest.raises(ValueError):
        ok.options(bogus=True)
    assert strato.get(ok.remote(5)) == 5
