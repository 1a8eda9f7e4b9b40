"""TrialsView: the tuning runs' trials, one bar each (its best metric), coloured by status (Bokeh).

    snapshot["tune_runs"]   the head's /api/strato/tune_runs (empty while the head has no Tune route)
        --> trial_rows(runs)  pure: one row per trial, whatever metric the run reports
"""
from __future__ import annotations

from strato.widgets._base import View

STATUS_COLORS = {"RUNNING": "#fb8c00", "TERMINATED": "#43a047", "PENDING": "#90a4ae", "PAUSED": "#fdd835",
                 "ERROR": "#e53935"}
COLUMNS = ("trial", "value", "status", "color", "run")


def _metric(trial: dict) -> float:
    for key in ("metric", "best", "value"):
        if isinstance(trial.get(key), (int, float)):
            return float(trial[key])
    result = trial.get("last_result") or {}
    for v in result.values():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return 0.0


def trial_rows(runs) -> dict:
    """Columns of the trials of every run (pure)."""
    cols = {c: [] for c in COLUMNS}
    for run in runs or []:
        name = str(run.get("name") or run.get("run_id") or "run")
        for t in run.get("trials") or []:
            status = str(t.get("status") or "PENDING")
            for c, v in zip(COLUMNS, (f"{name}/{t.get('trial_id', '?')}", _metric(t), status,
                                      STATUS_COLORS.get(status, "#757575"), name)):
                cols[c].append(v)
    return cols


class TrialsView(View):
    """Tuning trials: one bar per trial (its metric), coloured by status."""

    wants = frozenset({"tune_runs"})
    uses_bokeh = True

    def __init__(self, *, interval: float = 1.0, width: int = 900, height: int = 360, feed=None):
        super().__init__(interval, feed)
        self.width, self.height = width, height
        self.columns: dict = {c: [] for c in COLUMNS}
        self._src = self._fig = None

    def text(self) -> str:
        return f"Tuning: {len(self.columns['trial'])} trials in {len(set(self.columns['run']))} runs"

    def _figure(self):
        from bokeh.models import ColumnDataSource, FactorRange
        from bokeh.plotting import figure
        self._src = ColumnDataSource(dict(self.columns))
        fig = figure(width=self.width, height=self.height, x_range=FactorRange(factors=self.columns["trial"] or ["-"]),
                     title="tuning trials (colour: status)", tools="save,hover",
                     tooltips=[("trial", "@trial"), ("status", "@status"), ("metric", "@value")],
                     sizing_mode="stretch_width")
        fig.vbar(x="trial", top="value", width=0.8, fill_color="color", line_color="color", source=self._src)
        fig.xaxis.major_label_orientation = 0.8
        self._fig = fig
        return fig

    def build(self):
        from ipywidgets import VBox
        from jupyter_bokeh import BokehModel
        return VBox([BokehModel(self._figure())])

    def bokeh_root(self):
        return self._figure()

    def update(self, snapshot: dict) -> bool:
        runs = snapshot.get("tune_runs")
        if runs is None:
            return False
        cols = trial_rows(runs.get("result", runs) if isinstance(runs, dict) else runs)
        if cols == self.columns:
            return False
        self.columns = cols
        if self._fig is not None:
            self._fig.x_range.factors = cols["trial"] or ["-"]
            self._src.data = dict(cols)
        return True
