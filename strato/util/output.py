"""Where the output of remote code goes: submission tags and the output handler.

Every task carries the *tag* that was current when it was submitted (nested
tasks inherit their parent's), and the address of the driver that started
the chain. What a task prints -- stdout, stderr, logging -- is streamed to
that driver, which hands each chunk to the output handler:

    record = {"tag": ..., "task_id": "ab12...", "task_name": "f", "pid": 123,
              "node_ip": "127.0.0.1", "stream": "stdout", "text": "hello\\n"}

The notebook layer tags tasks with the cell that submitted them and routes
records under that cell. Without a handler, the driver prints each line
prefixed as Ray does: "(f pid=123, ip=127.0.0.1) hello". Handlers run on a
background thread of the driver.
"""
from __future__ import annotations

import contextlib
import contextvars
import sys
from typing import Callable

_tag: contextvars.ContextVar = contextvars.ContextVar("strato_submission_tag", default=None)
_handler: Callable[[dict], None] | None = None


def set_submission_tag(tag) -> None:
    """Label tasks submitted from now on in this context (thread) with `tag` (small, picklable)."""
    _tag.set(tag)


@contextlib.contextmanager
def submission_tag(tag):
    """Label tasks submitted inside the block with `tag`."""
    token = _tag.set(tag)
    try:
        yield
    finally:
        _tag.reset(token)


def current_tag():
    return _tag.get()


def set_output_handler(fn: Callable[[dict], None] | None) -> None:
    """Receive every chunk of output of remote tasks; None restores printing."""
    global _handler
    if fn is not None and not callable(fn):
        raise TypeError(f"set_output_handler takes a callable(record) or None, got {fn!r}")
    _handler = fn


def default_print(record: dict) -> None:
    stream = sys.stderr if record["stream"] == "stderr" else sys.stdout
    prefix = f"({record['task_name']} pid={record['pid']}, ip={record['node_ip']}) "
    text = record["text"]
    lines = text.splitlines(keepends=True)
    stream.write("".join(prefix + line for line in lines))
    if not text.endswith("\n"):
        stream.write("\n")
    stream.flush()


def emit(record: dict) -> None:
    """Called by the driver's core worker for each record that arrives."""
    handler = _handler
    if handler is None:
        default_print(record)
        return
    try:
        handler(record)
    except Exception as exc:  # a broken handler must not lose the output
        default_print(record)
        print(f"strato: output handler failed: {exc!r}", file=sys.stderr)
