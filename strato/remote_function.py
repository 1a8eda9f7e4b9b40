"""`@strato.remote` on functions: RemoteFunction, `.options()` and option checking.

The option value types are defined here too (NodeAffinitySchedulingStrategy,
PlacementGroupSchedulingStrategy; `strato.util.scheduling_strategies` re-exports
them under Ray's names), so this module and `strato.actor` import nothing from
`strato.util`, which builds on them. `scheduling_of` turns a task's or actor's
options into where it runs: a strategy name, a node affinity, or a placement
group's bundle -- the caller's own group when it captures child tasks.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import warnings
from typing import Any, NamedTuple

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


@dataclasses.dataclass(frozen=True)
class PlacementGroupSchedulingStrategy:
    """Run in a bundle of `placement_group` (index -1: any of its bundles). With
    placement_group_capture_child_tasks=True, tasks and actors it starts without a strategy of
    their own go to the same group."""
    placement_group: Any
    placement_group_bundle_index: int = -1
    placement_group_capture_child_tasks: bool | None = None

    def __post_init__(self):
        if not hasattr(self.placement_group, "id") or not hasattr(self.placement_group, "bundle_specs"):
            raise TypeError(f"PlacementGroupSchedulingStrategy needs a PlacementGroup (from "
                            f"strato.util.placement_group(...)), got {self.placement_group!r}")
        index = self.placement_group_bundle_index
        if isinstance(index, bool) or not isinstance(index, int) or index < -1:
            raise ValueError(f"placement_group_bundle_index must be an int >= -1 (-1: any bundle), got {index!r}")


class PgStrategy(NamedTuple):
    """Where a task runs when it runs in a placement group (the `strategy` of its scheduling class)."""
    pg_id: bytes
    bundle_index: int
    capture: bool


_STRATEGY_TYPES = (str, NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy, type(None))

# option -> (accepted types, description used in errors)
TASK_OPTIONS: dict[str, tuple] = {
    "num_cpus": (_NUMBER, "a number >= 0"),
    "num_gpus": (_NUMBER, "a number >= 0"),
    "resources": (dict, "a dict of resource name -> amount"),
    "num_returns": ((int, str), 'an int >= 0, "streaming" or "dynamic"'),
    "max_retries": (int, "an int >= -1 (-1: retry forever)"),
    "retry_exceptions": ((bool, list, tuple), "True/False or a list of exception classes"),
    "name": (str, "a string"),
    "scheduling_strategy": (_STRATEGY_TYPES,
                            '"DEFAULT", "SPREAD", a NodeAffinitySchedulingStrategy or a PlacementGroupSchedulingStrategy'),
    # Deprecated in Ray in favour of PlacementGroupSchedulingStrategy, still accepted (with a warning).
    "placement_group": (object, "a PlacementGroup, None or 'default'"),
    "placement_group_bundle_index": (int, "an int >= -1"),
    "placement_group_capture_child_tasks": (bool, "True or False"),
    "memory": (_NUMBER, "a number of bytes >= 0"),
    "runtime_env": ((dict, type(None)), "a dict (only an empty one is supported)"),
    # Ray's other options, accepted so that Ray code runs unchanged; they have no effect here (see
    # NO_EFFECT_OPTIONS).
    "max_calls": (int, "an int >= 0"),
    "enable_task_events": (bool, "True or False"),
    "accelerator_type": (str, "a string"),
    "label_selector": ((dict, type(None)), "a dict of node label -> value"),
    "fallback_strategy": ((list, type(None)), "a list of scheduling options"),
    "object_store_memory": (int, "an int >= 0"),
    "_labels": ((dict, type(None)), "a dict"),
    "_metadata": ((dict, type(None)), "a dict"),
    "_generator_backpressure_num_objects": (int, "an int"),
    "_num_objects_per_yield": (int, "an int"),
}

#: Options of Ray's that Strato accepts and ignores: max_calls (workers are reused whatever it says),
#: enable_task_events (task events are always recorded), accelerator_type, label_selector and
#: fallback_strategy (nodes carry no accelerator types or labels), object_store_memory (no per-task
#: store quota), the generator back-pressure knobs, and the private _labels/_metadata.
NO_EFFECT_OPTIONS = frozenset({"max_calls", "enable_task_events", "accelerator_type", "label_selector",
                               "fallback_strategy", "object_store_memory", "_labels", "_metadata",
                               "_generator_backpressure_num_objects", "_num_objects_per_yield"})
_BOOL_OPTIONS = ("retry_exceptions", "placement_group_capture_child_tasks", "enable_task_events",
                 "enable_tensor_transport", "allow_out_of_order_execution")


def validate_options(options: dict, valid: dict, kind: str) -> dict:
    for key, value in options.items():
        if key not in valid:
            raise ValueError(f"Invalid option keyword {key!r} for {kind}. Valid ones are: {', '.join(sorted(valid))}.")
        types, desc = valid[key]
        if value is None:
            continue
        if isinstance(value, bool) and key not in _BOOL_OPTIONS or not isinstance(value, types):
            raise TypeError(f"Option {key!r} must be {desc}, got {value!r} ({type(value).__name__}).")
        if key == "num_returns" and isinstance(value, str):
            if value not in ("streaming", "dynamic"):
                raise ValueError(f"Option 'num_returns' must be {desc}, got {value!r}.")
            continue
        if key in ("num_cpus", "num_gpus", "memory", "num_returns", "max_calls", "object_store_memory") and value < 0:
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
        if key == "placement_group" and value != "default" and not hasattr(value, "bundle_specs"):
            raise TypeError(f"Option 'placement_group' must be a PlacementGroup, None or 'default', got {value!r}.")
        if key == "placement_group_bundle_index" and value < -1:
            raise ValueError(f"Option 'placement_group_bundle_index' must be an int >= -1, got {value!r}.")
        if key == "placement_group" and value not in ("default", None) and options.get("scheduling_strategy"):
            raise ValueError("Placement groups should be given with the scheduling_strategy option "
                             "(PlacementGroupSchedulingStrategy); the placement_group option is deprecated. "
                             "Do not pass both.")
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


def strategy_of(options: dict, resources: dict | None = None, what: str = "the task") -> tuple:
    """(strategy, affinity) of a task: strategy is "DEFAULT", "SPREAD" or a PgStrategy; affinity
    (node id, soft) or None."""
    s = options.get("scheduling_strategy")
    if isinstance(s, NodeAffinitySchedulingStrategy):
        return "DEFAULT", (bytes.fromhex(s.node_id), s.soft)
    pg = placement_of(options, resources or {}, what)
    if pg is not None:
        return pg, None
    return (s or "DEFAULT"), None


def placement_of(options: dict, resources: dict, what: str, placement: dict | None = None) -> PgStrategy | None:
    """The placement group a task or actor runs in, from its options (PlacementGroupSchedulingStrategy,
    or the deprecated placement_group options), or else the caller's own group when the caller
    captures child tasks -- as Ray decides it. Raises ValueError when the bundle index is out of
    range or the request fits no bundle of the group."""
    s = options.get("scheduling_strategy")
    if (s is None and "placement_group" not in options and "placement_group_bundle_index" not in options
            and "placement_group_capture_child_tasks" not in options and current_group() is None):
        return None                 # the common case, per call: no group asked for, none to inherit
    pg, index, capture = options.get("placement_group", "default"), options.get("placement_group_bundle_index"), \
        options.get("placement_group_capture_child_tasks")
    if s is not None and not isinstance(s, PlacementGroupSchedulingStrategy):
        return None
    if pg not in ("default", None) or index not in (None, -1) or capture:
        warnings.warn("The placement_group, placement_group_bundle_index and placement_group_capture_child_tasks "
                      "options are deprecated: use scheduling_strategy=PlacementGroupSchedulingStrategy(...).",
                      DeprecationWarning, stacklevel=4)
    if isinstance(s, PlacementGroupSchedulingStrategy):
        pg, index, capture = s.placement_group, s.placement_group_bundle_index, s.placement_group_capture_child_tasks
    index = -1 if index is None else index
    if pg == "default":
        current = current_group()
        if current is None or not (current[1] if capture is None else capture):
            if index != -1:
                raise ValueError("placement_group_bundle_index needs a placement group: give one with "
                                 "PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=...).")
            return None
        return PgStrategy(current[0], -1, True)
    if pg is None:
        return None
    specs = pg.bundle_specs
    if index >= len(specs):
        raise ValueError(f"placement group bundle index {index} is invalid: the group has {len(specs)} bundle(s), "
                         f"so use 0-{len(specs) - 1}, or -1 for any bundle.")
    _check_shape(resources, specs if index < 0 else [specs[index]], what, "")
    if placement is not None and placement != resources:
        _check_shape(placement, specs if index < 0 else [specs[index]], what,
                     " (an actor needs 1 CPU to be placed unless num_cpus is given: give the bundle a CPU, or "
                     "set num_cpus=0)")
    return PgStrategy(bytes(pg.id), index, bool(capture))


def _check_shape(resources: dict, bundles: list, what: str, hint: str) -> None:
    if not any(all(b.get(k, 0.0) + 1e-9 >= v for k, v in resources.items()) for b in bundles):
        raise ValueError(f"Cannot schedule {what} with the placement group: its request {resources} fits none of "
                         f"the bundles {bundles}{hint}.")


def current_group() -> tuple[bytes, bool] | None:
    """(placement group id, capture child tasks) of the task or actor running here, or None (a driver,
    or not in a group). A task's comes with it; an actor's is read from the GCS once."""
    cw = _context.worker()
    if cw is None:
        return None
    current = getattr(cw, "current_placement_group", None)
    if current is not None or getattr(cw, "actor_id", None) is None:
        return current
    cached = getattr(cw, "actor_placement_group", False)
    if cached is False:
        from strato.runtime.protocol import gcs_pb2
        info = cw.run_sync(cw.gcs.call("GetActorInfo", gcs_pb2.GetActorInfoRequest(actor_id=cw.actor_id))).info
        sched = info.scheduling
        cached = (sched.placement_group_id, sched.capture_child_tasks) if sched.kind == "PLACEMENT_GROUP" else None
        cw.actor_placement_group = cached
    return cached


def actor_scheduling(options: dict, resources: dict, placement: dict, what: str) -> dict:
    """An actor's options -> the fields of its gcs_pb2.SchedulingStrategy (ActorInfo.scheduling)."""
    s = options.get("scheduling_strategy")
    if isinstance(s, NodeAffinitySchedulingStrategy):
        return {"kind": "NODE_AFFINITY", "node_id": bytes.fromhex(s.node_id), "soft": s.soft}
    pg = placement_of(options, resources, what, placement)
    if pg is not None:
        return {"kind": "PLACEMENT_GROUP", "placement_group_id": pg.pg_id, "bundle_index": pg.bundle_index,
                "capture_child_tasks": pg.capture}
    return {"kind": s or "DEFAULT", "bundle_index": -1}


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


class CallSignature:
    """A function's parameters, to refuse a call with the wrong arguments at `.remote()` (as Ray
    does) rather than when the task runs. A call that passes only positional arguments, as many
    as the function takes, is accepted with two comparisons; anything else is bound in full."""

    __slots__ = ("name", "signature", "low", "high", "needs_bind", "counts")

    def __init__(self, name: str, signature: inspect.Signature | None):
        self.name, self.signature = name, signature
        self.low, self.high, self.needs_bind = 0, float("inf"), False
        self.counts = range(sys.maxsize)
        if signature is None:          # a builtin without a signature: anything goes
            return
        params = list(signature.parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self.low = sum(1 for p in positional if p.default is p.empty)
        if not any(p.kind is p.VAR_POSITIONAL for p in params):
            self.high = len(positional)
        self.needs_bind = any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params)
        #: positional-argument counts accepted without binding: `len(args) in counts` is the fast check
        self.counts = range(0) if self.needs_bind else range(self.low, int(min(self.high, sys.maxsize - 1)) + 1)

    @classmethod
    def of(cls, fn, name: str, skip_first: bool = False) -> "CallSignature":
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return cls(name, None)
        params = list(signature.parameters.values())
        if skip_first and params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                        inspect.Parameter.POSITIONAL_OR_KEYWORD):
            params = params[1:]
        # Defaults and annotations are not needed to check a call (and may not pickle): marked only.
        params = [p.replace(default=_HAS_DEFAULT if p.default is not p.empty else p.empty, annotation=p.empty)
                  for p in params]
        return cls(name, signature.replace(parameters=params, return_annotation=inspect.Signature.empty))

    def check(self, args: tuple, kwargs: dict) -> None:
        """Raise TypeError naming the signature when `args`/`kwargs` do not fit it. Callers on a hot path
        test `kwargs or len(args) not in sig.counts` first and call this only then."""
        if not kwargs and len(args) in self.counts:
            return
        if self.signature is None:
            return
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}() was called with the wrong arguments: {exc}. It takes "
                            f"{self.name}{self.signature}.") from None

    def __reduce__(self):
        return (CallSignature, (self.name, self.signature))


class _HasDefault:
    def __repr__(self):
        return "..."

    def __reduce__(self):
        return (_has_default, ())


def _has_default():
    return _HAS_DEFAULT


_HAS_DEFAULT = _HasDefault()


def check_task_target(fn) -> None:
    """What Ray refuses to run as a task."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise ValueError(f"'async def' cannot be a remote task ({getattr(fn, '__name__', fn)}): a task runs a "
                         f"plain function. Wrap it, e.g. `def f(): return asyncio.run(g())`, or make it a "
                         f"method of an actor (async actors run async def methods).")


def _check_generator_option(num_returns, is_generator: bool, fn) -> None:
    if num_returns in ("streaming", "dynamic") and not is_generator:
        raise ValueError(f"num_returns={num_returns!r} can only be used with generator functions (that `yield`); "
                         f"{getattr(fn, '__name__', fn)} is not one. Use an int num_returns, or make it yield.")


def generator_result(completion, wire_num_returns: int, cw):
    """What `.remote()` of a generator returns: an ObjectRefGenerator ("streaming"), or for "dynamic" the
    ref whose value is a DynamicObjectRefGenerator."""
    from strato.runtime.core_worker import generators
    if wire_num_returns == generators.STREAMING:
        return generators.ObjectRefGenerator(completion, cw.generators)
    return generators.dynamic_result(completion, cw.generators)


class RemoteFunction:
    """A function that runs as a task on the cluster: call `.remote()`."""

    def __init__(self, fn, options: dict):
        check_task_target(fn)
        self._function = fn
        self._options = validate_options(dict(options), TASK_OPTIONS, "remote functions")
        self._export = ExportCache(fn)
        self._signature = CallSignature.of(fn, getattr(fn, "__name__", "f"))
        self._arg_counts = self._signature.counts
        self._is_generator = inspect.isgeneratorfunction(fn)
        _check_generator_option(self._options.get("num_returns"), self._is_generator, fn)
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
        _check_generator_option(merged.get("num_returns"), self._is_generator, self._function)
        parent = self

        class _Bound:
            def remote(self, *args, **kwargs):
                return parent._remote(args, kwargs, merged)

            def __repr__(self):
                return f"<{parent!r} with options {options}>"
        return _Bound()

    def _remote(self, args, kwargs, options):
        if kwargs or len(args) not in self._arg_counts:
            self._signature.check(args, kwargs)
        cw = _context.auto_init()
        fid = self._export.id_for(cw)
        num_returns = options.get("num_returns")
        if num_returns is None:
            num_returns = "streaming" if self._is_generator else 1     # Ray's default for generators
        if num_returns.__class__ is str:
            from strato.runtime.core_worker import generators
            num_returns = generators.wire_num_returns(num_returns)
        max_retries = options.get("max_retries")
        resources = resource_shape(options)
        strategy, affinity = strategy_of(options, resources, f"{self._function.__name__}()")
        refs = cw.submit_task(
            fid, options.get("name") or self._function.__name__, args, kwargs,
            num_returns=num_returns, resources=resources,
            max_retries=3 if max_retries is None else max_retries,
            retry_exceptions=options.get("retry_exceptions") or False, strategy=strategy, affinity=affinity,
            captured=self._export.captured)
        if num_returns == 1:
            return refs[0]
        if num_returns == 0:
            return None
        if num_returns < 0:
            return generator_result(refs[0], num_returns, cw)
        return refs

    def __reduce__(self):
        # Travels to workers as the function and its options; export state stays here.
        return (RemoteFunction, (self._function, self._options))

    def __repr__(self):
        return f"RemoteFunction({self._function.__module__}.{self._function.__qualname__})"
