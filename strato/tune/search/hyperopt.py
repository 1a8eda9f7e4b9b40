"""HyperOptSearch: Tune's search space asked of hyperopt's TPE (docs in, results out), as Ray's does.

    Tune domain        -> hyperopt expression
    uniform / quniform hp.uniform / hp.quniform
    loguniform         hp.loguniform(label, log(lo), log(hi))   (qloguniform: hp.qloguniform)
    randn / qrandn     hp.normal / hp.qnormal
    randint            hp.uniformint(label, lo, hi - 1)          (Tune's upper bound is exclusive)
    qrandint           scope.int(hp.quniform(label, lo, hi, q))
    choice             hp.choice (values may be nested dicts of domains)
    grid_search, sample_from: ValueError
The metric is minimised: for mode="max" the loss is -metric.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from strato.tune.search.sample import Categorical, Domain, Float, Integer
from strato.tune.search.searcher import Searcher, check_searchable
from strato.tune.search.variant_generator import flatten, unflatten


def _import():
    try:
        import hyperopt as hpo
    except ImportError:
        raise ImportError("HyperOptSearch needs hyperopt: pip install 'strato[tune]' "
                          "(or pip install hyperopt).") from None
    return hpo


def convert_search_space(space: dict, prefix: str = ""):
    """A Tune param_space (nested) -> the same nesting with hyperopt expressions (labels "a/b")."""
    hpo = _import()
    check_searchable(space, "HyperOptSearch")
    return _convert(hpo, space, prefix)


def _convert(hpo, space, prefix):
    if isinstance(space, dict):
        return {k: _convert(hpo, v, f"{prefix}/{k}" if prefix else str(k)) for k, v in space.items()}
    if isinstance(space, Domain):
        return _expr(hpo, prefix, space)
    return space


def _expr(hpo, label: str, dom: Domain):
    hp = hpo.hp
    from hyperopt.pyll import scope
    if isinstance(dom, Categorical):
        return hp.choice(label, [_convert(hpo, c, f"{label}/{i}") for i, c in enumerate(dom.categories)])
    if isinstance(dom, Float):
        if dom.kind == "normal":
            return hp.normal(label, dom.mean, dom.sd) if dom.q is None else hp.qnormal(label, dom.mean, dom.sd, dom.q)
        if dom.kind == "loguniform":
            lo, hi = math.log(dom.lower), math.log(dom.upper)
            return hp.loguniform(label, lo, hi) if dom.q is None else hp.qloguniform(label, lo, hi, dom.q)
        return hp.uniform(label, dom.lower, dom.upper) if dom.q is None else hp.quniform(
            label, dom.lower, dom.upper, dom.q)
    if isinstance(dom, Integer):
        if dom.kind == "loguniform":
            raise ValueError(f"HyperOptSearch cannot take lograndint ({label}); use tune.randint or "
                             f"tune.qloguniform.")
        if dom.q == 1:
            return hp.uniformint(label, dom.lower, dom.upper - 1)
        return scope.int(hp.quniform(label, dom.lower, dom.upper, dom.q))
    raise ValueError(f"HyperOptSearch cannot take {dom!r} at {label}.")


class HyperOptSearch(Searcher):
    def __init__(self, space: dict | None = None, metric: str | None = None, mode: str | None = None,
                 points_to_evaluate: list[dict] | None = None, n_initial_points: int = 20,
                 random_state_seed: int | None = None, gamma: float = 0.25):
        super().__init__(metric, mode)
        self._hpo = _import()
        from functools import partial
        self._algo = partial(self._hpo.tpe.suggest, n_startup_jobs=n_initial_points, gamma=gamma)
        self._rng = np.random.default_rng(random_state_seed)
        self._points = [copy.deepcopy(p) for p in points_to_evaluate or []]
        self._space = None
        self._domain = None
        self._trials_by_id: dict[str, dict] = {}
        self._hp_trials = self._hpo.Trials()
        if space:
            self._set_space(space)

    def _set_space(self, space: dict):
        check_searchable(space, "HyperOptSearch")
        self._space = space if not any(isinstance(v, Domain) for v in flatten(space).values()) \
            else convert_search_space(space)
        self._domain = self._hpo.Domain(lambda spc: spc, self._space)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        if self._space is not None:
            return False
        super().set_search_properties(metric, mode, config)
        self._set_space(config or {})
        return True

    def suggest(self, trial_id):
        if self._space is None:
            raise RuntimeError("HyperOptSearch has no search space: pass space=... or a param_space to the Tuner.")
        if self._metric is None or self._mode is None:
            raise RuntimeError("HyperOptSearch needs metric and mode: pass them to HyperOptSearch or TuneConfig.")
        hpo = self._hpo
        if self._points:
            cfg = self._points.pop(0)
            self._trials_by_id[trial_id] = {"point": cfg}
            return cfg
        trials = self._hp_trials
        new_ids = trials.new_trial_ids(1)
        trials.refresh()
        docs = self._algo(new_ids, self._domain, trials, int(self._rng.integers(2 ** 31 - 1)))
        trials.insert_trial_docs(docs)
        trials.refresh()
        doc = trials._dynamic_trials[-1]
        cfg = hpo.base.spec_from_misc(doc["misc"])
        memo = self._domain.memo_from_config(cfg)
        hpo.utils.use_obj_for_literal_in_memo(self._domain.expr, hpo.base.Ctrl(trials, current_trial=doc),
                                              hpo.base.Ctrl, memo)
        suggested = hpo.pyll.rec_eval(self._domain.expr, memo=memo)
        doc["state"] = hpo.base.JOB_STATE_RUNNING
        self._trials_by_id[trial_id] = {"doc": doc}
        return copy.deepcopy(suggested)

    def _loss(self, value: float) -> float:
        return -value if self._mode == "max" else value

    def on_trial_complete(self, trial_id, result=None, error=False):
        entry = self._trials_by_id.pop(trial_id, None)
        if entry is None:
            return
        hpo = self._hpo
        value = (result or {}).get(self._metric)
        if "point" in entry:             # a given point: told to TPE as an evaluated trial
            if value is not None and not error:
                self._add_point(entry["point"], value)
            return
        doc = entry["doc"]
        if error or value is None:
            doc["state"] = hpo.base.JOB_STATE_ERROR
        else:
            doc["state"] = hpo.base.JOB_STATE_DONE
            doc["result"] = {"loss": self._loss(value), "status": "ok"}
        self._hp_trials.refresh()

    def _add_point(self, point: dict, value: float):
        hpo = self._hpo
        trials = self._hp_trials
        tid = trials.new_trial_ids(1)[0]
        vals = {}
        for key, v in flatten(point).items():
            expr_choice = self._choice_index(key, v)
            vals[key] = [expr_choice if expr_choice is not None else v]
        idxs = {k: [tid] for k in vals}
        doc = {"state": hpo.base.JOB_STATE_DONE, "tid": tid, "spec": None,
               "result": {"loss": self._loss(value), "status": "ok"},
               "misc": {"tid": tid, "cmd": ("domain_attachment", "FMinIter_Domain"), "workdir": None,
                        "idxs": idxs, "vals": vals},
               "exp_key": None, "owner": None, "version": 0, "book_time": None, "refresh_time": None}
        trials.insert_trial_docs([doc])
        trials.refresh()

    def _choice_index(self, key, value):
        node = self._space
        for part in key.split("/"):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        try:
            if node.name == "switch":           # hp.choice: hyperopt stores the index
                options = [o.obj for o in node.pos_args[1:]]
                return options.index(value) if value in options else None
        except AttributeError:
            return None
        return None

    def get_state(self) -> dict:
        return {"points": self._points, "rng": self._rng}


__all__ = ["HyperOptSearch", "convert_search_space", "unflatten"]
