"""TuneView: a Tune run's trials, live -- a sortable table, a metric curve per trial, stop reasons and
parallel coordinates of config versus metric (Bokeh in one BokehModel, plus an ipywidgets title).

    TuneFeed thread, every `interval` s (>= 0.25)
        source.snapshot()          the controller's plain-data picture (taken under its lock), or
                                   the experiment folder's experiment_state.pkl (a run elsewhere)
        view.apply(snapshot)       table / curves / parallel coordinates sources replaced when the
                                   run's version changed -> jupyter_bokeh sends them as comm messages
    Tuner.fit() in a notebook shows one (strato.tune.tuner) and calls finish() when the run ends:
    a last update with every trial's final state, then the thread stops.

Early-stopped trials carry the scheduler's reason (e.g. "ASHA: below rung 3 cutoff 0.71") in the
table and are drawn faded in the curves. Usable on its own: TuneView(tuner), TuneView(path).
"""
from __future__ import annotations

import math
import time

from strato.widgets._base import View, in_notebook
from strato.widgets._feed import Feed
from strato.widgets.timeline import PALETTE      # (trials take the same ten colours as functions)

STATUS_COLORS = {"RUNNING": "#fb8c00", "TERMINATED": "#43a047", "PENDING": "#90a4ae", "PAUSED": "#fdd835",
                 "ERROR": "#e53935"}
TABLE_COLUMNS = ("trial", "status", "iter", "last", "best", "stop_reason", "params", "color")


class _PathSource:
    """A run's picture read from its folder (experiment_state.pkl), for a run driven elsewhere."""

    def __init__(self, path: str):
        self.path = path

    def snapshot(self) -> dict:
        import os
        from strato.tune.storage import jsonable, load_state
        st = load_state(self.path)
        rows = []
        for t in st["trials"]:
            r = t.last_result
            rows.append({"trial_id": t.trial_id, "name": t.trial_name, "status": str(t.status),
                         "config": jsonable(t.config), "iter": r.get("training_iteration", 0), "last": None,
                         "best": None, "stop_reason": t.stop_reason or "", "error": "", "failures": t.num_failures,
                         "history": list(t.metric_history), "time_total_s": r.get("time_total_s", 0.0)})
        return {"name": st.get("name") or os.path.basename(self.path), "metric": None, "mode": None,
                "status": "", "version": st.get("saved_at", 0), "trials": rows, "elapsed": 0.0}


class TuneFeed(Feed):
    """A Feed whose snapshot is a Tune run's (no HTTP: the driver holds the run)."""

    def __init__(self, source, interval: float = 0.5):
        super().__init__(interval)
        self.source = source

    def fetch(self) -> dict:
        return {"time": time.time(), "tune": self.source.snapshot()}


def _source_of(obj):
    if hasattr(obj, "snapshot"):
        return obj
    if isinstance(obj, str):
        return _PathSource(obj)
    controller = getattr(obj, "_controller", None)       # a Tuner
    if controller is not None:
        return controller
    raise TypeError("TuneView takes a running Tuner (after fit() started), its controller, or an experiment "
                    "folder path.")


def numeric_axes(rows: list[dict], metric: str | None) -> tuple[list[str], list[list[float]]]:
    """Parallel coordinates (pure): the varying config keys and the metric, each scaled to [0, 1].

    Returns the axis names and, per trial with a value for every axis, its scaled values;
    categories become their index among the sorted distinct values.
    """
    from strato.tune.search.variant_generator import flatten
    flats = [flatten(r["config"]) for r in rows]
    keys: list[str] = []
    for f in flats:
        for k, v in f.items():
            if k not in keys and not isinstance(v, (dict, list)):
                keys.append(k)
    keys = [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1] or keys[:1]
    cols: dict = {}
    for k in keys:
        vals = [f.get(k) for f in flats]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals if v is not None):
            cols[k] = [float(v) if v is not None else None for v in vals]
        else:
            cats = sorted({repr(v) for v in vals})
            cols[k] = [float(cats.index(repr(v))) for v in vals]
    if metric:
        cols[metric] = [r["last"] if isinstance(r["last"], (int, float)) else None for r in rows]
    names = list(cols)
    scaled = []
    for i in range(len(rows)):
        point = [cols[n][i] for n in names]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in point):
            scaled.append(None)
            continue
        scaled.append(point)
    for j, n in enumerate(names):
        present = [p[j] for p in scaled if p is not None]
        if not present:
            continue
        lo, hi = min(present), max(present)
        for p in scaled:
            if p is not None:
                p[j] = 0.5 if hi == lo else (p[j] - lo) / (hi - lo)
    return names, scaled


class TuneView(View):
    """Live view of a Tune run: trial table, metric curves, stop reasons, parallel coordinates."""

    wants = frozenset({"tune"})
    uses_bokeh = True

    def __init__(self, source=None, *, interval: float = 0.5, width: int = 900):
        src = _source_of(source)
        super().__init__(interval, TuneFeed(src, interval))
        self.source = src
        self.width = width
        self.snapshot: dict | None = None
        self.version = None
        self.rows: list[dict] = []
        self._table_src = self._curve_src = self._par_src = None
        self._par_fig = self._title = None
        self.finished = False

    # ------------------------------------------------------------ data
    def text(self) -> str:
        from strato.tune.progress_reporter import render_table
        if self.snapshot is None:
            self.refresh()
        return render_table(self.snapshot) if self.snapshot else "TuneView: no data"

    def _color(self, i: int) -> str:
        return PALETTE[i % len(PALETTE)]

    def _table_data(self, snap: dict) -> dict:
        from strato.tune.search.variant_generator import flatten
        cols = {c: [] for c in TABLE_COLUMNS}
        for i, r in enumerate(snap["trials"]):
            reason = r["stop_reason"] or (r["error"] if r["status"] == "ERROR" else "")
            params = ", ".join(f"{k}={_short(v)}" for k, v in flatten(r["config"]).items())
            for c, v in zip(TABLE_COLUMNS, (r["name"], r["status"], r["iter"], _num(r["last"]), _num(r["best"]),
                                            reason, params, self._color(i))):
                cols[c].append(v)
        return cols

    def _curve_data(self, snap: dict) -> dict:
        data = {"xs": [], "ys": [], "color": [], "alpha": [], "trial": [], "status": []}
        for i, r in enumerate(snap["trials"]):
            hist = r["history"]
            data["xs"].append([h[0] for h in hist])
            data["ys"].append([h[1] for h in hist])
            data["color"].append(self._color(i))
            data["alpha"].append(0.3 if r["stop_reason"] else 0.9)
            data["trial"].append(r["name"])
            data["status"].append(r["status"] + (f" ({r['stop_reason']})" if r["stop_reason"] else ""))
        return data

    def _par_data(self, snap: dict) -> tuple[list[str], dict]:
        names, scaled = numeric_axes(snap["trials"], snap.get("metric"))
        data = {"xs": [], "ys": [], "color": [], "trial": []}
        for i, (r, p) in enumerate(zip(snap["trials"], scaled)):
            if p is None:
                continue
            data["xs"].append(list(range(len(names))))
            data["ys"].append(p)
            data["color"].append(self._color(i))
            data["trial"].append(r["name"])
        return names, data

    def update(self, snapshot: dict) -> bool:
        snap = snapshot.get("tune")
        if snap is None or snap.get("version") == self.version and snap.get("status") == (
                self.snapshot or {}).get("status"):
            return False
        self.snapshot, self.version, self.rows = snap, snap.get("version"), snap["trials"]
        if self._table_src is not None:
            doc = self._par_fig.document
            if doc is not None:
                doc.hold("combine")
            try:
                self._table_src.data = self._table_data(snap)
                self._curve_src.data = self._curve_data(snap)
                names, par = self._par_data(snap)
                self._par_src.data = par
                self._par_fig.xaxis.ticker = list(range(len(names))) or [0]
                self._par_fig.xaxis.major_label_overrides = {i: n for i, n in enumerate(names)}
            finally:
                if doc is not None:
                    doc.unhold()
            if self._title is not None:
                self._title.value = self._title_html(snap)
        return True

    def _title_html(self, snap: dict) -> str:
        counts: dict = {}
        for r in snap["trials"]:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        chips = " ".join(f'<span style="color:{STATUS_COLORS.get(s, "#000")}">&#9679;</span> {s} {c}'
                         for s, c in sorted(counts.items()))
        bests = [r["best"] for r in snap["trials"] if isinstance(r["best"], (int, float))]
        best = ""
        if bests and snap.get("metric"):
            b = max(bests) if snap.get("mode") == "max" else min(bests)
            best = f" &nbsp; best {snap['metric']} = {b:.4g}"
        return (f"<b>Tune: {snap['name']}</b> ({snap.get('status', '')}, {snap.get('elapsed', 0):.1f} s) "
                f"&nbsp; {chips}{best}")

    # ------------------------------------------------------------ widget
    def bokeh_root(self):
        from bokeh.layouts import column, row
        from bokeh.models import ColumnDataSource, DataTable, HoverTool, NumberFormatter, TableColumn
        from bokeh.plotting import figure
        snap = self.snapshot or {"trials": [], "metric": None, "name": "", "status": ""}
        self._table_src = ColumnDataSource(self._table_data(snap))
        fmt = NumberFormatter(format="0.[0000]")
        table = DataTable(source=self._table_src, sortable=True, width=self.width, height=220, index_position=None,
                          columns=[TableColumn(field="trial", title="trial", width=170),
                                   TableColumn(field="status", title="status", width=90),
                                   TableColumn(field="iter", title="iter", width=50),
                                   TableColumn(field="last", title=f"{snap.get('metric') or 'metric'} (last)",
                                               formatter=fmt, width=90),
                                   TableColumn(field="best", title="best", formatter=fmt, width=90),
                                   TableColumn(field="stop_reason", title="stop reason", width=240),
                                   TableColumn(field="params", title="config", width=260)])
        self._curve_src = ColumnDataSource(self._curve_data(snap))
        curves = figure(width=self.width // 2, height=300, title="metric per trial",
                        tools="pan,wheel_zoom,box_zoom,reset,save", x_axis_label="training_iteration")
        lines = curves.multi_line("xs", "ys", source=self._curve_src, line_color="color", line_alpha="alpha",
                                  line_width=2)
        curves.add_tools(HoverTool(renderers=[lines], tooltips=[("trial", "@trial"), ("status", "@status")]))
        names, par = self._par_data(snap)
        self._par_src = ColumnDataSource(par)
        pfig = figure(width=self.width // 2, height=300, title="parallel coordinates (config, metric; scaled)",
                      tools="pan,reset,save", y_range=(-0.05, 1.05))
        plines = pfig.multi_line("xs", "ys", source=self._par_src, line_color="color", line_alpha=0.7, line_width=2)
        pfig.add_tools(HoverTool(renderers=[plines], tooltips=[("trial", "@trial")]))
        pfig.xaxis.ticker = list(range(len(names))) or [0]
        pfig.xaxis.major_label_overrides = {i: n for i, n in enumerate(names)}
        self._par_fig = pfig
        return column(table, row(curves, pfig))

    def build(self):
        from ipywidgets import HTML, VBox
        from jupyter_bokeh import BokehModel
        if self.snapshot is None:
            try:
                self.refresh()
            except Exception:
                pass
        root = self.bokeh_root()
        self._title = HTML(self._title_html(self.snapshot) if self.snapshot else "<b>Tune</b>")
        return VBox([self._title, BokehModel(root)])

    def display(self) -> None:
        """Show under the running cell (in a notebook) and start the live updates."""
        if in_notebook():
            from IPython.display import display
            display(self.show_widget())

    def finish(self) -> None:
        """The run ended: show every trial's final state, then stop updating."""
        try:
            self.feed.tick()
        except Exception:
            pass
        self.finished = True
        self._detach()


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    s = str(v)
    return s if len(s) <= 20 else s[:19] + "…"
