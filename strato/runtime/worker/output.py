"""Capturing a worker's stdout/stderr and streaming it to the task's driver.

sys.stdout and sys.stderr of a worker become TaskOutputStreams: everything
is still written to the worker's log file, and while a task runs, complete
lines (and whatever is left when the task ends) are also sent as records to
the driver that submitted the task chain (core_worker.send_output). The
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
            self.cw.send_output(self.name_, text)


def capture(cw) -> tuple[TaskOutputStream, TaskOutputStream]:
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
