"""Strato's errors: one rooted hierarchy, with Ray's class names as aliases.

Two branches hang off `StratoError` (alias `RayError`):

* the user's code failed -- `TaskError` (alias `RayTaskError`). What `get`
  raises is an instance of both `TaskError` and the user's own exception
  class, with the remote traceback in its message and as `__cause__`;
* the system failed -- a worker or node died, a call timed out, the token
  was wrong, an object could not be serialized -- or Strato's own
  bookkeeping broke an invariant (`InvariantError`, `InvalidTransition`).

Every message says what to check or do next.
"""
from __future__ import annotations

import builtins


class StratoError(Exception):
    """Root of every error Strato raises."""

    def __reduce__(self):
        return (_rebuild_plain, (type(self), self.args, self.__dict__.copy()))


def _rebuild_plain(cls, args, state):
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class RemoteTraceback(Exception):
    """Carries a remote traceback's text; set as `__cause__` of a `TaskError`."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


class TaskError(StratoError):
    """A task or actor method raised. `cause` is the user's exception.

    The instance `get` raises also derives from the user's exception class,
    so `except ValueError:` catches a remote `ValueError`.
    """

    def __init__(self, function_name: str = "", traceback_str: str = "", cause: BaseException | None = None,
                 pid: int | None = None, ip: str | None = None):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.pid = pid
        self.ip = ip
        super().__init__(self._message())

    def _message(self) -> str:
        where = f" (pid={self.pid}, ip={self.ip})" if self.pid else ""
        return f"{self.function_name}(){where} raised:\n\n{self.traceback_str.rstrip()}"

    def __str__(self):
        return self._message()

    def as_instanceof_cause(self) -> "TaskError":
        """This error as an instance of both TaskError and the cause's class."""
        cause_cls = type(self.cause) if self.cause is not None else None
        if cause_cls is None or issubclass(cause_cls, TaskError) or not _subclassable(cause_cls):
            return self
        dual = _dual_class(cause_cls)
        if isinstance(self.cause, BaseExceptionGroup):   # its __new__ needs the message and the exceptions
            err = BaseExceptionGroup.__new__(dual, self.cause.message, self.cause.exceptions)
        else:
            try:
                err = Exception.__new__(dual)
            except TypeError:     # a builtin base with its own __new__ (OSError and its subclasses)
                err = dual.__new__(dual)
        err.args = getattr(self.cause, "args", ())
        err.__dict__.update(getattr(self.cause, "__dict__", {}))
        err.function_name, err.traceback_str, err.cause = self.function_name, self.traceback_str, self.cause
        err.pid, err.ip = self.pid, self.ip
        err.__cause__ = RemoteTraceback(self.traceback_str)
        return err

    def __reduce__(self):
        return _reduce_task_error(self)


def _reduce_task_error(err) -> tuple:
    """A TaskError travels with its cause pickled on its own, so that a cause that cannot be rebuilt
    on the other side (an exception whose __init__ takes other arguments than its args) becomes an
    UnserializableException carrying the remote traceback, instead of failing the whole get."""
    blob = None
    if err.cause is not None:
        import cloudpickle
        try:
            blob = cloudpickle.dumps(err.cause, protocol=5)
        except Exception:
            blob = None
    return (_rebuild_task_error, (err.function_name, err.traceback_str, blob, err.pid, err.ip))


def _rebuild_task_error(function_name, traceback_str, cause_blob, pid, ip):
    cause = None
    if cause_blob is not None:
        import pickle
        try:
            cause = pickle.loads(cause_blob)
        except Exception as exc:
            return UnserializableException(function_name, traceback_str, f"{type(exc).__name__}: {exc}")
    return TaskError(function_name, traceback_str, cause, pid, ip)


_DUAL_CACHE: dict[type, type] = {}


def _subclassable(cls: type) -> bool:
    try:
        type("probe", (TaskError, cls), {})
        return True
    except TypeError:
        return False


def _dual_class(cause_cls: type) -> type:
    dual = _DUAL_CACHE.get(cause_cls)
    if dual is None:
        def __str__(self):
            return TaskError._message(self)

        dual = type(f"TaskError({cause_cls.__name__})", (TaskError, cause_cls),
                    {"__str__": __str__, "__reduce__": _reduce_task_error, "__module__": __name__,
                     "__init__": lambda self, *a, **k: None})
        _DUAL_CACHE[cause_cls] = dual
    return dual


class UnserializableException(StratoError):
    """A task raised an exception that could not be rebuilt here (Ray's name).

    Typically its class defines an `__init__` whose arguments differ from the
    `args` it passes to `Exception.__init__`, so unpickling cannot call it
    again. The message keeps the remote traceback, so nothing is lost; give
    the class a `__reduce__` to get the original type back.
    """

    def __init__(self, function_name: str = "", traceback_str: str = "", reason: str = ""):
        self.function_name, self.traceback_str, self.reason = function_name, traceback_str, reason
        super().__init__(
            f"Failed to deserialize the exception raised by {function_name}() ({reason}). Define __reduce__ on "
            f"the exception class (or pass all of __init__'s arguments to super().__init__) to get it back as "
            f"itself. Original exception:\n{traceback_str.rstrip()}")


class SystemError_(StratoError):
    """The runtime failed, not the user's code."""


class WorkerCrashedError(StratoError):
    """The worker process running a task died before finishing it."""

    def __init__(self, message: str = "", exit_code: int | None = None):
        #: the worker process's exit code when known (a task that called sys.exit(code)), else None
        self.exit_code = exit_code
        super().__init__(message or (
            "The worker running this task died unexpectedly (its process exited or was killed). "
            "Check the worker logs in the session folder; set max_retries to retry such tasks."))


class TaskCancelledError(StratoError):
    """The task was cancelled with strato.cancel()."""

    def __init__(self, task_id: str | None = None, message: str = ""):
        self.task_id = task_id
        super().__init__(message or f"Task {task_id} was cancelled (strato.cancel was called on it).")


class GetTimeoutError(StratoError, builtins.TimeoutError):
    """strato.get timed out before every object was ready."""


class ObjectLostError(StratoError):
    """An object's every copy was lost."""


class OwnerDiedError(ObjectLostError):
    """The process that owned an object died, so the object is gone."""


class ObjectReconstructionFailedError(ObjectLostError):
    """An object was lost and could not be rebuilt from its lineage."""


class ObjectReconstructionFailedMaxAttemptsExceededError(ObjectReconstructionFailedError):
    """An object was lost and the task that made it has no retries left (max_retries)."""


class ObjectReconstructionFailedLineageEvictedError(ObjectReconstructionFailedError):
    """An object was lost and its lineage had been evicted (max_lineage_bytes)."""


class ReferenceCountingAssertionError(ObjectLostError):
    """An object was freed while a reference to it still existed."""


class ObjectStoreFullError(StratoError):
    """The object store and the spill space are both full."""


class NodeDiedError(StratoError):
    """A node of the cluster died."""


class ActorError(StratoError):
    """An actor cannot run the call."""


class ActorDiedError(ActorError):
    """The actor is dead and will not restart."""


class ActorUnavailableError(ActorError):
    """The actor is temporarily unreachable (restarting)."""


class TaskUnschedulableError(StratoError):
    """A task can never be scheduled as asked: its hard node affinity names a dead or unknown node,
    or its placement group was removed. Ray's name and message form."""

    def __init__(self, error_message: str = ""):
        self.error_message = error_message
        super().__init__(f"The task is not schedulable: {error_message}")


class ActorUnschedulableError(ActorDiedError):
    """An actor can never be placed as asked (see TaskUnschedulableError); it is dead, so this is
    also an ActorDiedError."""

    def __init__(self, error_message: str = ""):
        self.error_message = error_message
        ActorError.__init__(self, f"The actor is not schedulable: {error_message}")


class PendingCallsLimitExceeded(StratoError):
    """An actor handle has more pending calls than its max_pending_calls allows."""


class SerializationError(StratoError, builtins.TypeError):
    """A value could not be serialized for the cluster."""


class AuthenticationError(StratoError, builtins.ConnectionError):
    """A call carried no cluster token or the wrong one."""


class ClusterConnectionError(StratoError, builtins.ConnectionError):
    """No cluster could be reached at the given address."""


class UnsafeTempDirError(StratoError, builtins.PermissionError):
    """The temp folder (where tokens and cluster records live) is not private to this user.

    Raised when it belongs to another user, is a symbolic link, or has a mode
    other than 0700; the message says which and how to fix it.
    """


class InvariantError(StratoError):
    """An invariant of Strato's own state machines does not hold: a bug in Strato, not in your code.

    Raised by the `validate()` checks the tests call and by the counts that
    must never go negative -- never a bare `assert`, which `python -O` strips.
    """

    def __init__(self, message: str = ""):
        super().__init__(f"{message}. This is a bug in Strato, not in your code: please report it with the "
                         f"steps that led here (and the session's logs).")


class InvalidTransition(InvariantError):
    """A task, actor or object was asked to make a move its lifecycle table does not allow."""


class InfeasibleTaskWarning(UserWarning):
    """No node of the cluster can ever satisfy a task's resource request."""


class ObjectRefStreamEndOfStreamError(StratoError, builtins.StopIteration):
    """A streaming generator has no more refs to give (also a StopIteration, as `next` expects)."""


class OutOfMemoryError(StratoError):
    """Ray's class for a task killed by its node's memory monitor. Strato has no memory monitor yet
    and does not raise it; defined so that code catching it runs."""


class OutOfDiskError(StratoError):
    """Ray's class for a node whose disk is full. Strato reports a full store with ObjectStoreFullError;
    defined so that code catching it runs."""


class ObjectFetchTimedOutError(ObjectLostError):
    """Ray's class for an object that could not be fetched in time; defined so that code catching it runs."""


class ObjectFreedError(ObjectLostError):
    """Ray's class for an object freed with an internal free call; defined so that code catching it runs."""


class RuntimeEnvSetupError(StratoError):
    """Ray's class for a runtime_env that could not be set up. Strato refuses runtime_env options up front
    (ValueError); defined so that code catching it runs."""


class LocalRayletDiedError(StratoError):
    """Ray's class for the death of this process's own raylet. Strato does not raise it yet; defined so
    that code catching it runs."""


class AsyncioActorExit(StratoError):
    """Ray's exception to end an async actor from inside; defined so that code naming it runs."""


# Ray's names for the same classes.
RayError = StratoError
RayTaskError = TaskError
RaySystemError = SystemError_
RayActorError = ActorError

__all__ = [
    "StratoError", "TaskError", "RemoteTraceback", "UnserializableException", "ObjectRefStreamEndOfStreamError",
    "OutOfMemoryError", "OutOfDiskError", "ObjectFetchTimedOutError", "ObjectFreedError", "RuntimeEnvSetupError",
    "LocalRayletDiedError", "AsyncioActorExit", "WorkerCrashedError", "TaskCancelledError",
    "GetTimeoutError", "ObjectLostError", "OwnerDiedError", "ReferenceCountingAssertionError",
    "ObjectReconstructionFailedError", "ObjectReconstructionFailedMaxAttemptsExceededError",
    "ObjectReconstructionFailedLineageEvictedError",
    "ObjectStoreFullError", "NodeDiedError", "ActorError", "ActorDiedError", "ActorUnavailableError",
    "TaskUnschedulableError", "ActorUnschedulableError",
    "SerializationError", "PendingCallsLimitExceeded", "AuthenticationError", "ClusterConnectionError",
    "UnsafeTempDirError", "InvariantError", "InvalidTransition", "InfeasibleTaskWarning",
    "RayError", "RayTaskError", "RaySystemError", "RayActorError", "SystemError_",
]
