"""From a param_space to concrete configs: grid expansion, sampling, sample_from resolution.

    param_space (nested dicts/lists)
        -> paths of grid_search entries and of domains       (find_grid / find_domains)
        -> for each sample, for each grid combination:       (generate_variants)
               grid values set, plain domains sampled, then sample_from functions called
               with the config resolved so far (repeated until none is left)

Everything here is pure: the random state is a numpy Generator passed in.
"""
from __future__ import annotations

import copy
import itertools
from typing import Iterator

import numpy as np

from strato.tune.search.sample import Domain, Function

Path = tuple


def is_grid(value) -> bool:
    return isinstance(value, dict) and set(value) == {"grid_search"}


def _walk(spec, path=()):
    """(path, value) of every leaf and of every grid/domain entry (not descending into those)."""
    if is_grid(spec) or isinstance(spec, Domain):
        yield path, spec
    elif isinstance(spec, dict):
        for k, v in spec.items():
            yield from _walk(v, path + (k,))
    elif isinstance(spec, list):
        for i, v in enumerate(spec):
            yield from _walk(v, path + (i,))
    else:
        yield path, spec


def find_grid(spec) -> list[tuple[Path, list]]:
    return [(p, v["grid_search"]) for p, v in _walk(spec) if is_grid(v)]


def find_domains(spec) -> list[tuple[Path, Domain]]:
    return [(p, v) for p, v in _walk(spec) if isinstance(v, Domain)]


def get_path(spec, path: Path):
    for k in path:
        spec = spec[k]
    return spec


def set_path(spec, path: Path, value) -> None:
    for k in path[:-1]:
        spec = spec[k]
    spec[path[-1]] = value


def has_unresolved(spec) -> bool:
    return any(is_grid(v) or isinstance(v, Domain) for _, v in _walk(spec))


def count_grid(spec) -> int:
    n = 1
    for _, values in find_grid(spec):
        n *= len(values)
    return n


def resolve(spec, rng: np.random.Generator, grid_values: dict | None = None) -> dict:
    """One concrete config: grid entries from `grid_values` ({path: value}), domains sampled."""
    config = copy.deepcopy(spec)
    for path, value in (grid_values or {}).items():
        set_path(config, path, value)
    # Grid values may themselves hold domains: walk again after setting them.
    for _ in range(100):
        pending = find_domains(config)
        plain = [(p, d) for p, d in pending if not isinstance(d, Function)]
        for path, dom in plain:
            set_path(config, path, dom.sample(rng, config))
        funcs = [(p, d) for p, d in find_domains(config) if isinstance(d, Function)]
        if not funcs and not plain:
            break
        progressed = False
        for path, dom in funcs:
            try:
                value = dom.sample(rng, config)
            except (KeyError, AttributeError, TypeError):
                continue            # depends on a value still unresolved: try again next round
            if isinstance(value, Domain) or is_grid(value):
                raise ValueError(f"sample_from at {'/'.join(map(str, path))} returned {value!r}; "
                                 f"it must return a plain value.")
            set_path(config, path, value)
            progressed = True
        if funcs and not progressed and not plain:
            remaining = ", ".join("/".join(map(str, p)) for p, _ in funcs)
            raise ValueError(f"could not resolve sample_from entries {remaining}: each call failed. "
                             f"They may depend on each other in a cycle or on a key that does not exist.")
    return config


def grid_combinations(spec) -> list[dict]:
    """Every grid combination as {path: value}, the last grid key varying fastest (Ray's order)."""
    grid = find_grid(spec)
    if not grid:
        return [{}]
    paths = [p for p, _ in grid]
    combos = []
    for values in itertools.product(*(vals for _, vals in grid)):
        combos.append(dict(zip(paths, values)))
    return combos


def generate_variants(spec, num_samples: int, rng: np.random.Generator,
                      constant_grid_search: bool = False) -> Iterator[dict]:
    """num_samples x every grid combination (num_samples < 0: forever)."""
    combos = grid_combinations(spec)
    fixed: dict | None = None
    i = 0
    while num_samples < 0 or i < num_samples:
        if constant_grid_search and fixed is None:
            fixed = {p: d.sample(rng) for p, d in find_domains(spec) if not isinstance(d, Function)}
        for combo in combos:
            values = dict(combo)
            if fixed:
                values.update(fixed)
            yield resolve(spec, rng, values)
        i += 1


def flatten(config, prefix: str = "", sep: str = "/") -> dict:
    """{"a": {"b": 1}} -> {"a/b": 1} (lists are kept as values)."""
    out = {}
    for k, v in (config or {}).items():
        key = f"{prefix}{sep}{k}" if prefix else str(k)
        if isinstance(v, dict) and v and not is_grid(v):
            out.update(flatten(v, key, sep))
        else:
            out[key] = v
    return out


def unflatten(flat: dict, sep: str = "/") -> dict:
    out: dict = {}
    for key, v in flat.items():
        parts = key.split(sep)
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v
    return out
