"""`_system_config`: strato's own keys and Ray's names for the same settings (runtime/config.py)."""
import logging

import pytest

from strato.runtime.config import RAY_KEYS, RAY_KEYS_WITHOUT_EFFECT, SystemConfig


def test_rays_health_check_keys_mean_what_they_mean_in_ray():
    c = SystemConfig.from_dict({"health_check_period_ms": 200, "health_check_failure_threshold": 3,
                                "health_check_timeout_ms": 500, "health_check_initial_delay_ms": 1000})
    assert c.health_check_period_s == pytest.approx(0.2)
    assert c.health_check_timeout_s == pytest.approx(0.6)      # dead after 3 missed checks, one every 0.2 s
    assert c.health_check_rpc_timeout_s == pytest.approx(0.5)
    assert c.health_check_initial_delay_s == pytest.approx(1.0)


def test_rays_default_threshold_applies_when_only_the_period_is_given():
    c = SystemConfig.from_dict({"health_check_period_ms": 1000})
    assert c.health_check_timeout_s == pytest.approx(5.0)


def test_other_ray_names_map_onto_strato_settings():
    c = SystemConfig.from_dict({"max_lineage_bytes": 1234, "scheduler_spread_threshold": 0.3,
                                "max_direct_call_object_size": 4096})
    assert (c.max_lineage_bytes, c.spread_threshold, c.max_inline_bytes) == (1234, 0.3, 4096)
    assert set(RAY_KEYS) & set(RAY_KEYS_WITHOUT_EFFECT) == set()


def test_ray_settings_without_an_effect_here_are_accepted_and_logged(caplog):
    with caplog.at_level(logging.INFO, logger="strato.runtime.config"):
        c = SystemConfig.from_dict({"object_spilling_config": '{"type": "filesystem"}',
                                    "automatic_object_spilling_enabled": True})
    assert c == SystemConfig()
    assert "object_spilling_config" in caplog.text and "no effect" in caplog.text


def test_the_config_survives_the_trip_to_other_processes():
    c = SystemConfig.from_dict({"health_check_period_ms": 100, "health_check_failure_threshold": 4})
    assert SystemConfig.from_json(c.to_json()) == c


def test_an_unknown_key_is_refused_with_the_known_ones_listed():
    with pytest.raises(ValueError, match=r"Unknown _system_config key\(s\) \['no_such_key'\].*health_check_period_ms"):
        SystemConfig.from_dict({"no_such_key": 1})


@pytest.mark.parametrize("value", ["fast", True, float("nan"), -1])
def test_a_bad_value_says_what_is_wrong(value):
    with pytest.raises(TypeError, match="health_check_period_ms.*must be a number >= 0"):
        SystemConfig.from_dict({"health_check_period_ms": value})


def test_a_threshold_below_one_is_refused():
    with pytest.raises(ValueError, match="health_check_failure_threshold must be at least 1"):
        SystemConfig.from_dict({"health_check_failure_threshold": 0})


def test_cluster_add_node_refuses_an_argument_it_does_not_know_before_starting_anything():
    from strato.cluster_utils import Cluster
    c = Cluster(initialize_head=False)
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['num_cpu'\]"):
        c.add_node(num_cpu=1)
    with pytest.raises(TypeError, match="wait"):
        c.add_node(wait="yes")
    assert c.nodes == []
