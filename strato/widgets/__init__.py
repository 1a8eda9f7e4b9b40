"""Live views of a cluster for notebooks, drawn from the state API (strato.util.state).

    ClusterView       nodes with CPU, GPU, memory and object-store bars
    TaskGraph         tasks coloured by state, data and call edges (TaskGraph(cell=12): one cell's)
    ObjectStoreView   store usage per node over time, the largest objects and their call sites
    Progress          a bar over refs (get/wait), or over all of the cluster's tasks
    TuneView          a Tune run's trials: sortable table, metric curves, stop reasons, parallel coordinates
    dashboard()       the four in tabs, sharing one feed (what `%cluster dashboard` shows)

    _feed.py   the background thread: polls the head's HTTP endpoint, <= 4 ticks a second
    _base.py   show as a widget in a notebook, print a text summary anywhere else

ipywidgets 8 + Bokeh (jupyter_bokeh's BokehModel, ColumnDataSource.stream/patch).
Displayed in a notebook, a view updates while the cell that showed it (or any
other) is still running; closing the widget stops its updates. In plain
Python or terminal IPython, showing a view prints its summary.
"""
from __future__ import annotations

from strato.widgets._base import View, in_notebook
from strato.widgets._feed import Feed
from strato.widgets.cluster_view import ClusterView
from strato.widgets.progress import Progress
from strato.widgets.store_view import ObjectStoreView
from strato.widgets.task_graph import TaskGraph
from strato.widgets.tune_view import TuneView


class Dashboard(View):
    """ClusterView, TaskGraph, ObjectStoreView and Progress in tabs, fed by one thread."""

    def __init__(self, *, interval: float = 0.5, cell: int | None = None):
        super().__init__(interval)
        self.cluster = ClusterView(feed=self.feed)
        self.tasks = TaskGraph(cell, feed=self.feed)
        self.store = ObjectStoreView(feed=self.feed)
        self.progress = Progress(feed=self.feed)
        self.views = (self.cluster, self.tasks, self.store, self.progress)

    def build(self):
        from ipywidgets import Tab
        from strato.widgets._base import load_bokeh_js
        load_bokeh_js()
        return Tab(children=[v.show_widget() for v in self.views],
                   titles=("Cluster", "Tasks", "Object store", "Progress"))

    def show_widget(self):
        with self._lock:
            if self.widget is None:
                self.widget = self.build()
                self.widget.observe(self._on_comm, names="comm")
        return self.widget

    def refresh(self) -> "Dashboard":
        for v in self.views:
            self.feed.subscribe(v)
        self.feed.tick()
        return self

    def apply(self, snapshot: dict) -> None:     # the views are subscribed themselves
        pass

    def _detach(self) -> None:
        self._closed = True
        for v in self.views:
            v._detach()

    def close(self) -> None:
        for v in self.views:
            v.close()
        super().close()

    @property
    def updates(self) -> int:
        return sum(v.updates for v in self.views)

    @updates.setter
    def updates(self, value) -> None:
        pass

    def text(self) -> str:
        return "\n".join(v.text() for v in self.views)


def dashboard(*, interval: float = 0.5, cell: int | None = None) -> Dashboard:
    """The live dashboard (what `%cluster dashboard` shows); printed as text outside a notebook."""
    return Dashboard(interval=interval, cell=cell)


__all__ = ["ClusterView", "Dashboard", "Feed", "ObjectStoreView", "Progress", "TaskGraph", "TuneView", "View",
           "dashboard",
           "in_notebook"]
