"""ActorsView: the cluster's actors, one row each, coloured by state, with class, node and restarts (Bokeh).

    snapshot["actors"]   the state API's actors (Ray's ActorState shape)
        --> rows(actors)  pure: label, state colour, restarts, sorted alive first
        --> a ColumnDataSource replaced when they changed
"""
from __future__ import annotations

from strato.widgets._base import View

STATE_COLORS = {"ALIVE": "#43a047", "PENDING_CREATION": "#fb8c00", "DEPENDENCIES_UNREADY": "#fdd835",
                "RESTARTING": "#8e24aa", "DEAD": "#e53935"}
COLUMNS = ("y", "label", "state", "color", "restarts", "node", "actor_id")
_ORDER = {"ALIVE": 0, "RESTARTING": 1, "PENDING_CREATION": 2, "DEPENDENCIES_UNREADY": 3, "DEAD": 4}


def rows(actors: list[dict]) -> dict:
    """The table's columns (pure): one row per actor, alive first, then by class and id."""
    ordered = sorted(actors, key=lambda a: (_ORDER.get(a["state"], 5), a["class_name"], a["actor_id"]))
    cols = {c: [] for c in COLUMNS}
    for i, a in enumerate(ordered):
        name = a.get("name") or ""
        label = f"{a['class_name']}{f' {name!r}' if name else ''} {a['actor_id'][:8]}"
        vals = (float(len(ordered) - i), label, a["state"], STATE_COLORS.get(a["state"], "#757575"),
                int(a.get("num_restarts") or 0), (a.get("node_id") or "")[:12], a["actor_id"])
        for c, v in zip(COLUMNS, vals):
            cols[c].append(v)
    return cols


class ActorsView(View):
    """Actors: state (colour), restarts, node."""

    wants = frozenset({"actors"})
    uses_bokeh = True

    def __init__(self, *, interval: float = 1.0, width: int = 900, feed=None):
        super().__init__(interval, feed)
        self.width = width
        self.columns: dict = {c: [] for c in COLUMNS}
        self._src = self._fig = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.columns["state"]:
            out[s] = out.get(s, 0) + 1
        return out

    def text(self) -> str:
        return "Actors: " + (", ".join(f"{k} {v}" for k, v in sorted(self.counts().items())) or "none")

    def _height(self) -> int:
        return max(160, 40 + 26 * len(self.columns["y"]))

    def _figure(self):
        from bokeh.models import ColumnDataSource, HoverTool
        from bokeh.plotting import figure
        self._src = ColumnDataSource(dict(self.columns))
        fig = figure(width=self.width, height=self._height(), x_range=(0, 10), title="actors (colour: state)",
                     tools="save", toolbar_location=None, sizing_mode="stretch_width")
        r = fig.rect(x=0.5, y="y", width=0.8, height=0.8, fill_color="color", line_color=None, source=self._src)
        fig.text(x=1.2, y="y", text="label", text_baseline="middle", text_font_size="12px", source=self._src)
        fig.text(x=6.0, y="y", text="state", text_baseline="middle", text_font_size="12px", source=self._src)
        fig.text(x=8.0, y="y", text="restarts", text_baseline="middle", text_font_size="12px", source=self._src)
        fig.add_tools(HoverTool(renderers=[r], tooltips=[("actor", "@label"), ("state", "@state"),
                                                         ("restarts", "@restarts"), ("node", "@node")]))
        fig.axis.visible = False
        fig.grid.visible = False
        self._fig = fig
        return fig

    def build(self):
        from ipywidgets import VBox
        from jupyter_bokeh import BokehModel
        return VBox([BokehModel(self._figure())])

    def bokeh_root(self):
        return self._figure()

    def update(self, snapshot: dict) -> bool:
        actors = snapshot.get("actors")
        if actors is None:
            return False
        cols = rows(actors)
        if cols == self.columns:
            return False
        self.columns = cols
        if self._fig is not None:
            self._src.data = dict(cols)
            self._fig.height = self._height()
        return True
