"""Search spaces with Ray Tune's bounds conventions, and variant generation (pure, seeded)."""
import numpy as np
import pytest

from strato import tune
from strato.tune.search.basic_variant import BasicVariantGenerator
from strato.tune.search.searcher import Searcher
from strato.tune.search.variant_generator import count_grid, flatten, generate_variants, unflatten


def draws(dom, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return [dom.sample(rng) for _ in range(n)]


def test_randint_excludes_upper():
    assert set(draws(tune.randint(0, 3))) == {0, 1, 2}


def test_qrandint_q1_excludes_upper_and_q_gt_1_includes_it():
    assert set(draws(tune.qrandint(0, 3))) == {0, 1, 2}
    assert set(draws(tune.qrandint(0, 10, 5))) == {0, 5, 10}
    assert set(draws(tune.qrandint(1, 10, 3))) == {3, 6, 9}


def test_lograndint_and_qlograndint_bounds():
    vals = draws(tune.lograndint(1, 10))
    assert min(vals) >= 1 and max(vals) <= 9 and isinstance(vals[0], int)
    assert set(draws(tune.qlograndint(2, 8, 2))) <= {2, 4, 6, 8}
    assert 8 in draws(tune.qlograndint(2, 8, 2))


def test_floats_and_quantized_floats():
    u = draws(tune.uniform(-1, 1))
    assert -1 <= min(u) and max(u) < 1
    q = draws(tune.quniform(0, 1, 0.25))
    assert set(q) == {0.0, 0.25, 0.5, 0.75, 1.0}          # quantizing makes upper inclusive
    lu = draws(tune.loguniform(1e-4, 1e-1))
    assert 1e-4 <= min(lu) and max(lu) <= 1e-1
    assert sum(v < 1e-3 for v in lu) / len(lu) == pytest.approx(1 / 3, abs=0.05)   # uniform in log space
    n = draws(tune.randn(10, 2))
    assert np.mean(n) == pytest.approx(10, abs=0.2) and np.std(n) == pytest.approx(2, abs=0.2)
    assert all(v % 0.5 == 0 for v in draws(tune.qrandn(0, 1, 0.5), 100))


def test_choice_and_bad_bounds():
    assert set(draws(tune.choice(["a", "b"]), 200)) == {"a", "b"}
    with pytest.raises(ValueError, match="lower < upper"):
        tune.uniform(1, 1)
    with pytest.raises(ValueError, match="lower > 0"):
        tune.loguniform(0, 1)
    with pytest.raises(ValueError, match="holds no integer"):
        tune.randint(3, 3)
    with pytest.raises(ValueError, match="at least one"):
        tune.choice([])
    with pytest.raises(TypeError, match="list"):
        tune.grid_search(5)


def test_grid_is_repeated_num_samples_times_last_key_fastest():
    space = {"a": tune.grid_search([1, 2]), "b": tune.grid_search(["x", "y"]), "c": 7}
    out = list(generate_variants(space, 2, np.random.default_rng(0)))
    assert [(c["a"], c["b"]) for c in out] == [(1, "x"), (1, "y"), (2, "x"), (2, "y")] * 2
    assert all(c["c"] == 7 for c in out)
    assert count_grid(space) == 4


def test_sample_from_sees_the_resolved_config_and_the_old_spec_form():
    space = {"a": tune.randint(1, 5), "b": tune.sample_from(lambda cfg: cfg["a"] * 10),
             "c": tune.sample_from(lambda spec: spec.config.b + 1), "nested": {"d": tune.grid_search([0, 1])}}
    for cfg in generate_variants(space, 3, np.random.default_rng(1)):
        assert cfg["b"] == cfg["a"] * 10 and cfg["c"] == cfg["b"] + 1
        assert cfg["nested"]["d"] in (0, 1)


def test_basic_variant_generator_points_first_then_samples_then_finished():
    gen = BasicVariantGenerator(points_to_evaluate=[{"a": 100}], random_state=0)
    gen.set_search_properties("m", "min", {"a": tune.randint(0, 3), "b": 1}, num_samples=2)
    assert gen.total_samples == 3
    first = gen.next_config("t0")
    assert first == {"a": 100, "b": 1}
    rest = [gen.next_config(f"t{i}") for i in (1, 2)]
    assert all(0 <= c["a"] < 3 and c["b"] == 1 for c in rest)
    assert gen.next_config("t3") == Searcher.FINISHED


def test_basic_variant_generator_max_concurrent_holds_back():
    gen = BasicVariantGenerator(max_concurrent=1)
    gen.set_search_properties(None, None, {"a": tune.grid_search([1, 2])}, num_samples=1)
    assert gen.next_config("t0") == {"a": 1}
    assert gen.next_config("t1") is None
    gen.on_trial_complete("t0")
    assert gen.next_config("t1") == {"a": 2}


def test_flatten_roundtrip():
    cfg = {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    assert flatten(cfg) == {"a/b": 1, "a/c/d": 2, "e": 3}
    assert unflatten(flatten(cfg)) == cfg
