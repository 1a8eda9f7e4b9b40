"""Turning values into bytes for the cluster and back.

Values are pickled with cloudpickle (protocol 5), so lambdas, closures and
classes defined in a notebook travel by value. An `ObjectRef` pickles as its
id and its owner's address; while `serialize` runs, every ref it meets is
recorded, so the caller learns which refs a value contains (refs nested in
lists, dicts, objects stay refs on the other side). `deserialize` rebuilds
those refs against the core worker it is given, which registers the borrowed
ones with their owners (core_worker/reference_table.py).
"""
from __future__ import annotations

import contextlib
import pickle
import threading

import cloudpickle

from strato.exceptions import SerializationError

_local = threading.local()


def serialize(value, what: str = "value", buffer_callback=None) -> tuple[bytes, list]:
    """Return (bytes, refs contained in value). Raises SerializationError.

    With `buffer_callback`, large buffers (numpy, Arrow) are handed to it out of band (PEP 574)
    instead of being copied into the stream; the object store lays them out in shared memory.
    """
    if _plain(value, 2):   # builtins only: the C pickler, ~10x cheaper than cloudpickle's setup
        return pickle.dumps(value, protocol=5), []
    refs: list = []
    outer = getattr(_local, "refs", None)
    _local.refs = refs
    try:
        data = cloudpickle.dumps(value, protocol=5, buffer_callback=buffer_callback)
    except Exception as exc:
        raise SerializationError(
            f"Could not serialize the {what} ({type(value).__name__}): {type(exc).__name__}: {exc}. "
            f"Objects such as open files, locks, sockets and generators cannot be sent to the cluster; "
            f"create them inside the task instead, or pass what is needed to rebuild them.") from exc
    finally:
        _local.refs = outer
    return data, refs


_ATOMS = (type(None), bool, int, float, str, bytes)


def _plain(value, depth: int) -> bool:
    """Is value made only of builtin scalars, in small tuples/lists/dicts (no refs, no code)?"""
    t = type(value)
    if t in _ATOMS:
        return t is not bytes or len(value) < 65536
    if depth == 0:
        return False
    if t is tuple or t is list:
        return len(value) <= 16 and all(_plain(v, depth - 1) for v in value)
    if t is dict:
        return len(value) <= 16 and all(type(k) is str and _plain(v, depth - 1) for k, v in value.items())
    return False


@contextlib.contextmanager
def recording_refs():
    """Collect the refs that whatever pickling runs inside the block meets (e.g. refs captured
    in a remote function's closure)."""
    refs: list = []
    outer = getattr(_local, "refs", None)
    _local.refs = refs
    try:
        yield refs
    finally:
        _local.refs = outer


def record_ref(ref) -> None:
    """Called by ObjectRef.__reduce__: note that the value being serialized holds `ref`."""
    refs = getattr(_local, "refs", None)
    if refs is not None:
        refs.append(ref)


@contextlib.contextmanager
def deserialization_context(worker):
    """Refs rebuilt inside the block are borrowed refs of `worker`, registered with their owners."""
    prev, prev_mode = getattr(_local, "worker", None), getattr(_local, "ref_mode", "register")
    _local.worker, _local.ref_mode = worker, "register"
    try:
        yield
    finally:
        _local.worker, _local.ref_mode = prev, prev_mode


def current_worker():
    return getattr(_local, "worker", None)


def deserialize(data: bytes, worker, task_arguments: bool = False, loads=pickle.loads):
    """Rebuild a value; refs in it become refs of `worker`. `task_arguments`: the value is a
    running task's arguments, whose refs the task's submitter holds until the task ends."""
    return _loads_with(data, worker, "defer" if task_arguments else "register", loads)


def load_definition(data: bytes, worker, loads):
    """Unpickle an exported function or class. Refs captured in it are held by the definition in
    the driver and by the pending tasks (or live actors) made from it, not by this copy: they are
    not registered as borrowed, so a worker that cached the definition does not keep them forever."""
    return _loads_with(data, worker, "held elsewhere", loads)


def _loads_with(data, worker, mode: str, loads):
    prev, prev_mode = getattr(_local, "worker", None), getattr(_local, "ref_mode", "register")
    _local.worker, _local.ref_mode = worker, mode
    try:
        return loads(data)
    finally:
        _local.worker, _local.ref_mode = prev, prev_mode


def ref_mode() -> str:
    """How refs being rebuilt now are counted: "register" (a borrower tells the owner), "defer"
    (only if still held when the running task ends) or "held elsewhere" (never registered)."""
    return getattr(_local, "ref_mode", "register")
