"""Progress of a running dataset: one bar per operator.

In a notebook (strato.widgets' in_notebook), the bars are ipywidgets in the
style of strato.widgets.Progress, shown under the cell when execution starts
and updated live as blocks finish (from the executor, which runs in the
consuming thread; updates are throttled to UPDATE_S). In a terminal, one
plain-text line holds every operator's bar and is redrawn in place; when
stderr is not a terminal (a log, a test), nothing is printed.
`DataContext.enable_progress_bars = False` turns both off.
"""
from __future__ import annotations

import sys
import time

UPDATE_S = 0.1
TEXT_UPDATE_S = 0.5
NAME_WIDTH = 40


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else name[:width - 3] + "..."


def text_bar(name: str, done: int, total: int | None, rows: int, width: int = 20) -> str:
    """One operator's bar as text: `Name [#####.....] 5/10 blocks, 500 rows`."""
    if total:
        filled = min(width, int(round(width * done / total)))
        bar = "#" * filled + "." * (width - filled)
        count = f"{done}/{total}"
    else:
        bar = "?" * 0 + "." * width
        count = f"{done}/?"
    return f"{short_name(name)} [{bar}] {count} blocks, {rows} rows"


class NullProgress:
    def start(self, stats) -> None:
        pass

    def update(self, stat) -> None:
        pass

    def finish(self, ok: bool) -> None:
        pass


class TextProgress(NullProgress):
    """A redrawn line on a terminal; a summary line per operator otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.stats = []
        self._last = 0.0

    def start(self, stats) -> None:
        self.stats = list(stats)

    def line(self) -> str:
        return " | ".join(text_bar(s.name, s.done, s.total, s.rows, width=10) for s in self.stats)

    def update(self, stat) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last >= TEXT_UPDATE_S:
            self._last = now
            self.stream.write("\r" + self.line()[:_columns()])
            self.stream.flush()

    def finish(self, ok: bool) -> None:
        if not self.stats:
            return
        if self.tty:
            self.stream.write("\r" + self.line()[:_columns()] + "\n")
            self.stream.flush()


def _columns() -> int:
    import shutil
    return max(40, shutil.get_terminal_size((160, 20)).columns - 1)


class NotebookProgress(NullProgress):
    """One ipywidgets bar per operator, shown under the running cell."""

    def __init__(self):
        self.stats = []
        self.bars = []
        self.labels = []
        self.widget = None
        self._last = 0.0

    def start(self, stats) -> None:
        from IPython.display import display
        from ipywidgets import HBox, IntProgress, Label, Layout, VBox
        self.stats = list(stats)
        rows = []
        for s in self.stats:
            bar = IntProgress(min=0, max=max(1, s.total or 1), value=0, bar_style="info",
                              layout=Layout(width="300px"))
            label = Label(text_bar(s.name, 0, s.total, 0, width=0).replace(" []", ""))
            self.bars.append(bar)
            self.labels.append(label)
            rows.append(HBox([bar, label]))
        self.widget = VBox(rows)
        display(self.widget)

    def _draw(self) -> None:
        for s, bar, label in zip(self.stats, self.bars, self.labels):
            total = s.total or max(1, s.done)
            bar.max = max(1, total)
            bar.value = min(s.done, bar.max)
            label.value = text_bar(s.name, s.done, s.total, s.rows, width=0).replace(" []", "")

    def update(self, stat) -> None:
        now = time.monotonic()
        if now - self._last >= UPDATE_S:
            self._last = now
            self._draw()

    def finish(self, ok: bool) -> None:
        if self.widget is None:
            return
        self._draw()
        for s, bar in zip(self.stats, self.bars):
            bar.bar_style = "success" if ok and (s.total is None or s.done >= s.total) else \
                ("danger" if not ok else "warning")


def make_progress(ctx):
    if not ctx.enable_progress_bars:
        return NullProgress()
    try:
        from strato.widgets._base import in_notebook
        if in_notebook():
            import ipywidgets  # noqa: F401
            return NotebookProgress()
    except ImportError:
        pass
    return TextProgress()
