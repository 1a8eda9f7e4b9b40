"""Runs tasks -- or one actor -- in a worker process.

    IO thread (core worker loop)            executing side
    PushTask / ActorCall   --> queue  --->  main thread: load the function (or method),
    CreateActor            --> queue  --->    rebuild arguments, run, serialize returns,
    CancelTask --> drop if queued,            register borrowed refs still held, then
                   SIGINT if running          post TaskDone / ActorDone back
    (messages: protocol/messages.py; `handlers()` is the executor's part of the dispatch table)

Tasks run one at a time in the main thread, in arrival order. A worker that
receives CreateActor becomes that actor's process for good: a plain actor
runs its calls in the main thread, one at a time and in order; a threaded
actor (max_concurrency > 1) on a pool of that many threads; an async actor
(any `async def` method) on one event loop of its own, up to max_concurrency
calls at once. A non-forced cancel of the running task raises
TaskCancelledInterrupt (a KeyboardInterrupt) inside it, through SIGINT
delivered to the main thread so even `time.sleep` wakes; a forced cancel
ends the process and the owner reports the task cancelled.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import os
import queue
import signal
import threading
import time
import traceback

import cloudpickle

from strato import exceptions
from strato.runtime import ids, serialization
from strato.runtime.core_worker.generators import STREAMING, DynamicItems
from strato.runtime.core_worker.object_ref import ObjectRef
from strato.runtime.protocol import messages as m

logger = logging.getLogger(__name__)


class TaskCancelledInterrupt(KeyboardInterrupt):
    pass


class Executor:
    def __init__(self, cw):
        self.cw = cw
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled: set[bytes] = set()
        self.running: bytes | None = None
        self.cancel_target: bytes | None = None
        self.main_ident = threading.main_thread().ident
        self.instance = None                 # the actor, once created
        self.actor_name = ""
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.actor_loop: asyncio.AbstractEventLoop | None = None
        self.actor_slots: asyncio.Semaphore | None = None
        self.exit_code: int | None = None    # set when a task called sys.exit(): the process ends after it
        signal.signal(signal.SIGINT, self._on_sigint)

    # ----------------------------------------------------- IO-thread side
    def handlers(self) -> dict:
        """The messages a worker's core worker hands the executor (protocol/messages.py)."""
        return {m.PushTask: self._on_push_task, m.ActorCall: self._on_actor_call,
                m.CreateActor: self._on_create_actor, m.CancelTask: self._on_cancel_task}

    def _on_push_task(self, conn, msg: m.PushTask) -> None:
        self.queue.put(("task", conn, msg))

    def _on_actor_call(self, conn, msg: m.ActorCall) -> None:
        if self.pool is not None:
            self.pool.submit(self._call_and_send, conn, msg)
        elif self.actor_loop is not None:
            asyncio.run_coroutine_threadsafe(self._async_call_and_send(conn, msg), self.actor_loop)
        else:
            self.queue.put(("call", conn, msg))

    def _on_create_actor(self, conn, msg: m.CreateActor) -> None:
        self.queue.put(("create", conn, msg))

    def _on_cancel_task(self, conn, msg: m.CancelTask) -> None:
        task_id, force = msg.task_id, msg.force
        # Cancel what this task submitted too (Ray's recursive=True), before it goes.
        for child in [e.task_id for e in self.cw.submitter.tasks.values() if e.parent_task_id == task_id]:
            self.cw.submitter.cancel(child, force)
        if self.running == task_id:
            if force:
                logger.info("force-cancelling task %s: exiting", task_id.hex())
                os._exit(1)
            self.cancel_target = task_id
            signal.pthread_kill(self.main_ident, signal.SIGINT)
        else:
            self.cancelled.add(task_id)

    def on_connection_lost(self, conn) -> None:
        pass  # queued work of a vanished owner is skipped when dequeued (conn.closed)

    def _on_sigint(self, signum, frame):
        if self.cancel_target is not None and self.cancel_target == self.running:
            raise TaskCancelledInterrupt()

    # ----------------------------------------------------- main thread
    def run_forever(self) -> None:
        while True:
            kind, conn, payload = self.queue.get()
            if conn.closed:
                continue
            if kind == "task":
                msg = self.execute(payload)
            elif kind == "call":
                msg = self._call(payload)
            else:
                reply = self._create_actor(payload.actor_id, payload.spec, payload.job_id)   # borrows first
                self.cw.post(self.cw.borrowing.send_gated, _reply, conn, payload.req_id, reply)
                continue
            self._send_done(conn, msg)
            if self.exit_code is not None:
                self._exit_after_reply()

    def _exit_blob(self, exc: SystemExit, name: str, ends_process: bool) -> bytes:
        """A task's worker is shared by later tasks (a lease may have more queued for it), so it is not
        ended; an actor's process is the actor's, and ends as the actor asked."""
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if ends_process:
            self.exit_code = code
        what = (f"which ends the actor's process (pid {os.getpid()})" if ends_process else
                "which does not end a task's shared worker process: the worker goes on with other tasks")
        err = exceptions.WorkerCrashedError(
            f"{name}() exited with code {code}: it called sys.exit({exc.code!r}) (or raised SystemExit), {what}. "
            f"Return or raise an exception instead to end just the call.", exit_code=code)
        return serialization.serialize(err)[0]

    def _exit_after_reply(self) -> None:
        """The task called sys.exit(): once its reply is on its way, this process exits with its code."""
        sent = threading.Event()
        self.cw.post(sent.set)            # after send_done, which was posted first
        sent.wait(5)
        time.sleep(0.05)
        for stream in self.cw.output_streams:
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(self.exit_code)

    def _send_done(self, conn, msg: m.TaskDone | m.ActorDone) -> None:
        """Any thread: the task's borrowed refs are registered first, then the result goes."""
        self.cw.borrowing.register_task_borrows()
        self.cw.post(self.cw.borrowing.send_done, conn, msg)

    def execute(self, spec: m.PushTask) -> m.TaskDone:
        (task_id, attempt, job_id, fid, name, args_blob, inlined, num_returns, owner, parent, tag, sink,
         group) = spec
        if task_id in self.cancelled:
            self.cancelled.discard(task_id)
            return self._cancelled(m.TaskDone, task_id, attempt, num_returns, 0.0)
        self.cw.job_id = job_id
        self.cw.current_placement_group = group      # its child tasks may go to the same group
        try:
            return self._run(m.TaskDone, task_id, attempt, name, num_returns, tag, sink,
                             lambda: self.cw.load_function(fid), args_blob, inlined, owner=owner)
        finally:
            self.cw.current_placement_group = None

    def _run(self, done_kind, task_id, attempt, name, num_returns, tag, sink, get_fn, args_blob, inlined,
             main_thread: bool = True, owner: str = "") -> tuple:
        cw = self.cw
        t0 = time.perf_counter()
        if main_thread:
            self.running = task_id
        cw.current_task_id, cw.current_task_name = task_id, name
        cw.current_tag, cw.current_log_sink = tag, sink
        cw.record_event(task_id, name, "RUNNING", attempt, actor_id=cw.actor_id or b"")
        try:
            try:
                fn = get_fn()
                args, kwargs = task_arguments(args_blob, inlined, cw)
                result = fn(*args, **kwargs)
                results = self._serialize_returns(result, num_returns, name, task_id, owner)
                status = "ok"
            except TaskCancelledInterrupt:
                return self._cancelled(done_kind, task_id, attempt, num_returns, time.perf_counter() - t0)
            except Exception as exc:
                status, results = "error", [(self._error_blob(exc, name), True, None)] * _slots(num_returns)
            except KeyboardInterrupt:      # raised by the task's own code: Ray reports a cancellation
                return self._cancelled(done_kind, task_id, attempt, num_returns, time.perf_counter() - t0,
                                       f"Task {name}() was cancelled: it raised KeyboardInterrupt.")
            except SystemExit as exc:      # sys.exit(): an actor's process ends after replying; a task's lives on
                status, results = "error", [(self._exit_blob(exc, name, done_kind is m.ActorDone), True, None)] \
                    * _slots(num_returns)
            finally:
                for stream in cw.output_streams:
                    stream.end_task()
                if done_kind is m.ActorDone or cw.actor_id is None:   # the caller reports where and when it ran
                    cw.end_running_event(task_id)
                if main_thread:
                    self.running = None
                    self.cancel_target = None
                cw.current_task_id, cw.current_task_name = None, ""
        except TaskCancelledInterrupt:  # landed between the user's code and the bookkeeping above
            return self._cancelled(done_kind, task_id, attempt, num_returns, time.perf_counter() - t0)
        return self._done_message(done_kind, task_id, attempt, status, results, time.perf_counter() - t0)

    def _done_message(self, kind, task_id, attempt, status, results, elapsed):
        """kind (TaskDone or ActorDone) of [(bytes, is_error)] per return; refs nested in the returns
        are held here until the caller has taken them over."""
        nested = None
        if status == "ok" and any(n for _, _, n in results):
            nested = [n for _, _, n in results]
            self.cw.borrowing.hold_in_transit(nested)
        return m.make(kind, (task_id, attempt, status, [(d, e) for d, e, _ in results], elapsed, nested))

    # ------------------------------------------------------------- actors
    def _create_actor(self, actor_id: bytes, spec_blob: bytes, job_id: bytes) -> tuple:
        (cls_fid, args_blob, inlined, dep_error, class_name, max_concurrency, is_async, tag,
         sink) = cloudpickle.loads(spec_blob)
        cw = self.cw
        cw.actor_id, cw.job_id, self.actor_name = actor_id, job_id, class_name
        if dep_error is not None:
            text = "an argument of the constructor is an error"
            try:
                err = serialization.deserialize(dep_error, cw)
                text = f"an argument of the constructor is an error: {err}"
            except Exception:
                pass
            return ("error", dep_error, text)
        holder = {}

        def construct():
            cls = cw.load_function(cls_fid)

            def init(*args, **kwargs):
                holder["instance"] = cls(*args, **kwargs)
            return init

        msg = self._run(m.TaskDone, actor_id[:16], 0, f"{class_name}.__init__", 1, tag, sink, construct,
                        args_blob, inlined)      # the constructor's outcome (not sent: the reply says it)
        self.cw.borrowing.register_task_borrows()
        if msg.status != "ok":
            blob = msg.results[0][0]
            err = serialization.deserialize(blob, cw)
            cause = getattr(err, "cause", None)
            return ("error", blob, f"{type(cause).__name__}: {cause}" if cause is not None else str(err))
        self.instance = holder["instance"]
        if is_async:
            self.actor_loop = asyncio.new_event_loop()
            self.actor_slots = asyncio.Semaphore(max_concurrency)
            threading.Thread(target=self.actor_loop.run_forever, name="strato-actor-loop", daemon=True).start()
        elif max_concurrency > 1:
            self.pool = concurrent.futures.ThreadPoolExecutor(max_concurrency, thread_name_prefix="strato-actor")
        return ("ok",)

    def _method(self, method: str):
        builtin = _BUILTIN_METHODS.get(method)
        if builtin is not None:
            return lambda: builtin
        return lambda: getattr(self.instance, method)

    def _call(self, wire: m.ActorCall, main_thread: bool = True) -> m.ActorDone:
        (task_id, attempt, job_id, method, name, args_blob, inlined, num_returns, caller, seq, tag, sink) = wire
        return self._run(m.ActorDone, task_id, attempt, name, num_returns, tag, sink, self._method(method),
                         args_blob, inlined, main_thread=main_thread, owner=caller)

    def _call_and_send(self, conn, wire: m.ActorCall) -> None:
        self._send_done(conn, self._call(wire, main_thread=False))

    async def _async_call_and_send(self, conn, wire: m.ActorCall) -> None:
        (task_id, attempt, job_id, method, name, args_blob, inlined, num_returns, caller, seq, tag, sink) = wire
        cw = self.cw
        async with self.actor_slots:
            t0 = time.perf_counter()
            cw.current_task_id, cw.current_task_name = task_id, name
            cw.current_tag, cw.current_log_sink = tag, sink
            try:
                args, kwargs = task_arguments(args_blob, inlined, cw)
                result = (_BUILTIN_METHODS.get(method) or getattr(self.instance, method))(*args, **kwargs)
                if asyncio.iscoroutine(result) and not inspect.isgenerator(result):   # (3.11: a generator is one)
                    result = await result
                if num_returns < 0 and inspect.isasyncgen(result):      # an async generator method
                    results, status = await self._stream_items_async(result, num_returns, name, task_id, caller), "ok"
                else:
                    results, status = self._serialize_returns(result, num_returns, name, task_id, caller), "ok"
            except Exception as exc:
                status, results = "error", [(self._error_blob(exc, name), True, None)] * _slots(num_returns)
            finally:
                for stream in cw.output_streams:
                    stream.end_task()
        self._send_done(conn, self._done_message(m.ActorDone, task_id, attempt, status, results,
                                                 time.perf_counter() - t0))

    # ------------------------------------------------------------ results
    def _serialize_returns(self, result, num_returns: int, name: str, task_id: bytes | None = None,
                           owner: str = "") -> list:
        """[(bytes, False, nested)] per return; nested: [(id, owner)] of the refs inside it, or None."""
        if num_returns == 1:
            values = [result]
        elif num_returns == 0:
            values = []
        elif num_returns < 0:                       # a generator task: its items stream to the owner
            return self._stream_items(result, num_returns, name, task_id, owner)
        else:
            if inspect.isgenerator(result):
                return self._fixed_generator(result, num_returns, name, task_id, owner)
            try:
                values = list(result)
            except TypeError:
                raise ValueError(f"{name}() was declared with num_returns={num_returns} but returned a "
                                 f"{type(result).__name__}, which is not iterable") from None
            if len(values) != num_returns:
                raise ValueError(f"{name}() was declared with num_returns={num_returns} but returned "
                                 f"{len(values)} values")
        return self._serialize_values(values, name, task_id, owner)

    def _serialize_values(self, values: list, name: str, task_id: bytes | None, owner: str) -> list:
        out = []
        for i, v in enumerate(values):
            what = f"return value of {name}()"
            if task_id is not None and self.cw.node_store is not None:   # large ones go to the node's store
                data, contained = self.cw.node_store.serialize(v, what, ids.object_id(task_id, i), owner=owner,
                                                               call_site=f"{name}() return", replace=True)
            else:
                data, contained = serialization.serialize(v, what)
            out.append((data, False, [(r._id, r._owner) for r in contained] or None))
        return out

    def _error_blob(self, exc: BaseException, name: str) -> bytes:
        tb = exc.__traceback__
        # Hide the executor's own frames: the traceback starts in the user's code.
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        err = exceptions.TaskError(name, text, exc, os.getpid(), self.cw.node_ip)
        try:
            return serialization.serialize(err)[0]
        except Exception:
            return serialization.serialize(exceptions.TaskError(name, text, None, os.getpid(), self.cw.node_ip))[0]

    def _cancelled(self, done_kind, task_id, attempt, num_returns, elapsed, message: str = ""):
        blob = serialization.serialize(exceptions.TaskCancelledError(task_id.hex(), message))[0]
        return done_kind(task_id, attempt, "cancelled", [(blob, True)] * _slots(num_returns), elapsed, None)

    # ---------------------------------------------------------- generators
    def _fixed_generator(self, gen, num_returns: int, name: str, task_id, owner: str) -> list:
        """num_returns=N from a generator: its first N items; when it raises after k < N of them, the k
        values and the error in the other returns (as Ray)."""
        values, error = [], None
        try:
            for value in gen:
                values.append(value)
                if len(values) == num_returns:
                    break
        except Exception as exc:
            error = self._error_blob(exc, name)
        if error is None and len(values) < num_returns:
            raise ValueError(f"{name}() was declared with num_returns={num_returns} but its generator yielded "
                             f"{len(values)} value(s)")
        out = self._serialize_values(values, name, task_id, owner)
        return out + [(error, True, None)] * (num_returns - len(out))

    def _stream_items(self, gen, num_returns: int, name: str, task_id: bytes, owner: str) -> list:
        """A generator task (num_returns STREAMING or DYNAMIC, core_worker/generators.py): each item goes
        to the owner as it is yielded; an exception the generator raises goes as its last item. The
        return: the number of items (DYNAMIC: what rebuilds as their refs)."""
        if not inspect.isgenerator(gen):
            raise TypeError(f"{name}() runs as a streaming generator but returned a {type(gen).__name__}: "
                            f"make it yield its items.")
        count = 0
        while True:
            try:
                item = next(gen)
            except StopIteration:
                break
            except Exception as exc:         # cancellation (a KeyboardInterrupt) ends the task instead
                self._send_item(owner, task_id, count, self._error_blob(exc, name), True, None)
                count += 1
                break
            self._send_item(owner, task_id, count, *self._serialize_item(item, name, task_id, count, owner))
            count += 1
        return self._stream_end(num_returns, task_id, count, owner)

    async def _stream_items_async(self, agen, num_returns: int, name: str, task_id: bytes, owner: str) -> list:
        count = 0
        while True:
            try:
                item = await agen.__anext__()
            except StopAsyncIteration:
                break
            except Exception as exc:
                self._send_item(owner, task_id, count, self._error_blob(exc, name), True, None)
                count += 1
                break
            self._send_item(owner, task_id, count, *self._serialize_item(item, name, task_id, count, owner))
            count += 1
        return self._stream_end(num_returns, task_id, count, owner)

    def _serialize_item(self, item, name: str, task_id: bytes, index: int, owner: str) -> tuple:
        """(bytes, False, nested) of item `index`: object (task_id, index + 1), owned by the caller."""
        what = f"item {index} of {name}()"
        if self.cw.node_store is not None:
            data, contained = self.cw.node_store.serialize(item, what, ids.object_id(task_id, index + 1),
                                                           owner=owner, call_site=f"{name}() item", replace=True)
        else:
            data, contained = serialization.serialize(item, what)
        inner = [(r._id, r._owner) for r in contained]
        return data, False, ([inner] if inner else None)

    def _send_item(self, owner: str, task_id: bytes, index: int, data: bytes, is_error: bool, nested) -> None:
        msg = m.make(m.GeneratorItem, (task_id, index, data, is_error, nested))
        if nested is not None:            # refs inside it stay alive here until the owner took them over
            self.cw.borrowing.hold_in_transit(nested)
            self.cw.borrowing.register_task_borrows()
        self.cw.post(self._post_item, owner, msg)

    def _post_item(self, owner: str, msg) -> None:
        """Loop thread: to the owner over any connection (the owner waits for as many as the end counts)."""
        conn = self.cw.cached_connection(owner)
        if conn is not None:
            self.cw.borrowing.send_done(conn, msg)
        else:
            self.cw.loop.create_task(self._connect_and_send(owner, msg))

    async def _connect_and_send(self, owner: str, msg) -> None:
        try:
            conn = await self.cw.connect(owner)
        except Exception as exc:
            logger.warning("generator item for %s not delivered: %s", owner, exc)
            return
        self.cw.borrowing.send_done(conn, msg)

    def _stream_end(self, num_returns: int, task_id: bytes, count: int, owner: str) -> list:
        value = count if num_returns == STREAMING else DynamicItems(task_id, count, owner)
        return [(serialization.serialize(value)[0], False, None)]


def _slots(num_returns: int) -> int:
    """How many returns a task has: a generator task (num_returns < 0) one, its completion."""
    return num_returns if num_returns >= 0 else 1


def task_arguments(args_blob: bytes, inlined: dict | None, cw) -> tuple[list, dict]:
    """A task's (args, kwargs): the caller's serialized arguments, with each top-level ObjectRef whose
    value came along (`inlined`: object id -> bytes, resolved by the owner before the push) replaced
    by that value. Refs nested inside arguments stay refs, as in Ray; refs rebuilt here are the
    running task's, counted only if still held when it ends (serialization.deserialize's
    task_arguments). An inlined value may be a marker of a large object: the node's store reads it."""
    args, kwargs = serialization.deserialize(args_blob, cw, task_arguments=True)
    if inlined:
        args = [_resolve(a, inlined, cw) for a in args]
        kwargs = {k: _resolve(v, inlined, cw) for k, v in kwargs.items()}
    return args, kwargs


def _resolve(value, inlined: dict, cw):
    if isinstance(value, ObjectRef) and value._id in inlined:
        data = inlined[value._id]
        try:
            return cw.node_store.deserialize(value._id, data, cw)
        except exceptions.ObjectLostError:          # its node died: the owner rebuilds it (lineage)
            obj, out = cw.getter.recover_lost(value, data, None)
            if obj.is_error:
                raise out.as_instanceof_cause() if isinstance(out, exceptions.TaskError) else out
            return out
    return value


def _reply(conn, req_id, value) -> None:
    if not conn.closed:
        conn.reply(req_id, value)


def _ready() -> bool:
    return True


def _terminate() -> None:
    from strato.actor import exit_actor
    exit_actor()


# The methods every actor has (strato.actor.BUILTIN_METHODS), answered here rather than by the instance.
_BUILTIN_METHODS = {"__ray_ready__": _ready, "__ray_terminate__": _terminate}
