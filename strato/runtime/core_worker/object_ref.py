"""ObjectRef: a future for a value in the cluster, named by id and owner.

Creating a ref adds one local reference at its core worker; garbage
collecting it removes one (reference_table.py decides when the value can
go). A ref pickles as (id, owner address) and comes back as a borrowed ref
of the process that unpickles it, which registers with the owner as a borrower.
"""
from __future__ import annotations

import asyncio
import concurrent.futures

from strato import _context
from strato.runtime import serialization
from strato.runtime.ids import TASK_ID_LEN


class ObjectRef:
    __slots__ = ("_id", "_owner", "_worker", "__weakref__")

    def __init__(self, object_id: bytes, owner_address: str, worker, add_ref: bool = True):
        self._id = object_id
        self._owner = owner_address
        self._worker = worker
        if add_ref and worker is not None:
            worker.add_local_ref(object_id, owner_address)

    def __del__(self):
        worker = self._worker
        if worker is not None:
            try:
                worker.remove_local_ref(self._id)
            except Exception:  # interpreter shutdown, worker gone
                pass

    def binary(self) -> bytes:
        return self._id

    def hex(self) -> str:
        return self._id.hex()

    def task_id(self) -> str:
        return self._id[:TASK_ID_LEN].hex()

    @property
    def owner_address(self) -> str:
        return self._owner

    def __eq__(self, other):
        return isinstance(other, ObjectRef) and other._id == self._id

    def __hash__(self):
        return hash(self._id)

    def __repr__(self):
        return f"ObjectRef({self._id.hex()})"

    def __reduce__(self):
        serialization.record_ref(self)
        return (_rebuild_ref, (self._id, self._owner))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def future(self) -> concurrent.futures.Future:
        """A concurrent.futures.Future that completes with the value (or its error)."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if self._worker is None or self._worker is not _context.worker():    # from before shutdown() + init()
            fut.set_exception(ValueError(
                f"The owner of {self!r} is unknown: it was made before strato.shutdown() (or by another "
                f"connection), and its objects went with that session. Make the objects again."))
            return fut
        self._worker.on_ready(self, fut)
        return fut

    def __await__(self):
        return asyncio.wrap_future(self.future()).__await__()

    def as_future(self) -> asyncio.Future:
        return asyncio.wrap_future(self.future())


def _rebuild_ref(object_id: bytes, owner_address: str) -> ObjectRef:
    worker = serialization.current_worker()
    if worker is None:      # unpickled by user code (pickle.loads): a ref of this process's worker
        worker = _context.worker()
    ref = ObjectRef(object_id, owner_address, worker, add_ref=False)
    if worker is not None:
        worker.add_deserialized_ref(object_id, owner_address)
    return ref
