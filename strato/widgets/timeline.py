"""Timeline: a Gantt chart of the cluster's tasks, one lane per worker, coloured by function (Bokeh).

    snapshot["task_rows"]   the state API's tasks with detail (worker, node, start and end times)
        --> bars(rows, now)   pure: one bar per task that started, lanes ordered by node then worker
        --> a ColumnDataSource replaced when the picture changed; the lanes are the y range's factors

Colours come from `function_color(name)`: a stable pick from a 10-colour palette by a hash of the
function's name, so a function keeps its colour across refreshes, tabs and sessions.
"""
from __future__ import annotations

import zlib

from strato.widgets._base import View

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
COLUMNS = ("lane", "left", "right", "color", "name", "state", "task_id")


def function_color(name: str) -> str:
    """The colour a function's tasks are drawn with (stable: crc32 of the name into PALETTE)."""
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def lane_of(row: dict) -> str:
    node = (row.get("node_id") or "?")[:6]
    worker = (row.get("worker_id") or "?")[:8]
    return f"{node}/{worker}"


def bars(rows: list[dict], now_ms: float) -> tuple[list[str], dict]:
    """Lanes (sorted) and the bars' columns, times in seconds from the first start (pure)."""
    started = [r for r in rows if r.get("start_time_ms")]
    if not started:
        return [], {c: [] for c in COLUMNS}
    t0 = min(r["start_time_ms"] for r in started)
    cols = {c: [] for c in COLUMNS}
    for r in sorted(started, key=lambda r: r["start_time_ms"]):
        end = r.get("end_time_ms") or now_ms
        for c, v in zip(COLUMNS, (lane_of(r), (r["start_time_ms"] - t0) / 1000, (max(end, r["start_time_ms"]) - t0) / 1000,
                                  function_color(r["name"]), r["name"], r["state"], r["task_id"])):
            cols[c].append(v)
    return sorted(set(cols["lane"])), cols


class Timeline(View):
    """Tasks over time, one lane per worker, coloured by function."""

    wants = frozenset({"task_rows"})
    uses_bokeh = True

    def __init__(self, *, interval: float = 1.0, width: int = 900, height: int = 400, feed=None):
        super().__init__(interval, feed)
        self.width, self.height = width, height
        self.lanes: list[str] = []
        self.columns: dict = {c: [] for c in COLUMNS}
        self._src = self._fig = None

    def text(self) -> str:
        names = sorted(set(self.columns["name"]))
        return (f"Timeline: {len(self.columns['name'])} tasks on {len(self.lanes)} workers"
                + (f" ({', '.join(names[:8])})" if names else ""))

    def _figure(self):
        from bokeh.models import ColumnDataSource, FactorRange, HoverTool
        from bokeh.plotting import figure
        self._src = ColumnDataSource(dict(self.columns))
        fig = figure(width=self.width, height=self.height, y_range=FactorRange(factors=self.lanes or ["-"]),
                     x_axis_label="seconds", title="tasks per worker (colour: function)",
                     tools="xpan,xwheel_zoom,box_zoom,reset,save", sizing_mode="stretch_width")
        bars_r = fig.hbar(y="lane", left="left", right="right", height=0.7, fill_color="color",
                          line_color="color", source=self._src)
        fig.add_tools(HoverTool(renderers=[bars_r], tooltips=[
            ("function", "@name"), ("state", "@state"), ("worker", "@lane"), ("start", "@left{0.000} s"),
            ("end", "@right{0.000} s")]))
        fig.ygrid.grid_line_alpha = 0.2
        self._fig = fig
        return fig

    def build(self):
        from ipywidgets import VBox
        from jupyter_bokeh import BokehModel
        return VBox([BokehModel(self._figure())])

    def bokeh_root(self):
        return self._figure()

    def update(self, snapshot: dict) -> bool:
        rows = snapshot.get("task_rows")
        if rows is None:
            return False
        lanes, cols = bars(rows, snapshot["time"] * 1000)
        if (lanes, cols) == (self.lanes, self.columns):
            return False
        self.lanes, self.columns = lanes, cols
        if self._fig is not None:
            doc = self._fig.document
            if doc is not None:
                doc.hold("combine")
            try:
                if list(self._fig.y_range.factors) != (lanes or ["-"]):
                    self._fig.y_range.factors = lanes or ["-"]
                self._src.data = dict(cols)
            finally:
                if doc is not None:
                    doc.unhold()
        return True
