"""One run of a `%%remote` cell, from submission to its names in the notebook.

    StratoMagics.remote --RemoteCellJob(...).submit--> one task per rank (or a session actor's run)
                        --finish / get-->  strato.get, wait for the cell's output, apply_results
    --no-block:          show_status() keeps a status line under the cell up to date (a thread)

What goes into the payload and how results become notebook names is decided
in magics.py; this class holds the refs and the state of the run.
"""
from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING

import strato
from strato import exceptions
from strato.kernel import routing

if TYPE_CHECKING:
    from strato.kernel.magics import StratoMagics

#: How long a finished cell waits for the tail of its output.
OUTPUT_GRACE_S = 2.0


class RemoteCellJob:
    """One run of a `%%remote` cell: its refs, its status, and (once) its results in the notebook."""

    def __init__(self, magics: StratoMagics, execution_count: int, payload: dict, args, session: dict | None):
        self.magics = magics
        self.execution_count = execution_count
        self.payload = payload
        self.args = args
        self.session = session
        self.refs: list = []
        self.markers: list[str] = []
        self.events: list[threading.Event] = []
        self.started = time.monotonic()
        self.ended: float | None = None
        self._applied = False
        self._value = None
        self._error: BaseException | None = None

    def submit(self, options: dict, big_refs: list) -> None:
        count = self.args.parallel or 1
        for rank in range(count):
            payload = dict(self.payload, marker=uuid.uuid4().hex)
            if self.args.parallel:
                payload["extra"] = {"rank": rank, "world_size": count}
            self.markers.append(payload["marker"])
            self.events.append(self.magics.router.expect_marker(payload["marker"]))
            name = routing.remote_cell_task_name(self.execution_count, rank if self.args.parallel else None)
            if self.session is not None:
                ref = self.session["handle"].run.options(name=name).remote(payload, *big_refs)
            else:
                ref = self.magics.remote_function().options(name=name, max_retries=0, **options).remote(
                    payload, *big_refs)
            self.refs.append(ref)

    # -------------------------------------------------------------- waiting
    def done(self) -> bool:
        ready, _ = strato.wait(self.refs, num_returns=len(self.refs), timeout=0)
        return len(ready) == len(self.refs)

    def _wait_output(self) -> None:
        deadline = time.monotonic() + OUTPUT_GRACE_S
        for marker, event in zip(self.markers, self.events):
            event.wait(max(0.0, deadline - time.monotonic()))
            self.magics.router.forget_marker(marker)

    def finish(self):
        """Block until the cell ran; bring its names back; return its value (or raise its error)."""
        if self._applied:
            if self._error is not None:
                raise self._error
            return self._value
        try:
            results = strato.get(self.refs)
        except KeyboardInterrupt:
            self.cancel()
            print(f"%%remote: interrupted; cancelled the remote cell In[{self.execution_count}].", file=sys.stderr)
            raise
        except exceptions.TaskError as exc:
            self.ended = time.monotonic()
            self._wait_output()
            exc._strato_remote_cell = True
            self._applied, self._error = True, exc
            raise
        self.ended = time.monotonic()
        self._wait_output()
        self._value = self.magics.apply_results(self, results)
        self._applied = True
        return self._value

    def get(self, timeout: float | None = None):
        """Wait for the cell, bring its assigned names into the notebook, return its value."""
        if timeout is not None:
            strato.wait(self.refs, num_returns=len(self.refs), timeout=timeout)
            if not self.done():
                raise exceptions.GetTimeoutError(f"%%remote In[{self.execution_count}] is still running "
                                                 f"after {timeout} s.")
        return self.finish()

    result = get

    def cancel(self) -> None:
        for ref in self.refs:
            try:
                strato.cancel(ref)
            except Exception:
                pass

    # -------------------------------------------------------------- status line
    def status(self) -> str:
        elapsed = (self.ended or time.monotonic()) - self.started
        cell = f"%%remote In[{self.execution_count}]"
        try:
            running = self.ended is None and not self.done()
        except Exception:               # disconnected
            return f"{cell}: unknown (the cluster is gone)"
        if running:
            return f"{cell}: running on the cluster ({elapsed:.0f} s)"
        if self.ended is None:
            self.ended = time.monotonic()
            elapsed = self.ended - self.started
        bind = f"{self.args.output}.get() brings its names back" if self.args.output else (
            "not bound: add -o NAME to keep its results")
        return f"{cell}: finished in {elapsed:.1f} s; {bind}"

    def show_status(self) -> None:
        from IPython.display import display
        handle = display({"text/plain": self.status()}, raw=True, display_id=True)
        parent = self.magics.shell.get_parent() if hasattr(self.magics.shell, "get_parent") else None

        def loop():
            shell = self.magics.shell
            tokens = shell.set_thread_parent(parent) if parent and hasattr(shell, "set_thread_parent") else None
            try:
                while True:
                    try:
                        ready, _ = strato.wait(self.refs, num_returns=len(self.refs), timeout=1.0)
                    except Exception:
                        return
                    finished = len(ready) == len(self.refs)
                    if finished and self.ended is None:
                        self.ended = time.monotonic()
                    handle.update({"text/plain": self.status()}, raw=True)
                    if finished:
                        return
            finally:
                if tokens is not None:
                    shell.reset_thread_parent(tokens)

        threading.Thread(target=loop, name=f"strato-remote-status-{self.execution_count}", daemon=True).start()

    def __repr__(self):
        return f"<{self.status()}>"
