"""TaskGraph: tasks as nodes coloured by state, data and call edges, live (Bokeh in a BokehModel).

    up to `group_above` tasks (of the cell), the head sends the records that changed:
        --GraphModel.add--> new nodes / changed nodes / new edges
        --> nodes.stream(new rows), nodes.patch(changed colours and states), edges.stream(new segments)
    beyond, the head sends the graph grouped by function (state counts, edge counts; the GCS's
    TaskTable, runtime/gcs/task_table.py, keeps them as events arrive), so 10,000s of tasks
    cost the kernel a few rows:
        --> one circle per function, sized by count, coloured by its most urgent state;
            the sources are replaced when the picture changed
"""
from __future__ import annotations

import math

from strato.widgets import graph_model as gm
from strato.widgets._base import View

NODE_COLUMNS = ("x", "y", "color", "task_id", "name", "state", "node", "duration", "error", "size", "count")
EDGE_COLUMNS = ("x0", "y0", "x1", "y1", "color", "kind")


class TaskGraph(View):
    """Live graph of the cluster's tasks (or one notebook cell's, with `cell=N`)."""

    wants = frozenset({"tasks"})
    uses_bokeh = True

    def __init__(self, cell: int | None = None, *, group_above: int = 2000, interval: float = 0.5,
                 width: int = 900, height: int = 420, feed=None):
        super().__init__(interval, feed)
        self.model = gm.GraphModel(cell)
        self.cell = cell
        self.group_above = group_above
        self.feed.task_cell, self.feed.max_tasks = cell, group_above
        self.grouped = False
        self.function_groups: dict = {"groups": [], "edges": []}   # from the head, when grouped
        self.num_tasks = 0
        self.width, self.height = width, height
        self._node_src = self._edge_src = self._fig = None
        self._title = None

    # ------------------------------------------------------------ data for tests and text
    @property
    def nodes(self) -> dict:
        return self.model.nodes

    @property
    def edges(self) -> list[tuple[str, str, str]]:
        return list(self.model.edges)

    def plotted_rows(self) -> int:
        """Rows in the plot's node source (tasks, or groups when grouped)."""
        return len(self._node_src.data["x"]) if self._node_src is not None else 0

    def text(self) -> str:
        if self.grouped:
            where = f" of cell {self.cell}" if self.cell is not None else ""
            lines = [f"TaskGraph{where}: {self.num_tasks} tasks, grouped by function"]
            for g in sorted(self.function_groups["groups"], key=lambda g: -g["count"])[:20]:
                lines.append(f"  {g['name']}: {g['count']} tasks, "
                             + ", ".join(f"{s} {c}" for s, c in sorted(g["states"].items())))
            return "\n".join(lines)
        counts = self.model.state_counts()
        kinds = {"data": 0, "call": 0}
        for _, _, k in self.model.edges:
            kinds[k] += 1
        where = f" of cell {self.cell}" if self.cell is not None else ""
        head = (f"TaskGraph{where}: {len(self.model.nodes)} tasks ("
                + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f"), {kinds['data']} data edges, "
                f"{kinds['call']} call edges")
        groups, _ = self.model.groups()
        lines = [head] + [f"  {g['name']} (depth {g['depth']}): {g['count']} tasks, "
                          + ", ".join(f"{s} {c}" for s, c in sorted(g["states"].items())) for g in groups[:20]]
        return "\n".join(lines)

    # ------------------------------------------------------------ widget
    def build(self):
        from ipywidgets import HTML, VBox
        from jupyter_bokeh import BokehModel
        fig = self._figure()
        self._title = HTML(self._legend())
        return VBox([self._title, BokehModel(fig)])

    def bokeh_root(self):
        from bokeh.layouts import column
        from strato.widgets._base import BokehHtml
        fig = self._figure()
        self._title = BokehHtml(self._legend())
        return column(self._title.div, fig, sizing_mode="stretch_width")

    def _figure(self):
        """The Bokeh figure and its sources, drawn with what is known so far."""
        from bokeh.models import ColumnDataSource, HoverTool
        from bokeh.plotting import figure

        self._node_src = ColumnDataSource({c: [] for c in NODE_COLUMNS})
        self._edge_src = ColumnDataSource({c: [] for c in EDGE_COLUMNS})
        fig = figure(width=self.width, height=self.height, tools="pan,wheel_zoom,box_zoom,reset,save",
                     toolbar_location="right", title="tasks by depth (left to right); colour: state")
        fig.segment("x0", "y0", "x1", "y1", source=self._edge_src, line_color="color", line_alpha=0.5,
                    line_width=1)
        circles = fig.scatter("x", "y", source=self._node_src, size="size", fill_color="color",
                              line_color="#37474f", line_width=0.5, name="tasks")
        fig.add_tools(HoverTool(renderers=[circles], tooltips=[
            ("function", "@name"), ("tasks", "@count"), ("state", "@state"), ("node", "@node"),
            ("duration", "@duration{0.000} s"), ("error", "@error")]))
        fig.xaxis.axis_label = "depth"
        fig.yaxis.visible = False
        fig.xgrid.grid_line_alpha = fig.ygrid.grid_line_alpha = 0.3
        self._fig = fig
        self._render_all()
        return fig

    def _legend(self) -> str:
        if self.grouped:
            counts: dict = {}
            for g in self.function_groups["groups"]:
                for st, c in g["states"].items():
                    counts[st] = counts.get(st, 0) + c
        else:
            counts = self.model.state_counts()
        chips = " ".join(f'<span style="color:{gm.STATE_COLORS.get(s, "#000")}">&#9679;</span> {s} {c}'
                         for s, c in sorted(counts.items()))
        mode = " (grouped by function)" if self.grouped else ""
        return (f"<b>Tasks{'' if self.cell is None else f' of cell {self.cell}'}</b>: "
                f"{self.num_tasks if self.grouped else len(self.model.nodes)}{mode} &nbsp; {chips}")

    def _row(self, n: gm.GraphNode) -> dict:
        return {"x": n.x, "y": n.y, "color": gm.STATE_COLORS.get(n.state, "#000000"), "task_id": n.id,
                "name": n.name, "state": n.state, "node": n.node[:12], "duration": n.duration,
                "error": n.error[:200], "size": 9, "count": 1}

    def _group_columns(self) -> tuple[dict, dict]:
        groups, edges = self.function_groups["groups"], self.function_groups["edges"]
        pos = gm.layout_groups([g["name"] for g in groups], [(a, b) for a, b, _, _ in edges])
        nodes = {c: [] for c in NODE_COLUMNS}
        for g in groups:
            state = gm.dominant_state(g["states"])
            x, y = pos[g["name"]]
            failed = g["states"].get("FAILED", 0)
            row = {"x": x, "y": y, "color": gm.STATE_COLORS.get(state, "#000000"), "task_id": "",
                   "name": g["name"], "state": ", ".join(f"{s} {c}" for s, c in sorted(g["states"].items())),
                   "node": "", "duration": 0.0, "error": f"{failed} failed" if failed else "",
                   "size": 8 + 6 * math.log10(max(1, g["count"])), "count": g["count"]}
            for c in NODE_COLUMNS:
                nodes[c].append(row[c])
        edge_cols = {c: [] for c in EDGE_COLUMNS}
        for a, b, kind, _count in edges:
            if a not in pos or b not in pos:
                continue
            (x0, y0), (x1, y1) = pos[a], pos[b]
            for c, v in zip(EDGE_COLUMNS, (x0, y0, x1, y1, gm.EDGE_COLORS[kind], kind)):
                edge_cols[c].append(v)
        return nodes, edge_cols

    def _edge_row(self, e) -> dict:
        a, b = self.model.nodes[e[0]], self.model.nodes[e[1]]
        return {"x0": a.x, "y0": a.y, "x1": b.x, "y1": b.y, "color": gm.EDGE_COLORS[e[2]], "kind": e[2]}

    def _render_all(self) -> None:
        """Replace the sources' data (first draw, and every update when grouped)."""
        if self.grouped:
            nodes, edges = self._group_columns()
        else:
            rows = [self._row(self.model.nodes[i]) for i in self.model.order]
            erows = [self._edge_row(e) for e in self.model.edges]
            nodes = {c: [r[c] for r in rows] for c in NODE_COLUMNS}
            edges = {c: [r[c] for r in erows] for c in EDGE_COLUMNS}
        self._node_src.data = nodes
        self._edge_src.data = edges

    def update(self, snapshot: dict) -> bool:
        grouped = snapshot.get("task_groups")
        if grouped is not None:
            picture = {"groups": grouped["groups"], "edges": grouped["edges"]}
            if self.grouped and picture == self.function_groups:
                return False
            self.grouped, self.function_groups, self.num_tasks = True, picture, grouped["num_tasks"]
            if self._node_src is not None:
                self._replace_all()
            return True
        records = snapshot.get("tasks")
        if not records:
            return False
        new, changed, new_edges = self.model.add(records)
        if not (new or changed or new_edges):
            return False
        self.num_tasks = len(self.model.nodes)
        if self._node_src is None:
            return True
        if self.grouped:              # back to one by one (old tasks were dropped): redraw
            self.grouped = False
            self._replace_all()
            return True
        doc = self._fig.document
        if doc is not None:
            doc.hold("combine")
        try:
            if new:
                rows = [self._row(n) for n in new]
                self._node_src.stream({c: [r[c] for r in rows] for c in NODE_COLUMNS})
            if changed:
                patch: dict = {"color": [], "state": [], "node": [], "duration": [], "error": []}
                for n in changed:
                    r = self._row(n)
                    for c in patch:
                        patch[c].append((n.index, r[c]))
                self._node_src.patch(patch)
            if new_edges:
                erows = [self._edge_row(e) for e in new_edges]
                self._edge_src.stream({c: [r[c] for r in erows] for c in EDGE_COLUMNS})
        finally:
            if doc is not None:
                doc.unhold()
        self._title.value = self._legend()
        return True

    def _replace_all(self) -> None:
        doc = self._fig.document
        if doc is not None:
            doc.hold("combine")
        try:
            self._render_all()
        finally:
            if doc is not None:
                doc.unhold()
        self._title.value = self._legend()
