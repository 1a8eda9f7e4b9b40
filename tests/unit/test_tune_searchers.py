"""Searcher decisions: Optuna and HyperOpt space conversion and ask/tell, ConcurrencyLimiter, Repeater."""
import pytest

from strato import tune
from strato.tune.search import ConcurrencyLimiter, Repeater, Searcher
from strato.tune.search.searcher import SearchGenerator

optuna = pytest.importorskip("optuna")
hyperopt = pytest.importorskip("hyperopt")

from strato.tune.search.hyperopt import HyperOptSearch  # noqa: E402
from strato.tune.search.optuna import OptunaSearch, convert_search_space  # noqa: E402


class ListSearcher(Searcher):
    """Hands out configs 0, 1, 2, ... and records what it is told."""

    def __init__(self, n=100):
        super().__init__("m", "max")
        self.i, self.n, self.completed = 0, n, []

    def suggest(self, trial_id):
        if self.i >= self.n:
            return Searcher.FINISHED
        self.i += 1
        return {"x": self.i - 1}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.completed.append((trial_id, result, error))


def test_optuna_conversion_follows_rays_bounds():
    d = convert_search_space({"a": tune.randint(0, 10), "b": tune.qrandint(0, 10, 5), "c": tune.loguniform(1e-3, 1),
                              "d": tune.quniform(0, 1, 0.1), "e": tune.choice(["x", "y"]),
                              "n": {"f": tune.uniform(-1, 1)}, "const": 3})
    D = optuna.distributions
    assert d["a"] == D.IntDistribution(0, 9)                 # Tune's randint upper is exclusive
    assert d["b"] == D.IntDistribution(0, 10, step=5)
    assert d["c"] == D.FloatDistribution(1e-3, 1, log=True)
    assert d["d"] == D.FloatDistribution(0, 1, step=0.1)
    assert d["e"] == D.CategoricalDistribution(["x", "y"])
    assert d["n/f"] == D.FloatDistribution(-1, 1)
    assert "const" not in d


@pytest.mark.parametrize("space, match", [({"a": tune.randn()}, "randn"), ({"a": tune.grid_search([1])}, "grid_search"),
                                          ({"a": tune.sample_from(lambda c: 1)}, "sample_from")])
def test_optuna_rejects_spaces_it_cannot_take(space, match):
    with pytest.raises(ValueError, match=match):
        convert_search_space(space)


def test_optuna_ask_tell_nested_and_improves_on_a_quadratic():
    s = OptunaSearch(metric="loss", mode="min", seed=0)
    gen = SearchGenerator(s)
    gen.set_search_properties("loss", "min", {"p": {"x": tune.uniform(-10, 10)}, "k": 1}, num_samples=40)
    losses = []
    for i in range(40):
        cfg = gen.next_config(f"t{i}")
        assert cfg["k"] == 1 and -10 <= cfg["p"]["x"] <= 10
        loss = (cfg["p"]["x"] - 3) ** 2
        losses.append(loss)
        gen.on_trial_result(f"t{i}", {"loss": loss, "training_iteration": 1})
        gen.on_trial_complete(f"t{i}", {"loss": loss})
    assert gen.next_config("t40") == Searcher.FINISHED
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    assert median(losses[20:]) < median(losses[:10])            # TPE concentrates near x = 3
    assert min(losses) < 0.5


def test_optuna_failed_and_pruned_trials_are_told():
    s = OptunaSearch({"x": tune.uniform(0, 1)}, metric="m", mode="max")
    s.suggest("a")
    s.suggest("b")
    s.on_trial_complete("a", None, error=True)
    s.on_trial_complete("b", {"other": 1})
    states = [t.state.name for t in s._study.trials]
    assert states == ["FAIL", "PRUNED"]


def test_optuna_space_given_twice_is_an_error():
    from strato.tune.tuner import setup_search
    cfg = tune.TuneConfig(metric="m", mode="max", search_alg=OptunaSearch({"x": tune.uniform(0, 1)}))
    with pytest.raises(ValueError, match="one place"):
        setup_search(cfg, {"y": tune.uniform(0, 1)})


def test_hyperopt_suggests_inside_bounds_and_improves_on_a_quadratic():
    s = HyperOptSearch(metric="loss", mode="min", n_initial_points=8, random_state_seed=0)
    gen = SearchGenerator(s)
    gen.set_search_properties("loss", "min", {"x": tune.uniform(-10, 10), "n": tune.randint(0, 3),
                                              "c": tune.choice(["a", "b"])}, num_samples=40)
    losses = []
    for i in range(40):
        cfg = gen.next_config(f"t{i}")
        assert -10 <= cfg["x"] <= 10 and cfg["n"] in (0, 1, 2) and cfg["c"] in ("a", "b")
        loss = (cfg["x"] - 3) ** 2
        losses.append(loss)
        gen.on_trial_complete(f"t{i}", {"loss": loss})
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    assert median(losses[20:]) < median(losses[:8])


def test_hyperopt_mode_max_minimises_the_negated_metric_and_rejects_grids():
    s = HyperOptSearch({"x": tune.uniform(0, 1)}, metric="m", mode="max")
    s.suggest("a")
    s.on_trial_complete("a", {"m": 0.7})
    assert s._hp_trials.trials[0]["result"] == {"loss": -0.7, "status": "ok"}
    with pytest.raises(ValueError, match="grid_search"):
        HyperOptSearch({"x": tune.grid_search([1, 2])}, metric="m", mode="max")


def test_concurrency_limiter_holds_back_and_batch_feeds_together():
    inner = ListSearcher()
    lim = ConcurrencyLimiter(inner, max_concurrent=2)
    assert lim.suggest("a") == {"x": 0} and lim.suggest("b") == {"x": 1}
    assert lim.suggest("c") is None                                   # two live
    lim.on_trial_complete("a", {"m": 1})
    assert lim.suggest("c") == {"x": 2}
    inner2 = ListSearcher()
    batch = ConcurrencyLimiter(inner2, max_concurrent=2, batch=True)
    batch.suggest("a"), batch.suggest("b")
    batch.on_trial_complete("a", {"m": 1})
    assert inner2.completed == [] and batch.suggest("c") is None     # held until the batch is done
    batch.on_trial_complete("b", {"m": 2})
    assert [c[0] for c in inner2.completed] == ["a", "b"]
    with pytest.raises(ValueError, match="max_concurrent"):
        ConcurrencyLimiter(inner, 0)


def test_repeater_repeats_a_config_and_reports_the_mean():
    inner = ListSearcher()
    rep = Repeater(inner, repeat=3)
    cfgs = [rep.suggest(f"t{i}") for i in range(4)]
    assert [c["x"] for c in cfgs] == [0, 0, 0, 1]
    assert [c["__trial_index__"] for c in cfgs] == [0, 1, 2, 0]
    for i, v in enumerate((1.0, 2.0, 6.0)):
        rep.on_trial_complete(f"t{i}", {"m": v})
    assert inner.completed == [("t0_group", {"m": 3.0}, False)]
