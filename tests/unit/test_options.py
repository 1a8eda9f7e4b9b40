"""Option checking of @remote / .options() and the resource shape it yields."""
import pytest

from strato.remote_function import TASK_OPTIONS, resource_shape, validate_options
from strato.runtime.config import SystemConfig


def check(**opts):
    return validate_options(opts, TASK_OPTIONS, "remote functions")


def test_unknown_option_names_the_option_and_the_valid_ones():
    with pytest.raises(ValueError, match="num_cpu.*Valid ones"):
        check(num_cpu=1)


@pytest.mark.parametrize("opts", [{"num_cpus": "two"}, {"num_returns": 1.5}, {"max_retries": True},
                                  {"resources": ["a"]}, {"retry_exceptions": [42]}])
def test_wrong_types_raise_type_error(opts):
    with pytest.raises(TypeError):
        check(**opts)


@pytest.mark.parametrize("opts", [{"num_cpus": -1}, {"max_retries": -2}, {"resources": {"CPU": 1}},
                                  {"resources": {"x": -1}}, {"scheduling_strategy": "FASTEST"}])
def test_bad_values_raise_value_error(opts):
    with pytest.raises(ValueError):
        check(**opts)


def test_resource_shape_defaults_to_one_cpu():
    assert resource_shape({}) == {"CPU": 1.0}
    assert resource_shape({"num_cpus": 0, "resources": {"w": 1}}) == {"w": 1.0}
    assert resource_shape({"num_gpus": 1, "num_cpus": 2}) == {"CPU": 2.0, "GPU": 1.0}


def test_system_config_rejects_unknown_keys_and_bad_types():
    assert SystemConfig.from_dict({"health_check_timeout_s": 2}).health_check_timeout_s == 2.0
    with pytest.raises(ValueError, match="known keys"):
        SystemConfig.from_dict({"nope": 1})
    with pytest.raises(TypeError):
        SystemConfig.from_dict({"health_check_timeout_s": "2"})
