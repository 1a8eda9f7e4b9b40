"""`@strato.remote` on classes: ActorClass, ActorHandle, ActorMethod and `strato.method`.

    Counter = strato.remote(Counter)            # ActorClass
    c = Counter.options(name="c").remote(0)     # ActorHandle: the actor is created through the GCS
    ref = c.incr.remote(1)                      # ActorMethod call, straight to the actor's worker

A handle pickles as the actor's id and its method table, so it can be passed
to tasks and other actors and called from there.
"""
from __future__ import annotations

import inspect

from strato import _context
from strato.remote_function import (TASK_OPTIONS, CallSignature, ExportCache, actor_scheduling, generator_result,
                                    resource_shape, validate_options)

_NUMBER = (int, float)

ACTOR_OPTIONS: dict[str, tuple] = {
    "num_cpus": TASK_OPTIONS["num_cpus"],
    "num_gpus": TASK_OPTIONS["num_gpus"],
    "resources": TASK_OPTIONS["resources"],
    "memory": TASK_OPTIONS["memory"],
    "runtime_env": TASK_OPTIONS["runtime_env"],
    "scheduling_strategy": TASK_OPTIONS["scheduling_strategy"],
    "placement_group": TASK_OPTIONS["placement_group"],
    "placement_group_bundle_index": TASK_OPTIONS["placement_group_bundle_index"],
    "placement_group_capture_child_tasks": TASK_OPTIONS["placement_group_capture_child_tasks"],
    "name": (str, "a string"),
    "namespace": (str, "a string"),
    "lifetime": (str, '"detached" or "non_detached"'),
    "get_if_exists": (bool, "True or False"),
    "max_restarts": (int, "an int >= -1 (-1: restart forever)"),
    "max_task_retries": (int, "an int >= -1 (-1: retry forever)"),
    "max_concurrency": (int, "an int >= 1"),
    "max_pending_calls": (int, "an int >= -1 (-1: no limit)"),
    # Ray's, accepted so that Ray code runs unchanged. concurrency_groups: the actor gets as many threads
    # as its groups together (unless max_concurrency says otherwise); the others have no effect here.
    "concurrency_groups": ((dict, list), "a dict of group name -> max concurrency"),
    "enable_task_events": TASK_OPTIONS["enable_task_events"],
    "accelerator_type": TASK_OPTIONS["accelerator_type"],
    "label_selector": TASK_OPTIONS["label_selector"],
    "fallback_strategy": TASK_OPTIONS["fallback_strategy"],
    "object_store_memory": TASK_OPTIONS["object_store_memory"],
    "enable_tensor_transport": ((bool, type(None)), "True or False"),
    "allow_out_of_order_execution": ((bool, type(None)), "True or False"),
    "_actor_generator_backpressure_num_objects": (int, "an int"),
    "_labels": TASK_OPTIONS["_labels"],
    "_metadata": TASK_OPTIONS["_metadata"],
}


def _validate_actor_options(options: dict) -> dict:
    checked = {k: v for k, v in options.items() if k not in ("max_restarts", "max_task_retries",
                                                             "max_concurrency", "max_pending_calls",
                                                             "get_if_exists", "lifetime")}
    validate_options(checked, ACTOR_OPTIONS, "actors")
    for key in ("max_restarts", "max_task_retries", "max_concurrency", "max_pending_calls", "get_if_exists",
                "lifetime"):
        if key not in options or options[key] is None:
            continue
        value = options[key]
        types, desc = ACTOR_OPTIONS[key]
        if key == "get_if_exists":
            if not isinstance(value, bool):
                raise TypeError(f"Option 'get_if_exists' must be {desc}, got {value!r}.")
            continue
        if key == "lifetime":
            if value not in ("detached", "non_detached"):
                raise ValueError(f"Option 'lifetime' must be {desc}, got {value!r}.")
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"Option {key!r} must be {desc}, got {value!r}.")
        low = 1 if key == "max_concurrency" else -1
        if value < low:
            raise ValueError(f"Option {key!r} must be {desc}, got {value!r}.")
    if options.get("get_if_exists") and not options.get("name"):
        raise ValueError("get_if_exists=True needs a name: .options(name=..., get_if_exists=True).")
    return options


#: The keyword arguments @strato.method accepts: Ray's. Strato uses num_returns and max_task_retries;
#: the others are accepted so that Ray code runs unchanged (concurrency groups, task-event and
#: generator back-pressure tuning, tensor transport have no effect here).
METHOD_OPTIONS = ("num_returns", "concurrency_group", "max_task_retries", "retry_exceptions",
                  "_generator_backpressure_num_objects", "_num_objects_per_yield", "enable_task_events",
                  "tensor_transport")


def _check_num_returns(num_returns, where: str):
    if num_returns in ("streaming", "dynamic"):
        return
    if isinstance(num_returns, bool) or not isinstance(num_returns, int) or num_returns < 0:
        raise TypeError(f"{where}: num_returns must be an int >= 0, 'streaming' or 'dynamic', got {num_returns!r}")


# Methods every actor has, as in Ray: `__ray_ready__` returns True once the constructor ran;
# `__ray_terminate__` ends the actor after the calls sent before it (exit_actor() in the actor; the
# call itself fails with ActorDiedError). The worker side answers them (worker/executor.py).
BUILTIN_METHODS = ("__ray_ready__", "__ray_terminate__")


def exit_actor() -> None:
    """End the actor this is called in (Ray's ray.actor.exit_actor): it will not restart, and the call that
    made it -- and every later call -- fails with ActorDiedError. Outside an actor, a TypeError."""
    cw = _context.worker()
    if cw is None or not getattr(cw, "actor_id", None):
        raise TypeError("exit_actor() ends the actor it is called in; it was called outside an actor "
                        "(use strato.kill(handle) to end an actor from elsewhere).")
    import time
    cw.kill_actor(cw.actor_id, True)
    time.sleep(30)     # the raylet ends this process meanwhile; nothing after exit_actor() runs
    raise RuntimeError("exit_actor(): the actor was not stopped within 30 s")


def method(*args, **kwargs):
    """Options of one actor method: @strato.method(num_returns=2), @strato.method(max_task_retries=3).

    Takes Ray's keywords (METHOD_OPTIONS); an unknown one is refused with the list of valid ones.
    """
    if len(args) == 1 and not kwargs and callable(args[0]):
        return args[0]                          # bare @strato.method: the defaults
    if args:
        raise TypeError("@strato.method takes keyword options only, e.g. @strato.method(num_returns=2).")
    unknown = sorted(set(kwargs) - set(METHOD_OPTIONS))
    if unknown:
        raise ValueError(f"Unexpected keyword argument(s) to @strato.method: {', '.join(map(repr, unknown))}. "
                         f"The supported ones are: {', '.join(METHOD_OPTIONS)}.")
    if "num_returns" in kwargs:
        _check_num_returns(kwargs["num_returns"], "@strato.method")
    retries = kwargs.get("max_task_retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < -1):
        raise TypeError(f"@strato.method: max_task_retries must be an int >= -1 (-1: retry forever), got {retries!r}")

    def mark(fn):
        fn.__strato_method_options__ = dict(kwargs)
        if "num_returns" in kwargs:
            fn.__strato_num_returns__ = kwargs["num_returns"]
        return fn
    return mark


def _method_table(cls) -> dict:
    table = {}
    for name, member in inspect.getmembers(cls, predicate=callable):
        if name.startswith("__") and name != "__call__":
            continue
        options = getattr(member, "__strato_method_options__", {})
        static = isinstance(inspect.getattr_static(cls, name, None), staticmethod)
        bound = inspect.ismethod(member)        # a classmethod: cls is bound already
        generator = inspect.isgeneratorfunction(member) or inspect.isasyncgenfunction(member)
        table[name] = {"num_returns": getattr(member, "__strato_num_returns__", "streaming" if generator else 1),
                       "is_async": inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member),
                       "max_task_retries": options.get("max_task_retries"),
                       "signature": CallSignature.of(member, f"{cls.__name__}.{name}", skip_first=not (static or bound))}
    return table


def _constructor_signature(cls) -> CallSignature:
    if cls.__init__ is object.__init__:
        return CallSignature(f"{cls.__name__}.__init__", inspect.Signature())
    return CallSignature.of(cls.__init__, f"{cls.__name__}.__init__", skip_first=True)


#: Ids of the returns of calls an actor made to itself, in the actor's own process (see ActorMethod._remote).
SELF_CALL_IDS: set = set()


class ActorClass:
    """A class whose instances live in worker processes: call `.remote()` to create one."""

    def __init__(self, cls, options: dict):
        self._cls = cls
        self._options = _validate_actor_options(dict(options))
        self._export = ExportCache(cls)
        self._init_signature = None
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__doc__ = cls.__doc__
        self.__module__ = cls.__module__

    def __call__(self, *args, **kwargs):
        raise TypeError(f"Actors cannot be instantiated directly. Instead of '{self._cls.__name__}()', "
                        f"use '{self._cls.__name__}.remote()'.")

    def remote(self, *args, **kwargs) -> "ActorHandle":
        return self._remote(args, kwargs, self._options)

    def options(self, **options):
        merged = dict(self._options)
        merged.update(_validate_actor_options(options))
        parent = self

        class _Bound:
            def remote(self, *args, **kwargs):
                return parent._remote(args, kwargs, merged)
        return _Bound()

    def __reduce__(self):
        return (ActorClass, (self._cls, self._options))

    def _remote(self, args, kwargs, options) -> "ActorHandle":
        if self._init_signature is None:
            self._init_signature = _constructor_signature(self._cls)
        self._init_signature.check(args, kwargs)          # (actor creation is not a hot path)
        cw = _context.auto_init()
        cls_id = self._export.id_for(cw)
        methods = _method_table(self._cls)
        is_async = any(m["is_async"] for m in methods.values())
        groups = options.get("concurrency_groups")
        group_threads = sum(groups.values()) if isinstance(groups, dict) and groups else 0
        max_concurrency = options.get("max_concurrency") or group_threads or (1000 if is_async else 1)
        run = resource_shape(options, default_cpus=0.0)
        placement = dict(run)
        if options.get("num_cpus") is None:
            placement["CPU"] = 1.0          # as Ray: one CPU to place, none held while it runs
        scheduling = actor_scheduling(options, run, placement, f"actor {self._cls.__name__}")
        max_task_retries = options.get("max_task_retries")
        max_pending = options.get("max_pending_calls")
        state = {"class_name": self._cls.__name__, "methods": methods,
                 "max_task_retries": 0 if max_task_retries is None else max_task_retries,
                 "max_pending_calls": -1 if max_pending is None else max_pending}
        namespace = options.get("namespace")
        if namespace is None:
            namespace = cw.job_namespace()
        max_restarts = options.get("max_restarts")
        actor_id, state, handle_ref = cw.create_actor(
            cls_id, self._cls.__name__, args, kwargs, name=options.get("name") or "",
            namespace=namespace, detached=options.get("lifetime") == "detached",
            get_if_exists=bool(options.get("get_if_exists")), resources=run, placement=placement,
            max_restarts=0 if max_restarts is None else max_restarts, max_concurrency=max_concurrency,
            is_async=is_async, handle_state=state, captured=self._export.captured, scheduling=scheduling)
        return ActorHandle(actor_id, state, handle_ref)

    def __repr__(self):
        return f"ActorClass({self._cls.__module__}.{self._cls.__qualname__})"


class ActorHandle:
    """A reference to a live actor; attribute access gives its methods.

    The handle of an unnamed, non-detached actor carries `_ref`, an ObjectRef counted like any
    other (copies passed to tasks and actors are borrowers; pending calls hold it): when the
    last one anywhere goes, the actor's creator kills it, as Ray does. Named and detached
    actors live until their job ends or `strato.kill`.
    """

    def __init__(self, actor_id: bytes, state: dict, ref=None):
        self._actor_id = actor_id
        self._state = state
        self._ref = ref

    def __getattr__(self, name: str) -> "ActorMethod":
        if name.startswith("_"):
            if name in BUILTIN_METHODS:
                return ActorMethod(self, name, 1)
            raise AttributeError(name)
        meta = self._state["methods"].get(name)
        if meta is None:
            raise AttributeError(f"Actor {self._state['class_name']} has no method {name!r}; its methods are: "
                                 f"{', '.join(sorted(self._state['methods']))}.")
        return ActorMethod(self, name, meta["num_returns"], meta)

    def __reduce__(self):
        if self._ref is None:
            return (ActorHandle, (self._actor_id, self._state))
        return (ActorHandle, (self._actor_id, self._state, self._ref))

    def __eq__(self, other):
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __hash__(self):
        return hash(self._actor_id)

    def __repr__(self):
        return f"Actor({self._state['class_name']}, {self._actor_id.hex()})"

    @property
    def actor_id(self) -> str:
        return self._actor_id.hex()


class ActorMethod:
    def __init__(self, handle: ActorHandle, name: str, num_returns: int, meta: dict | None = None):
        self._handle = handle
        self._name = name
        self._num_returns = num_returns
        self._meta = meta or {}

    def __call__(self, *args, **kwargs):
        raise TypeError(f"Actor methods cannot be called directly. Instead of running 'actor.{self._name}()', "
                        f"try 'actor.{self._name}.remote()'.")

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._num_returns)

    def options(self, *, num_returns: int | None = None, name: str | None = None, **ray_options):
        unknown = sorted(set(ray_options) - set(METHOD_OPTIONS))
        if unknown:
            raise ValueError(f"Unexpected option(s) for an actor method call: {', '.join(map(repr, unknown))}. "
                             f"The supported ones are: name, {', '.join(METHOD_OPTIONS)}.")
        if num_returns is not None:
            _check_num_returns(num_returns, f"{self._name}.options()")
        parent = self

        class _Bound:
            def remote(self, *args, **kwargs):
                return parent._remote(args, kwargs, parent._num_returns if num_returns is None else num_returns,
                                      name)
        return _Bound()

    def _remote(self, args, kwargs, num_returns, name: str | None = None):
        if num_returns.__class__ is str:          # "streaming" / "dynamic": a generator method
            from strato.runtime.core_worker import generators
            num_returns = generators.wire_num_returns(num_returns)
        meta = self._meta
        signature = meta.get("signature")
        if signature is not None and (kwargs or len(args) not in signature.counts):
            signature.check(args, kwargs)
        cw = _context.auto_init()
        state = self._handle._state
        retries = meta.get("max_task_retries")
        refs = cw.submit_actor_call(
            self._handle._actor_id, self._name, name or f"{state['class_name']}.{self._name}", args, kwargs,
            num_returns=num_returns, max_task_retries=state["max_task_retries"] if retries is None else retries,
            max_pending_calls=state["max_pending_calls"], handle_ref=self._handle._ref)
        if cw.actor_id == self._handle._actor_id:
            executor = cw.executor
            if executor is not None and executor.pool is None and executor.actor_loop is None:
                # A one-call-at-a-time actor calling itself: a get of this result would wait forever.
                SELF_CALL_IDS.update(r._id for r in refs)
        if num_returns == 1:
            return refs[0]
        if num_returns == 0:
            return None
        if num_returns < 0:
            return generator_result(refs[0], num_returns, cw)
        return refs
