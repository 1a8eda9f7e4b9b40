"""Capturing a worker's stdout/stderr and streaming it to the task's driver.

sys.stdout and sys.stderr of a worker become TaskOutputStreams: everything
is still written to the worker's log file, and while a task runs, complete
lines (and whatever is left when the task ends) are also sent as records to
the driver that submitted the task chain (OutputSender, over the worker's
framed connection to that driver, in the same frame order as the task's result). The
root logger writes through the captured stderr too, so a task's `logging`
reaches the driver; the runtime's own `strato.*` loggers write only to the
log file.
"""
from __future__ import annotations

import io
import logging
import os
import sys
import threading

from strato.runtime.protocol.messages import TaskOutput

logger = logging.getLogger(__name__)


class TaskOutputStream(io.TextIOBase):
    def __init__(self, name: str, original, cw):
        self.name_ = name
        self.original = original
        self.cw = cw
        self._buf: list[str] = []
        self._lock = threading.Lock()

    def writable(self):
        return True

    @property
    def encoding(self):
        return getattr(self.original, "encoding", "utf-8")

    def fileno(self):
        return self.original.fileno()

    def isatty(self):
        return False

    def write(self, text: str) -> int:
        self.original.write(text)
        if self.cw.current_task_id is not None and self.cw.current_log_sink:
            with self._lock:
                self._buf.append(text)
                if "\n" in text:
                    self._send_locked(upto_newline=True)
        return len(text)

    def flush(self):
        self.original.flush()

    def end_task(self) -> None:
        """Send whatever the task left without a newline."""
        with self._lock:
            self._send_locked(upto_newline=False)

    def _send_locked(self, upto_newline: bool) -> None:
        text = "".join(self._buf)
        if not text:
            return
        if upto_newline:
            cut = text.rfind("\n") + 1
            text, rest = text[:cut], text[cut:]
            self._buf = [rest] if rest else []
        else:
            self._buf = []
        if text:
            self.cw.output_sender.send(self.name_, text)


class OutputSender:
    """Any thread: queue a chunk a task printed for the driver that submitted its chain (the task's
    log sink); the loop thread sends it on the cached connection, or opens one."""

    def __init__(self, cw):
        self.cw = cw
        self._pending: dict[str, list] = {}     # sink -> records waiting for a connection

    def send(self, stream: str, text: str) -> None:
        cw = self.cw
        record = {"tag": cw.current_tag, "task_id": (cw.current_task_id or b"").hex(),
                  "task_name": cw.current_task_name, "pid": os.getpid(), "node_ip": cw.node_ip,
                  "stream": stream, "text": text}
        cw.post(self._queue, cw.current_log_sink, record)

    def _queue(self, sink: str, record: dict) -> None:
        conn = self.cw.cached_connection(sink)
        if conn is not None and sink not in self._pending:
            conn.send(TaskOutput([record]))      # same frame order as the task's result
            return
        pending = self._pending.get(sink)
        if pending is None:
            self._pending[sink] = [record]
            self.cw.loop.create_task(self._flush(sink))
        else:
            pending.append(record)

    async def _flush(self, sink: str) -> None:
        try:
            conn = await self.cw.connect(sink)
            conn.send(TaskOutput(self._pending.pop(sink, [])))
        except (ConnectionError, OSError, PermissionError) as exc:
            self._pending.pop(sink, None)
            logger.debug("driver %s gone; dropping task output: %s", sink, exc)


def capture(cw) -> tuple[TaskOutputStream, TaskOutputStream]:
    cw.output_sender = OutputSender(cw)
    out = TaskOutputStream("stdout", sys.stdout, cw)
    err = TaskOutputStream("stderr", sys.stderr, cw)
    sys.stdout, sys.stderr = out, err
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s")
    runtime = logging.StreamHandler(err.original)
    runtime.setFormatter(fmt)
    strato_logger = logging.getLogger("strato")
    strato_logger.addHandler(runtime)
    strato_logger.propagate = False
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    user = logging.StreamHandler(err)
    user.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(user)
    root.setLevel(logging.INFO)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return out, err
