"""Timeline: a Gantt chart of the cluster's tasks, one lane per worker, coloured by function (Bokeh).

    snapshot["task_changes"]   the task records that changed since the last tick (the head's
                               /api/strato/task_changes, followed with the feed's own cursor, so a long
                               session costs only what changed; times in seconds)
        --> Timeline keeps the latest `max_bars` records that started (by start time)
        --> bars(records, now)   pure: one bar per task, lanes ordered by node, then worker
        --> a ColumnDataSource replaced when the picture changed; the lanes are the y range's factors

A lane is a worker: the GCS's compact task records name it (`worker`, state_rows.graph_dict).
Records without one (a task that never ran, or a GCS older than that field) are packed per node
into as few lanes as never overlap ("slot N"): a worker runs one task at a time, so each slot
stands for one worker's share of the node.

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


def _lanes(records: list[dict], now: float) -> list[str]:
    """The lane of each record (same order): node/worker, or node/slot packed greedily by start time."""
    lanes = [""] * len(records)
    slots: dict[str, list[float]] = {}          # node -> end time of each slot's last task
    for i in sorted(range(len(records)), key=lambda i: records[i]["start"]):
        r = records[i]
        node = (r.get("node") or "?")[:6]
        if r.get("worker"):
            lanes[i] = f"{node}/{r['worker'][:8]}"
            continue
        ends = slots.setdefault(node, [])
        end = r.get("end") or now
        for k, last in enumerate(ends):
            if last <= r["start"]:
                ends[k] = end
                break
        else:
            k = len(ends)
            ends.append(end)
        lanes[i] = f"{node}/slot {k}"
    return lanes


def bars(records: list[dict], now: float) -> tuple[list[str], dict]:
    """Lanes (sorted) and the bars' columns, times in seconds from the first start (pure)."""
    started = sorted((r for r in records if r.get("start")), key=lambda r: r["start"])
    cols = {c: [] for c in COLUMNS}
    if not started:
        return [], cols
    t0 = started[0]["start"]
    for r, lane in zip(started, _lanes(started, now)):
        end = max(r.get("end") or now, r["start"])
        for c, v in zip(COLUMNS, (lane, r["start"] - t0, end - t0, function_color(r["name"]), r["name"],
                                  r["state"], r["id"])):
            cols[c].append(v)
    return sorted(set(cols["lane"])), cols


class Timeline(View):
    """Tasks over time, one lane per worker, coloured by function (the latest `max_bars` tasks)."""

    wants = frozenset({"task_changes"})
    uses_bokeh = True

    def __init__(self, *, max_bars: int = 5000, interval: float = 1.0, width: int = 900, height: int = 400,
                 feed=None):
        super().__init__(interval, feed)
        self.max_bars = max_bars
        self.width, self.height = width, height
        self.records: dict[str, dict] = {}       # task id -> its latest record (that started)
        self.lanes: list[str] = []
        self.columns: dict = {c: [] for c in COLUMNS}
        self._src = self._fig = None

    def text(self) -> str:
        names = sorted(set(self.columns["name"]))
        return (f"Timeline: {len(self.columns['name'])} tasks on {len(self.lanes)} lanes"
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
        changes = snapshot.get("task_changes")
        if changes is None:
            return False
        running = any(not r.get("end") for r in self.records.values())
        if not changes and not running:
            return False
        for r in changes:
            if r.get("start"):
                self.records[r["id"]] = r
        if len(self.records) > self.max_bars:
            keep = sorted(self.records.values(), key=lambda r: r["start"])[-self.max_bars:]
            self.records = {r["id"]: r for r in keep}
        lanes, cols = bars(list(self.records.values()), snapshot["time"])
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
