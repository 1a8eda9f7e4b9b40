"""OptunaSearch: Tune's search space asked of a real optuna study (ask/tell), as Ray's OptunaSearch does.

    Tune domain        -> optuna distribution
    uniform            FloatDistribution(lo, hi)
    quniform           FloatDistribution(lo, hi, step=q)
    loguniform         FloatDistribution(lo, hi, log=True) (q dropped, with a warning)
    randint            IntDistribution(lo, hi - 1)           (Tune's upper bound is exclusive)
    qrandint           IntDistribution(lo, hi, step=q)
    lograndint         IntDistribution(lo, hi - 1, log=True)
    choice             CategoricalDistribution(categories)
    randn, grid_search, sample_from: ValueError
Nested keys are joined with "/" for optuna and split again in the suggested config.
"""
from __future__ import annotations

import logging
import warnings

from strato.tune.search.sample import Categorical, Domain, Float, Integer
from strato.tune.search.searcher import Searcher, check_searchable
from strato.tune.search.variant_generator import flatten, unflatten

logger = logging.getLogger(__name__)


def _import():
    try:
        import optuna
    except ImportError:
        raise ImportError("OptunaSearch needs optuna: pip install 'strato[tune]' (or pip install optuna).") from None
    return optuna


def convert_search_space(space: dict) -> dict:
    """A Tune param_space (nested) -> {"a/b": optuna distribution}."""
    ot = _import()
    check_searchable(space, "OptunaSearch")
    dists = {}
    for key, dom in flatten(space).items():
        if not isinstance(dom, Domain):
            continue
        dists[key] = _distribution(ot, key, dom)
    return dists


def _distribution(ot, key: str, dom: Domain):
    d = ot.distributions
    if isinstance(dom, Categorical):
        return d.CategoricalDistribution(dom.categories)
    if isinstance(dom, Float):
        if dom.kind == "normal":
            raise ValueError(f"OptunaSearch cannot take randn/qrandn ({key}): optuna has no normal "
                             f"distribution. Use tune.uniform or tune.loguniform.")
        if dom.kind == "loguniform":
            if dom.q is not None:
                warnings.warn(f"OptunaSearch drops the quantization q={dom.q} of {key}: optuna's log "
                              f"distributions take no step.")
            return d.FloatDistribution(dom.lower, dom.upper, log=True)
        return d.FloatDistribution(dom.lower, dom.upper, step=dom.q)
    if isinstance(dom, Integer):
        if dom.q == 1:
            return d.IntDistribution(dom.lower, dom.upper - 1, log=dom.kind == "loguniform")
        if dom.kind == "loguniform":
            warnings.warn(f"OptunaSearch drops the quantization q={dom.q} of {key} (log scale).")
            return d.IntDistribution(dom.lower, dom.upper, log=True)
        return d.IntDistribution(dom.lower, dom.upper, step=dom.q)
    raise ValueError(f"OptunaSearch cannot take {dom!r} at {key}.")


class OptunaSearch(Searcher):
    def __init__(self, space: dict | None = None, metric: str | None = None, mode: str | None = None,
                 points_to_evaluate: list[dict] | None = None, sampler=None, seed: int | None = None,
                 evaluated_rewards: list | None = None):
        super().__init__(metric, mode)
        self._ot = _import()
        self._space = None
        if space:
            self._space = self._to_distributions(space)
        self._points = points_to_evaluate or []
        self._rewards = evaluated_rewards
        if evaluated_rewards is not None and len(evaluated_rewards) != len(self._points):
            raise ValueError("evaluated_rewards must have one reward per point in points_to_evaluate.")
        self._sampler = sampler
        self._seed = seed
        self._study = None
        self._trials: dict[str, object] = {}
        if self._space is not None and self._mode is not None:
            self._setup()

    def _to_distributions(self, space: dict) -> dict:
        flat = flatten(space)
        if flat and all(isinstance(v, self._ot.distributions.BaseDistribution) for v in flat.values()):
            return flat
        return convert_search_space(space)

    def _setup(self):
        ot = self._ot
        sampler = self._sampler or ot.samplers.TPESampler(seed=self._seed)
        self._study = ot.create_study(storage=ot.storages.InMemoryStorage(), sampler=sampler,
                                      pruner=ot.pruners.NopPruner(), study_name="optuna", load_if_exists=True,
                                      direction="maximize" if self._mode == "max" else "minimize")
        for i, point in enumerate(self._points):
            flat = flatten(point)
            if self._rewards is None:
                self._study.enqueue_trial(flat)
            else:
                self._study.add_trial(ot.trial.create_trial(
                    params=flat, distributions={k: self._space[k] for k in flat}, value=self._rewards[i]))

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        if self._space is not None:
            return False
        super().set_search_properties(metric, mode, config)
        self._space = convert_search_space(config or {})
        self._setup()
        return True

    def suggest(self, trial_id):
        if self._space is None:
            raise RuntimeError("OptunaSearch has no search space: pass space=... or a param_space to the Tuner.")
        if self._metric is None or self._mode is None:
            raise RuntimeError("OptunaSearch needs metric and mode: pass them to OptunaSearch or TuneConfig.")
        if self._study is None:
            self._setup()
        trial = self._study.ask(fixed_distributions=self._space)
        self._trials[trial_id] = trial
        return unflatten(dict(trial.params))

    def on_trial_result(self, trial_id, result):
        trial = self._trials.get(trial_id)
        if trial is None or self._metric not in result:
            return
        trial.report(result[self._metric], result.get("training_iteration", 0))

    def on_trial_complete(self, trial_id, result=None, error=False):
        trial = self._trials.pop(trial_id, None)
        if trial is None:
            return
        ts = self._ot.trial.TrialState
        value = (result or {}).get(self._metric)
        if value is None:
            self._study.tell(trial, None, state=ts.FAIL if error else ts.PRUNED)
        else:
            self._study.tell(trial, value, state=ts.COMPLETE)

    def add_evaluated_point(self, parameters, value, error=False, pruned=False, intermediate_values=None):
        ot = self._ot
        flat = flatten(parameters)
        state = ot.trial.TrialState.FAIL if error else (
            ot.trial.TrialState.PRUNED if pruned else ot.trial.TrialState.COMPLETE)
        self._study.add_trial(ot.trial.create_trial(
            params=flat, distributions={k: self._space[k] for k in flat}, value=None if state.name != "COMPLETE"
            else value, state=state,
            intermediate_values=dict(enumerate(intermediate_values)) if intermediate_values else None))
