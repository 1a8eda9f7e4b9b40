"""What every view shares: shown as a widget in a notebook, printed as text elsewhere.

A view builds its ipywidgets / Bokeh objects on first display, subscribes
to a Feed (its own, or a dashboard's), and turns each snapshot into
changes of those objects (`apply`); ipywidgets and jupyter_bokeh send them
to the browser as comm messages from the feed's thread. Closing the widget
(or `view.close()`) unsubscribes it; the feed stops with its last view.
"""
from __future__ import annotations

import threading

from strato.widgets._feed import Feed

_bokeh_loaded = False


def in_notebook() -> bool:
    """True inside a Jupyter kernel (widgets can show); False in plain Python or terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell" and hasattr(ip, "kernel")


def load_bokeh_js() -> None:
    """Put BokehJS in the page once per kernel, inline (works offline), before any BokehModel shows."""
    global _bokeh_loaded
    if _bokeh_loaded:
        return
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE
    output_notebook(INLINE, hide_banner=True)
    _bokeh_loaded = True


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class BokehHtml:
    """An ipywidgets.HTML stand-in over a Bokeh Div, for views drawn in a Bokeh server document
    (the JupyterLab dashboard tabs, strato/server_extension/dashboards.py): `.value` sets the Div's text."""

    def __init__(self, value: str = ""):
        from bokeh.models import Div
        self.div = Div(text=value, sizing_mode="stretch_width")

    @property
    def value(self) -> str:
        return self.div.text

    @value.setter
    def value(self, text: str) -> None:
        self.div.text = text


class View:
    """Base of ClusterView, TaskGraph, ObjectStoreView, Progress."""

    wants: frozenset = frozenset()
    uses_bokeh = False

    def __init__(self, interval: float = 0.5, feed: Feed | None = None):
        self._own_feed = feed is None
        self.feed = feed or Feed(interval)
        self.widget = None
        self.updates = 0               # snapshots that changed what is shown
        self._lock = threading.RLock()
        self._closed = False

    # ------------------------------------------------------------ subclasses
    def build(self):
        """The ipywidgets widget to show (called once, in the notebook)."""
        raise NotImplementedError

    def update(self, snapshot: dict) -> bool:
        """Fold a snapshot into the view's data (and widgets, when built); True if anything changed."""
        raise NotImplementedError

    def bokeh_root(self):
        """The view as Bokeh models only (no ipywidgets), for a Bokeh server document: the JupyterLab
        dashboard tabs draw with this, so a view has one implementation in the notebook and in the lab."""
        raise NotImplementedError(f"{type(self).__name__} has no Bokeh-only form")

    def text(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------ life
    def apply(self, snapshot: dict) -> None:
        with self._lock:
            if self.update(snapshot):
                self.updates += 1

    def refresh(self) -> "View":
        """Fetch and apply once, now (from any thread)."""
        if self._own_feed or not self.feed.running:
            self.feed.subscribe(self)
        self.feed.tick()
        return self

    def show_widget(self):
        """Build (once) and start the live updates; returns the widget."""
        with self._lock:
            if self.widget is None:
                if self.uses_bokeh:
                    load_bokeh_js()
                self.widget = self.build()
                self.widget.observe(self._on_comm, names="comm")
        self.feed.subscribe(self)
        self.feed.start()
        return self.widget

    def _on_comm(self, change) -> None:
        if change["new"] is None:          # the widget was closed
            self._detach()

    def _detach(self) -> None:
        self._closed = True
        self.feed.unsubscribe(self)

    def close(self) -> None:
        """Stop updating and close the widget."""
        self._detach()
        if self.widget is not None:
            self.widget.close()

    @property
    def live(self) -> bool:
        return not self._closed and self.feed.running

    def _ipython_display_(self):
        if in_notebook():
            from IPython.display import display
            display(self.show_widget())
        else:
            self._print_text()

    def _print_text(self):
        try:
            self.refresh()
            print(self.text())
        except Exception as exc:
            print(f"{type(self).__name__}: no data ({exc})")

    def __repr__(self) -> str:
        try:
            if not self.updates:
                self.refresh()
            return self.text()
        except Exception as exc:
            return f"<{type(self).__name__}: no data ({exc})>"
