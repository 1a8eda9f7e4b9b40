"""`get`, `wait` and futures of object refs: waiting on the memory store, fetching borrowed objects.

    get(refs) / wait(refs)  ->  memory store (memory_store.py): owned results arrive when
                                their tasks finish; borrowed ones are fetched from their owner
                                (GetObject), once per object however many wait for it
                            ->  large values are read from the node's shared-memory store
                                (node_store.py); a copy that is gone (its node died) is rebuilt
                                by its owner from lineage (recover_lost, submitter.reconstruct)

A worker that blocks in `get` inside a task tells its raylet, which may
lend its CPU to another worker meanwhile (`blocking_notice`, set in workers).
`serve` is the owner's side of GetObject: a borrower's request is answered
as soon as the owned object is there.
"""
from __future__ import annotations

import logging
import threading
import time

from strato import exceptions
from strato.runtime import serialization
from strato.runtime.core_worker.memory_store import StoredObject
from strato.runtime.core_worker.object_ref import ObjectRef
from strato.runtime.protocol import messages as m
from strato.runtime.protocol import raylet_pb2

logger = logging.getLogger(__name__)


class Getter:
    def __init__(self, cw, blocking_notice: bool):
        self.cw = cw
        self.blocking_notice = blocking_notice   # a worker: tell the raylet while a task blocks in get
        self._fetching: set[bytes] = set()       # borrowed objects being asked of their owners

    def get_one(self, ref: ObjectRef, timeout: float | None):
        """get([ref])[0], without the lists and dicts when the value is here already (strato.get(ref))."""
        cw = self.cw
        obj = cw.store.get(ref._id)
        if obj is None or obj.is_error:
            return self.get([ref], timeout)[0]
        try:
            return cw.node_store.deserialize(ref._id, obj.data, cw)
        except exceptions.ObjectLostError:
            return self.get([ref], timeout)[0]

    def get(self, refs: list[ObjectRef], timeout: float | None):
        objs = self.wait_objects(refs, len(refs), timeout, raise_timeout=True)
        out = []
        cw = self.cw
        read = cw.node_store.deserialize
        for ref in refs:
            obj = objs[ref._id]
            if obj.is_error:
                value = serialization.deserialize(obj.data, cw)
            else:
                try:
                    value = read(ref._id, obj.data, cw)
                except exceptions.ObjectLostError:
                    obj, value = self.recover_lost(ref, obj.data, timeout)
            if obj.is_error:
                if isinstance(value, exceptions.TaskError):
                    raise value.as_instanceof_cause()
                raise value
            out.append(value)
        return out

    def recover_lost(self, ref: ObjectRef, seen: bytes, timeout: float | None, attempts: int = 5):
        """Reading `ref` failed: the store copy `seen` names is gone. The owner rebuilds it from its
        lineage (submitter.reconstruct), or stores the error saying why it cannot; a borrower tells
        the owner, then asks it again (an owner that died answers OwnerDiedError). -> (obj, value)"""
        cw, oid = self.cw, ref._id
        for _ in range(attempts):
            if cw.refs.owned(oid):
                if cw.submitter is None:
                    raise exceptions.ObjectLostError(f"Object {oid.hex()} was lost and this process cannot rebuild it.")
                done = threading.Event()
                cw.post(cw.submitter.reconstruct, None, m.make(m.ObjectLost, (oid, seen)))
                cw.post(done.set)                   # the inbox runs in order: the rebuild has started after this
                done.wait(10)
            else:
                cw.store.delete([oid])
                cw.post(self.fetch_borrowed, oid, ref._owner, seen)
            obj = self.wait_objects([ref], 1, timeout, raise_timeout=True)[oid]
            if obj.is_error:
                return obj, serialization.deserialize(obj.data, cw)
            try:
                return obj, cw.node_store.deserialize(oid, obj.data, cw)
            except exceptions.ObjectLostError:
                seen = obj.data
        raise exceptions.ObjectReconstructionFailedError(
            f"Object {oid.hex()} was lost {attempts} times in a row while being read; giving up.")

    def wait_objects(self, refs: list[ObjectRef], num_ready: int, timeout: float | None,
                     raise_timeout: bool) -> dict[bytes, StoredObject]:
        """Block until `num_ready` of `refs` are available here; returns those that are."""
        found: dict[bytes, StoredObject] = {}
        missing: dict[bytes, ObjectRef] = {}
        stored = self.cw.store.get
        for ref in refs:
            obj = stored(ref._id)
            if obj is not None:
                found[ref._id] = obj
            else:
                missing[ref._id] = ref
        if len(found) >= num_ready or not missing:
            return found
        cond = threading.Condition(threading.Lock())
        arrived: dict[bytes, StoredObject] = {}

        def on_arrival(oid, obj):
            with cond:
                arrived[oid] = obj
                cond.notify()

        registered = []
        for oid, ref in missing.items():
            obj = self.cw.store.get_or_wait(oid, on_arrival)
            if obj is not None:
                arrived[oid] = obj
            else:
                registered.append(oid)
                if not self.cw.refs.owned(oid):
                    self.cw.post(self.fetch_borrowed, oid, ref._owner)
        need = num_ready - len(found)
        deadline = None if timeout is None else time.monotonic() + timeout
        blocked = self._notify_blocked(True) if (self.blocking_notice and self.cw.current_task_id) else False
        try:
            with cond:
                while len(arrived) < need:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    cond.wait(remaining)
        finally:
            for oid in registered:
                self.cw.store.remove_waiter(oid, on_arrival)
            if blocked:
                self._notify_blocked(False)
        found.update(arrived)
        if len(found) < num_ready and raise_timeout:
            raise exceptions.GetTimeoutError(
                f"Get timed out: {len(refs) - len(found)} of {len(refs)} object(s) not ready after {timeout} s. "
                f"Raise the timeout, or use strato.wait() to collect the ready ones.")
        return found

    def _notify_blocked(self, blocked: bool) -> bool:
        req = raylet_pb2.NotifyWorkerBlockedRequest(worker_id=self.cw.worker_id, blocked=blocked)
        try:
            self.cw.run_sync(self.cw.raylet.call("NotifyWorkerBlocked", req), timeout=10)
        except Exception as exc:
            logger.warning("could not tell the raylet this worker is %s: %s",
                           "blocked" if blocked else "unblocked", exc)
        return True

    def on_ready(self, ref: ObjectRef, fut) -> None:
        """Complete a concurrent.futures.Future with ref's value or error."""
        def deliver(oid, obj):
            if fut.done():
                return
            try:
                value = (serialization.deserialize(obj.data, self.cw) if obj.is_error
                         else self.cw.node_store.deserialize(oid, obj.data, self.cw))
            except Exception as exc:
                fut.set_exception(exc)
                return
            if obj.is_error:
                fut.set_exception(value.as_instanceof_cause() if isinstance(value, exceptions.TaskError) else value)
            else:
                fut.set_result(value)

        # The future keeps the ref alive until it completes.
        fut.add_done_callback(lambda _f, _ref=ref: None)
        obj = self.cw.store.get_or_wait(ref._id, deliver)
        if obj is not None:
            deliver(ref._id, obj)
        elif not self.cw.refs.owned(ref._id):
            self.cw.post(self.fetch_borrowed, ref._id, ref._owner)

    def fetch_borrowed(self, oid: bytes, owner: str, lost: bytes = b"") -> None:
        """Ask the owner for a borrowed object; `lost`: first tell it the copy these bytes name is gone."""
        if oid in self._fetching or oid in self.cw.store:
            return
        self._fetching.add(oid)
        self.cw.loop.create_task(self._fetch(oid, owner, lost))

    async def _fetch(self, oid: bytes, owner: str, lost: bytes = b""):
        try:
            conn = await self.cw.connect(owner)
            if lost:
                conn.send(m.ObjectLost(oid, lost))  # same connection, so the owner sees it before the GetObject
            data, is_error = await conn.request(m.GetObject, oid)
            obj = StoredObject(data, is_error)
        except (ConnectionError, OSError, PermissionError) as exc:
            err = exceptions.OwnerDiedError(
                f"Object {oid.hex()} is lost: its owner at {owner} is unreachable ({exc}). The process that "
                f"created it (with .remote() or put) has exited; keep the creating process alive while the "
                f"object is in use.")
            obj = StoredObject(serialization.serialize(err)[0], True)
        finally:
            self._fetching.discard(oid)
        self.cw.store_result(oid, obj)

    def serve(self, conn, msg: m.GetObject) -> None:
        """The owner's side: answer a borrower's GetObject now, or when the object arrives."""
        cw = self.cw
        req_id, oid = msg.req_id, msg.oid

        def reply(_oid, obj):
            if threading.get_ident() == cw.io.ident:
                conn.reply(req_id, (obj.data, obj.is_error))
            else:
                cw.loop.call_soon_threadsafe(conn.reply, req_id, (obj.data, obj.is_error))

        with cw._lock:
            known = oid in cw.refs
            obj = cw.store.get_or_wait(oid, reply) if known else None
        if obj is not None:
            reply(oid, obj)
        elif not known:
            err = exceptions.ObjectLostError(
                f"Object {oid.hex()} was already freed by its owner {cw.address}: no reference to it "
                f"remained there.")
            conn.reply(req_id, (serialization.serialize(err)[0], True))
