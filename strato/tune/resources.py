"""Trial resources and shared parameters: PlacementGroupFactory, with_resources, with_parameters.

A dict is what the trial's actor holds. A PlacementGroupFactory's bundles are
reserved as a placement group per trial, placed by its strategy (so they may
span nodes): the trial's actor runs in bundle 0 and what it starts without a
strategy of its own (strato.xgboost's training actors, tasks) in the others
(trial_actors.py). The controller counts either by its sum
(`required_resources`) against the cluster's.

    with_resources(fn, {"cpu": 2})                         -> the trial actor asks for CPU=2
    with_resources(fn, PlacementGroupFactory([{"CPU": 1}, {"CPU": 1}]))   -> a group of 2 bundles
    with_resources(fn, lambda config: {"cpu": config["threads"]})
    with_parameters(fn, data=big_array)   -> big_array put in the object store once; each trial
                                             gets it by reference (fn(config, data=...))
"""
from __future__ import annotations

import functools
import inspect

_RESOURCE_ATTR = "_tune_resources"
_PARAMS_ATTR = "_tune_parameters"


class PlacementGroupFactory:
    """Bundles of resources for one trial; bundle 0 is the trainable's own."""

    def __init__(self, bundles: list[dict], strategy: str = "PACK", *args, **kwargs):
        if not isinstance(bundles, (list, tuple)) or not bundles:
            raise ValueError("PlacementGroupFactory needs a non-empty list of bundles (dicts of resources).")
        for b in bundles:
            if not isinstance(b, dict) or any((not isinstance(v, (int, float))) or v < 0 for v in b.values()):
                raise ValueError(f"each bundle must be a dict of resource name -> amount >= 0, got {b!r}.")
        if any(not any(b.values()) for b in bundles[1:]):
            raise ValueError(f"only the first (head) bundle of a PlacementGroupFactory may be empty, got {bundles!r}.")
        if strategy not in ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"):
            raise ValueError(f"strategy must be PACK, SPREAD, STRICT_PACK or STRICT_SPREAD, got {strategy!r}.")
        self.bundles = [dict(b) for b in bundles]
        self.strategy = strategy

    @property
    def head_bundle_is_empty(self) -> bool:
        return not any(self.bundles[0].values())

    @property
    def required_resources(self) -> dict:
        total: dict = {}
        for b in self.bundles:
            for k, v in b.items():
                total[k] = total.get(k, 0) + v
        return {k: v for k, v in total.items() if v}

    def __eq__(self, other):
        return isinstance(other, PlacementGroupFactory) and (self.bundles, self.strategy) == (
            other.bundles, other.strategy)

    def __repr__(self):
        return f"PlacementGroupFactory({self.bundles}, strategy={self.strategy!r})"


_ALIASES = {"cpu": "CPU", "gpu": "GPU", "CPU": "CPU", "GPU": "GPU", "memory": "memory"}


def normalize(resources) -> dict:
    """A dict / PlacementGroupFactory -> {"CPU": .., "GPU": .., custom: ..} (plain actor resources)."""
    if isinstance(resources, PlacementGroupFactory):
        return normalize(resources.required_resources)
    if not isinstance(resources, dict):
        raise TypeError(f"trial resources must be a dict (e.g. {{'cpu': 2, 'gpu': 0}}), a PlacementGroupFactory "
                        f"or a function of the config returning one; got {type(resources).__name__}.")
    out: dict = {}
    for k, v in resources.items():
        if k in ("extra_cpu", "extra_gpu"):
            key = _ALIASES[k[6:]]
        elif k == "custom_resources":
            for ck, cv in (v or {}).items():
                out[ck] = out.get(ck, 0) + cv
            continue
        else:
            key = _ALIASES.get(k, k)
        if not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"resource {k!r} must be a number >= 0, got {v!r}.")
        out[key] = out.get(key, 0) + v
    return {k: v for k, v in out.items() if v}


def bundles_of(resources) -> list[dict]:
    if isinstance(resources, PlacementGroupFactory):
        return resources.bundles
    return [normalize(resources)]


def trial_resources(trainable, config: dict) -> tuple[dict, list[dict], PlacementGroupFactory | None]:
    """One trial's resources summed, its bundles as asked (default: 1 CPU), and the
    PlacementGroupFactory if that is what was asked (None for a dict)."""
    spec = getattr(trainable, _RESOURCE_ATTR, None)
    if spec is None and inspect.isclass(trainable) and hasattr(trainable, "default_resource_request"):
        spec = trainable.default_resource_request(config)
    if spec is None:
        return {"CPU": 1}, [{"CPU": 1}], None
    if callable(spec) and not isinstance(spec, PlacementGroupFactory):
        spec = spec(config)
    return normalize(spec), bundles_of(spec), spec if isinstance(spec, PlacementGroupFactory) else None


def with_resources(trainable, resources):
    """The trainable with its trials' resources: a dict, a PlacementGroupFactory or callable(config)."""
    if not (isinstance(resources, (dict, PlacementGroupFactory)) or callable(resources)):
        raise TypeError("with_resources takes a dict, a PlacementGroupFactory or a function of the config.")
    if isinstance(resources, (dict, PlacementGroupFactory)):
        normalize(resources)          # fail now on bad input
    if inspect.isclass(trainable):
        wrapped = type(trainable.__name__, (trainable,), {_RESOURCE_ATTR: resources})
        wrapped.__module__ = trainable.__module__
        return wrapped

    @functools.wraps(trainable)
    def wrapped(config, *args, **kwargs):
        return trainable(config, *args, **kwargs)

    setattr(wrapped, _RESOURCE_ATTR, resources)
    return wrapped


class _WithParameters:
    """A function trainable plus object-store refs of its large arguments (resolved in the trial)."""

    def __init__(self, trainable, refs: dict):
        self.trainable = trainable
        self.refs = refs
        self.__name__ = getattr(trainable, "__name__", "trainable")
        if hasattr(trainable, _RESOURCE_ATTR):
            setattr(self, _RESOURCE_ATTR, getattr(trainable, _RESOURCE_ATTR))

    def resolved(self) -> dict:
        import strato
        keys = list(self.refs)
        values = strato.get([self.refs[k] for k in keys])
        return dict(zip(keys, values))

    def __call__(self, config):
        return self.trainable(config, **self.resolved())


def with_parameters(trainable, **kwargs):
    """Pass large objects to every trial through the object store (put once, fetched by reference)."""
    import strato
    if not kwargs:
        return trainable
    refs = {k: strato.put(v) for k, v in kwargs.items()}
    if inspect.isclass(trainable):
        def setup_with(self, config, **kw):
            import strato as _s
            keys = list(refs)
            vals = _s.get([refs[k] for k in keys])
            return trainable.setup(self, config, **dict(zip(keys, vals)), **kw)
        wrapped = type(trainable.__name__, (trainable,), {"setup": setup_with, _PARAMS_ATTR: refs})
        wrapped.__module__ = trainable.__module__
        return wrapped
    return _WithParameters(trainable, refs)
