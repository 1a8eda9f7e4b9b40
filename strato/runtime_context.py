"""`strato.get_runtime_context()`: where the calling code runs (Ray's RuntimeContext).

    ctx = strato.get_runtime_context()      # connects first (strato.init()) if nothing is
    ctx.get_job_id(), ctx.get_node_id(), ctx.get_worker_id()      # hex strings
    ctx.get_task_id(), ctx.get_actor_id()                        # hex, or None in a driver
    ctx.get()                                                    # Ray's dict of ID objects
    ctx.current_actor                                            # inside an actor: its own handle
    ctx.get_assigned_resources()                                 # in a task or actor: {"CPU": 1.0}

The ID objects (`JobID`, `NodeID`, `TaskID`, `ActorID`) behave like Ray's:
`.hex()`, `.binary()`, equality, hashing and a `NodeID(...)` repr. The
methods that only make sense inside a task or an actor raise `RuntimeError`
saying so, as Ray's do.
"""
from __future__ import annotations

import sys

from strato import _context


class BaseID:
    """An id as Ray shows it: `.hex()`, `.binary()`, `TaskID(<hex>)`."""
    __slots__ = ("_bytes",)

    def __init__(self, id_bytes: bytes):
        self._bytes = bytes(id_bytes)

    def binary(self) -> bytes:
        return self._bytes

    def hex(self) -> str:
        return self._bytes.hex()

    def is_nil(self) -> bool:
        return not any(self._bytes)

    def __eq__(self, other):
        return type(other) is type(self) and other._bytes == self._bytes

    def __hash__(self):
        return hash((type(self).__name__, self._bytes))

    def __repr__(self):
        return f"{type(self).__name__}({self.hex()})"

    __str__ = hex


class JobID(BaseID):
    __slots__ = ()


class NodeID(BaseID):
    __slots__ = ()


class TaskID(BaseID):
    __slots__ = ()


class ActorID(BaseID):
    __slots__ = ()


class WorkerID(BaseID):
    __slots__ = ()


def _in_worker(cw, what: str) -> None:
    if cw.mode == "driver":
        raise RuntimeError(f"{what} is only available inside a task or an actor, not in a driver.")


class RuntimeContext:
    """What the calling code runs as: its job, node, worker, task and actor."""

    def __init__(self, core_worker):
        self._cw = core_worker

    # ------------------------------------------------------------ ids (hex)
    def get_job_id(self) -> str:
        return self._cw.job_id.hex()

    def get_node_id(self) -> str:
        return self._cw.node_id.hex()

    def get_worker_id(self) -> str:
        return self._cw.worker_id.hex()

    def get_task_id(self) -> str | None:
        """The running task's id (hex) inside a task or actor method; None in a driver."""
        tid = self._cw.current_task_id
        return tid.hex() if tid else None

    def get_actor_id(self) -> str | None:
        """The actor's id (hex) inside an actor; None elsewhere."""
        aid = self._cw.actor_id
        return aid.hex() if aid else None

    # ------------------------------------------------------ ids (objects)
    @property
    def job_id(self) -> JobID:
        return JobID(self._cw.job_id)

    @property
    def node_id(self) -> NodeID:
        return NodeID(self._cw.node_id)

    @property
    def task_id(self) -> TaskID | None:
        tid = self._cw.current_task_id
        return TaskID(tid) if tid else None

    @property
    def actor_id(self) -> ActorID | None:
        aid = self._cw.actor_id
        return ActorID(aid) if aid else None

    # ----------------------------------------------------------- the task
    def get_task_name(self) -> str | None:
        """The running task's name (its `name` option, else the function or Class.method); None in a driver."""
        return self._cw.current_task_name or None

    def get_task_function_name(self) -> str | None:
        """`module.qualname` of the running task's function or actor method; None in a driver."""
        cw = self._cw
        if cw.mode == "driver" or not cw.current_task_id:
            return None
        frame = _user_frame(sys._getframe(1))
        if frame is not None:
            return f"{frame.f_globals.get('__name__', '')}.{frame.f_code.co_qualname}"
        executor = cw.executor
        instance = getattr(executor, "instance", None)
        if instance is not None:        # an async actor's method: its frame hangs off the actor's loop
            method = (cw.current_task_name or "").rsplit(".", 1)[-1]
            cls = type(instance)
            return f"{cls.__module__}.{cls.__qualname__}.{method}"
        return self.get_task_name()

    def is_canceled(self) -> bool:
        """Whether strato.cancel() was called on the running task (an async or threaded actor's call
        keeps running when cancelled: poll this to stop early)."""
        cw = self._cw
        _in_worker(cw, "is_canceled()")
        tid = cw.current_task_id
        executor = cw.executor
        if tid is None or executor is None:
            raise RuntimeError("is_canceled() is only available while a task or actor method runs.")
        return tid in executor.cancelled or executor.cancel_target == tid

    def get_assigned_resources(self) -> dict:
        """The resources this worker's lease holds, e.g. {"CPU": 1.0} in a default task; an actor's are
        those it runs with (none by default, as in Ray); inside a placement group, the bundle's
        resources under their own names. Asks this node's raylet."""
        cw = self._cw
        _in_worker(cw, "get_assigned_resources()")
        from strato.runtime.protocol import raylet_pb2
        from strato.runtime.raylet.bundles import plain_resources
        reply = cw.run_sync(cw.raylet.call("GetNodeStats", raylet_pb2.GetNodeStatsRequest()), timeout=10)
        for w in reply.workers:
            if w.worker_id == cw.worker_id:
                return plain_resources(dict(w.lease_resources))
        return {}

    # ---------------------------------------------------------- the actor
    def _require_actor(self, what: str) -> bytes:
        aid = self._cw.actor_id
        if not aid:
            raise RuntimeError(f"{what} is only available in an actor (a method of a @strato.remote class).")
        return aid

    @property
    def current_actor(self):
        """This actor's own handle (to pass to other tasks, or to call itself asynchronously)."""
        from strato.actor import ActorHandle
        aid = self._require_actor("current_actor")
        return ActorHandle(aid, self._cw.actor_handle_state(aid))

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """True in an actor that was restarted after a crash (its constructor ran again)."""
        aid = self._require_actor("was_current_actor_reconstructed")
        cached = getattr(self._cw, "_strato_actor_restarts", None)
        if cached is None:
            from strato.runtime.protocol import gcs_pb2
            reply = self._cw.run_sync(self._cw.gcs.call("GetActorInfo", gcs_pb2.GetActorInfoRequest(actor_id=aid)))
            cached = reply.info.num_restarts if reply.found else 0
            self._cw._strato_actor_restarts = cached
        return cached > 0

    def get_actor_name(self) -> str | None:
        """The actor's name if it was given one (options(name=...)); None elsewhere."""
        aid = self._cw.actor_id
        if not aid:
            return None
        from strato.runtime.protocol import gcs_pb2
        reply = self._cw.run_sync(self._cw.gcs.call("GetActorInfo", gcs_pb2.GetActorInfoRequest(actor_id=aid)))
        return (reply.info.name or None) if reply.found else None

    # --------------------------------------------------------------- misc
    @property
    def namespace(self) -> str:
        return self._cw.job_namespace()

    @property
    def gcs_address(self) -> str:
        return self._cw.gcs_address

    @property
    def worker_mode(self) -> str:
        return self._cw.mode

    def get(self) -> dict:
        """Ray's dict: job_id, node_id and namespace; task_id inside a task; actor_id inside an actor."""
        out = {"job_id": self.job_id, "node_id": self.node_id, "namespace": self.namespace}
        if self._cw.current_task_id:
            out["task_id"] = self.task_id
        if self._cw.actor_id:
            out["actor_id"] = self.actor_id
        return out

    def __repr__(self):
        return f"RuntimeContext({self.get()})"


def _user_frame(frame):
    """The frame of the function the executor called (the task's function or a sync actor method)."""
    from strato.runtime.worker import executor
    run_file = executor.__file__
    while frame is not None and frame.f_back is not None:
        parent = frame.f_back
        if parent.f_code.co_filename == run_file and parent.f_code.co_name == "_run":
            return frame
        frame = parent
    return None


def get_runtime_context() -> RuntimeContext:
    """The runtime context of the calling code; connects first (as strato.init()) when nothing is."""
    return RuntimeContext(_context.auto_init())
