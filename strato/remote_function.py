"""`@strato.remote` on functions: RemoteFunction, `.options()` and option checking.

The option value types are defined here too (NodeAffinitySchedulingStrategy;
`strato.util.scheduling_strategies` re-exports it under Ray's name), so this
module and `strato.actor` import nothing from `strato.util`, which builds on them.
"""
from __future__ import annotations

import dataclasses
import functools

from strato import _context

_NUMBER = (int, float)


@dataclasses.dataclass(frozen=True)
class NodeAffinitySchedulingStrategy:
    """Run on the node `node_id` (hex); with soft=True, anywhere if that node is gone or full."""
    node_id: str
    soft: bool = False

    def __post_init__(self):
        try:
            bytes.fromhex(self.node_id)
        except (TypeError, ValueError):
            raise ValueError(f"NodeAffinitySchedulingStrategy needs a node id in hex (as strato.nodes() "
                             f"shows under 'NodeID'), got {self.node_id!r}") from None


# option -> (accepted types, description used in errors)
TASK_OPTIONS: dict[str, tuple] = {
    "num_cpus": (_NUMBER, "a number >= 0"),
    "num_gpus": (_NUMBER, "a number >= 0"),
    "resources": (dict, "a dict of resource name -> amount"),
    "num_returns": (int, "an int >= 0"),
    "max_retries": (int, "an int >= -1 (-1: retry forever)"),
    "retry_exceptions": ((bool, list, tuple), "True/False or a list of exception classes"),
    "name": (str, "a string"),
    "scheduling_strategy": ((str, NodeAffinitySchedulingStrategy, type(None)),
                            '"DEFAULT", "SPREAD" or a NodeAffinitySchedulingStrategy'),
    "memory": (_NUMBER, "a number of bytes >= 0"),
    "runtime_env": ((dict, type(None)), "a dict (only an empty one is supported)"),
}


def validate_options(options: dict, valid: dict, kind: str) -> dict:
    for key, value in options.items():
        if key not in valid:
            raise ValueError(f"Invalid option keyword {key!r} for {kind}. Valid ones are: {', '.join(sorted(valid))}.")
        types, desc = valid[key]
        if value is None:
            continue
        if isinstance(value, bool) and key not in ("retry_exceptions",) or not isinstance(value, types):
            raise TypeError(f"Option {key!r} must be {desc}, got {value!r} ({type(value).__name__}).")
        if key in ("num_cpus", "num_gpus", "memory", "num_returns") and value < 0:
            raise ValueError(f"Option {key!r} must be {desc}, got {value!r}.")
        if key == "max_retries" and value < -1:
            raise ValueError(f"Option 'max_retries' must be {desc}, got {value!r}.")
        if key == "resources":
            for rname, amount in value.items():
                if not isinstance(rname, str):
                    raise TypeError(f"Resource names must be strings, got {rname!r}.")
                if rname in ("CPU", "GPU"):
                    raise ValueError(f"Use the num_cpus/num_gpus options instead of resources={{{rname!r}: ...}}.")
                if isinstance(amount, bool) or not isinstance(amount, _NUMBER) or amount < 0:
                    raise ValueError(f"Resource {rname!r} must be a number >= 0, got {amount!r}.")
        if key == "retry_exceptions" and isinstance(value, (list, tuple)):
            if not all(isinstance(c, type) and issubclass(c, BaseException) for c in value):
                raise TypeError("Option 'retry_exceptions' must be True/False or a list of exception classes.")
        if key == "scheduling_strategy" and isinstance(value, str) and value not in ("DEFAULT", "SPREAD"):
            raise ValueError(f"Unknown scheduling_strategy {value!r}; use 'DEFAULT', 'SPREAD' or "
                             f"NodeAffinitySchedulingStrategy(node_id, soft).")
        if key == "runtime_env" and value:
            raise ValueError("runtime_env is not supported yet: install packages in the cluster's environment.")
    return options


def resource_shape(options: dict, default_cpus: float = 1.0) -> dict:
    shape = {}
    cpus = options.get("num_cpus")
    cpus = default_cpus if cpus is None else cpus
    if cpus:
        shape["CPU"] = float(cpus)
    if options.get("num_gpus"):
        shape["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        shape["memory"] = float(options["memory"])
    for k, v in (options.get("resources") or {}).items():
        if v:
            shape[k] = float(v)
    return shape


def strategy_of(options: dict) -> tuple[str, tuple | None]:
    s = options.get("scheduling_strategy")
    if isinstance(s, NodeAffinitySchedulingStrategy):
        return "DEFAULT", (bytes.fromhex(s.node_id), s.soft)
    return (s or "DEFAULT"), None


class ExportCache:
    """A function or class as exported to the cluster's KV: pickled once per definition and
    exported once per connected core worker (a notebook cell that redefines it makes a new one)."""

    def __init__(self, target):
        self.target = target
        self._pickled: bytes | None = None
        self.captured: list = []       # ObjectRefs in the pickled closure, kept alive with it
        self._exported_to = None       # (core worker, id)

    def id_for(self, cw) -> bytes:
        if self._exported_to is None or self._exported_to[0] is not cw:
            if self._pickled is None:
                import cloudpickle
                from strato.runtime import serialization
                try:
                    with serialization.recording_refs() as captured:
                        self._pickled = cloudpickle.dumps(self.target, protocol=5)
                    # Refs captured in the closure (a global of the notebook, say) stay valid for
                    # as long as this definition exists, like Ray's: tasks may run it any time.
                    self.captured = captured
                except Exception:
                    pass   # export_function pickles again and raises an error that says what to do
            self._exported_to = (cw, cw.export_function(self.target, self._pickled))
        return self._exported_to[1]


class RemoteFunction:
    """A function that runs as a task on the cluster: call `.remote()`."""

    def __init__(self, fn, options: dict):
        self._function = fn
        self._options = validate_options(dict(options), TASK_OPTIONS, "remote functions")
        self._export = ExportCache(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        name = getattr(self._function, "__name__", "f")
        raise TypeError(f"Remote functions cannot be called directly. Instead of running '{name}()', "
                        f"try '{name}.remote()'.")

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._options)

    def options(self, **options):
        merged = dict(self._options)
        merged.update(validate_options(options, TASK_OPTIONS, "remote functions"))
        parent = self

        class _Bound:
            def remote(self, *args, **kwargs):
                return parent._remote(args, kwargs, merged)

            def __repr__(self):
                return f"<{parent!r} with options {options}>"
        return _Bound()

    def _remote(self, args, kwargs, options):
        cw = _context.auto_init()
        fid = self._export.id_for(cw)
        num_returns = options.get("num_returns")
        num_returns = 1 if num_returns is None else num_returns
        max_retries = options.get("max_retries")
        strategy, affinity = strategy_of(options)
        refs = cw.submit_task(
            fid, options.get("name") or self._function.__name__, args, kwargs,
            num_returns=num_returns, resources=resource_shape(options),
            max_retries=3 if max_retries is None else max_retries,
            retry_exceptions=options.get("retry_exceptions") or False, strategy=strategy, affinity=affinity,
            captured=self._export.captured)
        if num_returns == 1:
            return refs[0]
        if num_returns == 0:
            return None
        return refs

    def __reduce__(self):
        # Travels to workers as the function and its options; export state stays here.
        return (RemoteFunction, (self._function, self._options))

    def __repr__(self):
        return f"RemoteFunction({self._function.__module__}.{self._function.__qualname__})"
