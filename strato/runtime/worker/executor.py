"""Runs tasks in a worker process's main thread.

    IO thread (core worker loop)          main thread (this module)
    push_task  --> SimpleQueue  ------->  load function, rebuild arguments,
    cancel_task --> drop if queued,       run it, serialize returns,
                    SIGINT if running     post ("task_done", ...) back to the owner

Tasks run one at a time in arrival order. A non-forced cancel of the
running task raises TaskCancelledInterrupt (a KeyboardInterrupt) inside it,
through SIGINT delivered to the main thread so even `time.sleep` wakes; a
forced cancel ends the process, and the owner reports the task cancelled.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import traceback

from strato import exceptions
from strato.runtime import serialization
from strato.runtime.core_worker.object_ref import ObjectRef

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
        signal.signal(signal.SIGINT, self._on_sigint)

    # ----------------------------------------------------- IO-thread side
    def on_message(self, conn, msg: tuple) -> None:
        if msg[0] == "push_task":
            self.queue.put((conn, msg[1]))
        elif msg[0] == "cancel_task":
            task_id, force = msg[1], msg[2]
            if self.running == task_id:
                if force:
                    logger.info("force-cancelling task %s: exiting", task_id.hex())
                    os._exit(1)
                self.cancel_target = task_id
                signal.pthread_kill(self.main_ident, signal.SIGINT)
            else:
                self.cancelled.add(task_id)

    def on_connection_lost(self, conn) -> None:
        pass  # queued tasks of a vanished owner are skipped when dequeued (conn.closed)

    def _on_sigint(self, signum, frame):
        if self.cancel_target is not None and self.cancel_target == self.running:
            raise TaskCancelledInterrupt()

    # ----------------------------------------------------- main thread
    def run_forever(self) -> None:
        while True:
            conn, spec = self.queue.get()
            if conn.closed:
                continue
            msg = self.execute(spec)
            self.cw.loop.call_soon_threadsafe(_send, conn, msg)

    def execute(self, spec: tuple) -> tuple:
        (task_id, attempt, job_id, fid, name, args_blob, inlined, num_returns, owner, parent, tag, sink) = spec
        cw = self.cw
        if task_id in self.cancelled:
            self.cancelled.discard(task_id)
            return self._cancelled(task_id, attempt, num_returns, 0.0)
        t0 = time.perf_counter()
        self.running = task_id
        cw.current_task_id, cw.current_task_name, cw.job_id = task_id, name, job_id
        cw.current_tag, cw.current_log_sink = tag, sink
        try:
            try:
                fn = cw.load_function(fid)
                args, kwargs = serialization.deserialize(args_blob, cw)
                if inlined:
                    args = [_resolve(a, inlined, cw) for a in args]
                    kwargs = {k: _resolve(v, inlined, cw) for k, v in kwargs.items()}
                result = fn(*args, **kwargs)
                results = self._serialize_returns(result, num_returns, name)
                status = "ok"
            except TaskCancelledInterrupt:
                return self._cancelled(task_id, attempt, num_returns, time.perf_counter() - t0)
            except Exception as exc:
                status, results = "error", [(self._error_blob(exc, name), True)] * num_returns
            finally:
                for stream in cw.output_streams:
                    stream.end_task()
                self.running = None
                self.cancel_target = None
                cw.current_task_id, cw.current_task_name = None, ""
        except TaskCancelledInterrupt:  # landed between the user's code and the bookkeeping above
            return self._cancelled(task_id, attempt, num_returns, time.perf_counter() - t0)
        return ("task_done", task_id, attempt, status, results, time.perf_counter() - t0)

    def _serialize_returns(self, result, num_returns: int, name: str) -> list:
        if num_returns == 1:
            values = [result]
        elif num_returns == 0:
            values = []
        else:
            try:
                values = list(result)
            except TypeError:
                raise ValueError(f"{name}() was declared with num_returns={num_returns} but returned a "
                                 f"{type(result).__name__}, which is not iterable") from None
            if len(values) != num_returns:
                raise ValueError(f"{name}() was declared with num_returns={num_returns} but returned "
                                 f"{len(values)} values")
        out = []
        for v in values:
            data, contained = serialization.serialize(v, f"return value of {name}()")
            if contained:
                with self.cw._lock:
                    self.cw.refs.mark_escaped([r._id for r in contained])
            out.append((data, False))
        return out

    def _error_blob(self, exc: BaseException, name: str) -> bytes:
        tb = exc.__traceback__
        # Hide the executor's own frame: the traceback starts in the user's code.
        if tb is not None and tb.tb_frame.f_code is Executor.execute.__code__:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        err = exceptions.TaskError(name, text, exc, os.getpid(), self.cw.node_ip)
        try:
            return serialization.serialize(err)[0]
        except Exception:
            return serialization.serialize(exceptions.TaskError(name, text, None, os.getpid(), self.cw.node_ip))[0]

    def _cancelled(self, task_id, attempt, num_returns, elapsed) -> tuple:
        blob = serialization.serialize(exceptions.TaskCancelledError(task_id.hex()))[0]
        return ("task_done", task_id, attempt, "cancelled", [(blob, True)] * num_returns, elapsed)


def _resolve(value, inlined: dict, cw):
    if isinstance(value, ObjectRef) and value._id in inlined:
        return serialization.deserialize(inlined[value._id], cw)
    return value


def _send(conn, msg) -> None:
    if not conn.closed:
        conn.send(msg)
