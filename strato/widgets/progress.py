"""Progress: a bar for `get` / `wait` over many refs, or of all the cluster's tasks.

    Progress(refs)   counts refs whose value is ready (strato.wait(..., timeout=0) each tick)
    Progress()       finished / total tasks of the cluster (from the state endpoint)

`slow_get(refs)` is what strato.get calls in a notebook when given many
refs (`install()`, done when the strato extension loads): if the get is
still waiting after `DELAY_S`, a bar appears under the cell, updates from
its own thread, and stops updating when the get returns.
"""
from __future__ import annotations

import contextlib
import threading

from strato import _context
from strato.widgets._base import View, in_notebook

DELAY_S = 1.0
MIN_REFS = 10


class Progress(View):
    def __init__(self, refs=None, *, description: str = "", interval: float = 0.25, feed=None):
        super().__init__(interval, feed)
        self.refs = list(dict.fromkeys(refs)) if refs is not None else None
        self.wants = frozenset() if self.refs is not None else frozenset({"cluster"})
        self.description = description or ("get" if self.refs is not None else "tasks")
        self.done = 0
        self.total = len(self.refs) if self.refs is not None else 0
        self.failed = 0
        self._bar = self._label = None

    def text(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        extra = f", {self.failed} failed" if self.failed else ""
        return f"{self.description}: {self.done}/{self.total} ({pct:.0f}%){extra}"

    def build(self):
        from ipywidgets import HBox, IntProgress, Label, Layout
        self._bar = IntProgress(min=0, max=max(1, self.total), value=self.done, description=self.description,
                                layout=Layout(width="420px"))
        self._label = Label(self.text())
        return HBox([self._bar, self._label])

    def _count(self) -> tuple[int, int, int]:
        if self.refs is not None:
            import strato
            if not self.refs:
                return 0, 0, 0
            ready, _ = strato.wait(self.refs, num_returns=len(self.refs), timeout=0)
            return len(ready), len(self.refs), 0
        return self.done, self.total, self.failed

    def update(self, snapshot: dict) -> bool:
        if self.refs is not None:
            done, total, failed = self._count()
        else:
            c = snapshot.get("cluster")
            if c is None:
                return False
            counts = c["task_counts"]
            total = sum(counts.values())
            failed = counts.get("FAILED", 0) + counts.get("CANCELLED", 0)
            done = counts.get("FINISHED", 0) + failed
        if (done, total, failed) == (self.done, self.total, self.failed):
            return False
        self.done, self.total, self.failed = done, total, failed
        if self._bar is not None:
            self._bar.max = max(1, total)
            self._bar.value = done
            self._bar.bar_style = "danger" if failed else ("success" if done == total else "info")
            self._label.value = self.text()
        return True

    def refresh(self) -> "Progress":
        if self.refs is not None:
            self.apply({})
            return self
        return super().refresh()


@contextlib.contextmanager
def slow_get(refs, what: str = "get"):
    """Around a blocking get/wait in a notebook: a Progress bar shows if it takes over DELAY_S."""
    if len(refs) < MIN_REFS or not in_notebook():
        yield
        return
    finished = threading.Event()
    shown: list[Progress] = []
    from IPython import get_ipython
    ip = get_ipython()
    parent = ip.get_parent() if hasattr(ip, "get_parent") else None

    def later():
        if finished.wait(DELAY_S):
            return
        tokens = None
        try:
            if parent is not None and hasattr(ip, "set_thread_parent"):
                tokens = ip.set_thread_parent(parent)     # display under the cell that called get
            from IPython.display import display
            p = Progress(refs, description=what)
            p.refresh()
            shown.append(p)
            display(p.show_widget())
        except Exception:
            pass
        finally:
            if tokens is not None:
                ip.reset_thread_parent(tokens)

    timer = threading.Thread(target=later, name="strato-progress-delay", daemon=True)
    timer.start()
    try:
        yield
    finally:
        finished.set()
        for p in shown:
            p.refresh()
            p._detach()


def install() -> None:
    """Have strato.get show a Progress bar when it waits over DELAY_S for MIN_REFS refs or more."""
    _context.slow_get_hook = slow_get


def uninstall() -> None:
    if _context.slow_get_hook is slow_get:
        _context.slow_get_hook = None
