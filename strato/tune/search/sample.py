"""Search-space domains: what a `param_space` value may be, with Ray Tune's bounds conventions.

    uniform(lo, hi)            float in [lo, hi)           quniform(lo, hi, q)     multiples of q, hi inclusive
    loguniform(lo, hi, base)   log-uniform float            qloguniform(...)        quantized, hi inclusive
    randn(mean, sd)            normal float                 qrandn(mean, sd, q)     quantized normal
    randint(lo, hi)            int in [lo, hi)              qrandint(lo, hi, q=1)   multiples of q; hi inclusive if q > 1
    lograndint(lo, hi)         log-uniform int in [lo, hi)  qlograndint(lo, hi, q)  as qrandint, drawn log-uniformly
    choice(categories)         one of the categories
    grid_search(values)        {"grid_search": values}: every value, once per sample
    sample_from(fn)            fn(config) with the rest of the config resolved

A domain is plain data (class, bounds, kind, q) so that searchers (Optuna,
HyperOpt) can translate it into their own spaces; `sample(rng, config)`
draws one value with a numpy Generator.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np


class Domain:
    """A distribution over values (one entry of a param_space)."""

    kind = "uniform"
    q = None

    def sample(self, rng: np.random.Generator, config: dict | None = None):
        raise NotImplementedError

    def is_grid(self) -> bool:
        return False

    def domain_str(self) -> str:
        return repr(self)


def _quantize(value: float, q) -> float:
    return float(np.round(value / q) * q)


class Float(Domain):
    def __init__(self, lower: float | None, upper: float | None, kind: str = "uniform", *,
                 q: float | None = None, base: float = 10.0, mean: float = 0.0, sd: float = 1.0):
        if kind in ("uniform", "loguniform"):
            if lower is None or upper is None or not lower < upper:
                raise ValueError(f"{kind}(lower, upper) needs lower < upper, got ({lower}, {upper}).")
            if kind == "loguniform" and lower <= 0:
                raise ValueError(f"loguniform needs lower > 0 (it samples in log space), got lower={lower}.")
        if q is not None and q <= 0:
            raise ValueError(f"the quantization step q must be > 0, got q={q}.")
        if sd <= 0:
            raise ValueError(f"randn needs sd > 0, got sd={sd}.")
        self.lower, self.upper, self.kind, self.q, self.base = lower, upper, kind, q, base
        self.mean, self.sd = mean, sd

    def sample(self, rng, config=None):
        if self.kind == "uniform":
            v = rng.uniform(self.lower, self.upper)
        elif self.kind == "loguniform":
            lb = math.log(self.base)
            v = self.base ** rng.uniform(math.log(self.lower) / lb, math.log(self.upper) / lb)
        else:
            v = rng.normal(self.mean, self.sd)
        v = float(v)
        if self.q is not None:
            v = _quantize(v, self.q)
            if self.lower is not None:       # rounding may step past a bound: keep inside [lower, upper]
                v = min(max(v, self.lower), self.upper)
        return v

    def __repr__(self):
        if self.kind == "normal":
            return f"randn({self.mean}, {self.sd}{'' if self.q is None else f', q={self.q}'})"
        return f"{self.kind}({self.lower}, {self.upper}{'' if self.q is None else f', q={self.q}'})"


class Integer(Domain):
    """Integers in [lower, upper) (q == 1), or multiples of q in [lower, upper] (q > 1)."""

    def __init__(self, lower: int, upper: int, kind: str = "uniform", *, q: int = 1, base: float = 10.0):
        if not isinstance(q, (int, np.integer)) or q < 1:
            raise ValueError(f"the quantization step q of an integer domain must be an int >= 1, got {q!r}.")
        if kind == "loguniform" and lower <= 0:
            raise ValueError(f"lograndint needs lower > 0, got lower={lower}.")
        lo, hi = self._index_bounds(lower, upper, q)
        if hi <= lo:
            raise ValueError(f"randint-like domain ({lower}, {upper}, q={q}) holds no integer: "
                             f"upper is exclusive for q=1, so use upper > lower.")
        self.lower, self.upper, self.kind, self.q, self.base = int(lower), int(upper), kind, int(q), base

    @staticmethod
    def _index_bounds(lower, upper, q) -> tuple[int, int]:
        """Grid indices [lo, hi) whose multiples of q are the domain's values."""
        if q == 1:
            return int(lower), int(upper)
        return int(math.ceil(lower / q)), int(math.floor(upper / q)) + 1

    def values_bounds(self) -> tuple[int, int]:
        """The smallest and largest value the domain can produce (both inclusive)."""
        lo, hi = self._index_bounds(self.lower, self.upper, self.q)
        return lo * self.q, (hi - 1) * self.q

    def sample(self, rng, config=None):
        lo, hi = self._index_bounds(self.lower, self.upper, self.q)
        if self.kind == "uniform":
            idx = int(rng.integers(lo, hi))
        else:
            idx = int(math.floor(math.exp(rng.uniform(math.log(max(lo, 1)), math.log(hi)))))
            idx = min(max(idx, lo), hi - 1)
        return idx * self.q

    def __repr__(self):
        name = "randint" if self.kind == "uniform" else "lograndint"
        return f"{'q' if self.q != 1 else ''}{name}({self.lower}, {self.upper}{'' if self.q == 1 else f', q={self.q}'})"


class Categorical(Domain):
    kind = "choice"

    def __init__(self, categories: Sequence):
        if isinstance(categories, (str, bytes)) or not hasattr(categories, "__len__"):
            raise TypeError(f"choice() takes a list of categories, got {categories!r}.")
        if len(categories) == 0:
            raise ValueError("choice() needs at least one category.")
        self.categories = list(categories)

    def sample(self, rng, config=None):
        return self.categories[int(rng.integers(0, len(self.categories)))]

    def __repr__(self):
        return f"choice({self.categories!r})"


class Function(Domain):
    """sample_from(fn): fn is called with the resolved config (which also answers `.config`)."""

    kind = "function"

    def __init__(self, func: Callable):
        if not callable(func):
            raise TypeError(f"sample_from() takes a function of the config, got {func!r}.")
        self.func = func

    def sample(self, rng, config=None):
        return self.func(_Spec(config or {}))

    def __repr__(self):
        return f"sample_from({getattr(self.func, '__name__', self.func)!r})"


class _Spec(dict):
    """The resolved config handed to sample_from functions; `spec.config.x` (Ray's old form) also works."""

    @property
    def config(self):
        return _AttrDict(self)


class _AttrDict(dict):
    def __getattr__(self, name):
        try:
            v = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return _AttrDict(v) if isinstance(v, dict) else v


# ----------------------------------------------------------------------------- public constructors
def uniform(lower: float, upper: float) -> Float:
    return Float(lower, upper, "uniform")


def quniform(lower: float, upper: float, q: float) -> Float:
    return Float(lower, upper, "uniform", q=q)


def loguniform(lower: float, upper: float, base: float = 10) -> Float:
    return Float(lower, upper, "loguniform", base=base)


def qloguniform(lower: float, upper: float, q: float, base: float = 10) -> Float:
    return Float(lower, upper, "loguniform", q=q, base=base)


def randn(mean: float = 0.0, sd: float = 1.0) -> Float:
    return Float(None, None, "normal", mean=mean, sd=sd)


def qrandn(mean: float, sd: float, q: float) -> Float:
    return Float(None, None, "normal", mean=mean, sd=sd, q=q)


def randint(lower: int, upper: int) -> Integer:
    return Integer(lower, upper, "uniform")


def qrandint(lower: int, upper: int, q: int = 1) -> Integer:
    return Integer(lower, upper, "uniform", q=q)


def lograndint(lower: int, upper: int, base: float = 10) -> Integer:
    return Integer(lower, upper, "loguniform", base=base)


def qlograndint(lower: int, upper: int, q: int, base: float = 10) -> Integer:
    return Integer(lower, upper, "loguniform", q=q, base=base)


def choice(categories: Sequence) -> Categorical:
    return Categorical(categories)


def sample_from(func: Callable[[dict], Any]) -> Function:
    return Function(func)


def grid_search(values: Sequence) -> dict:
    """Every value, once per sample: `{"grid_search": values}` (Ray's form, which is also accepted)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"grid_search() takes a list of values, got {values!r}.")
    values = list(values)
    if not values:
        raise ValueError("grid_search() needs at least one value.")
    return {"grid_search": values}
