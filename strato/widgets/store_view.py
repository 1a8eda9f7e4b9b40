"""ObjectStoreView: object-store usage per node over time, the largest objects and their call sites.

    snapshot["cluster"]["nodes"][i]["object_store"]  (each raylet's store: primary, secondary, spilled)
    snapshot["local_objects"]                        (this kernel's in-process objects: small values)
        --> one Bokeh ColumnDataSource per node, streamed (rolling `history` points)
        --> an HTML table of the largest objects
"""
from __future__ import annotations

import html

from strato.widgets._base import View, fmt_bytes

KINDS = (("primary_bytes", "primary", "#1e88e5"), ("secondary_bytes", "secondary", "#43a047"),
         ("spilled_bytes", "spilled", "#e53935"))


def cell_label(call_site: str) -> str:
    """A call site in a notebook cell ("3040058709.py:10 (<module>)", the kernel's file for
    the cell) as the cell it is: "Cell In[2], line 10"; other call sites unchanged."""
    try:
        from IPython import get_ipython
        ip = get_ipython()
        names = getattr(getattr(ip, "compile", None), "_filename_map", None)
        if not names or ":" not in call_site:
            return call_site
        base, rest = call_site.split(":", 1)
        for name, count in names.items():
            if name.endswith("/" + base) or name == base:
                return f"Cell In[{count}], line {rest.split(' ', 1)[0]}"
    except Exception:
        pass
    return call_site


class ObjectStoreView(View):
    """Store usage per node over time (primary, secondary, spilled) and the largest objects."""

    wants = frozenset({"cluster", "local_objects"})
    uses_bokeh = True

    def __init__(self, *, history: int = 600, interval: float = 0.5, width: int = 900, height: int = 300,
                 feed=None):
        super().__init__(interval, feed)
        self.history = history
        self.width, self.height = width, height
        self.stores: dict[str, dict] = {}          # node id -> latest stats
        self.local: list[dict] = []                # in-process objects of this kernel
        self.samples = 0
        self._t0 = None
        self._sources: dict[str, object] = {}
        self._fig = self._table = None

    # ------------------------------------------------------------ numbers
    def totals(self) -> dict[str, int]:
        """Bytes now: in the nodes' stores (primary, secondary, spilled) and in this process."""
        out = {k: sum(int(s.get(k, 0)) for s in self.stores.values()) for k, _, _ in KINDS}
        out["in_process_bytes"] = sum(o["object_size"] for o in self.local)
        out["num_objects"] = sum(int(s.get("num_objects", 0)) for s in self.stores.values())
        return out

    def largest(self, n: int = 10) -> list[dict]:
        objs = []
        for node_id, s in self.stores.items():
            for o in s.get("largest", []):
                objs.append(dict(o, node_id=node_id))
        return sorted(objs, key=lambda o: -o["size"])[:n]

    def text(self) -> str:
        t = self.totals()
        lines = [f"Object store: primary {fmt_bytes(t['primary_bytes'])}, secondary "
                 f"{fmt_bytes(t['secondary_bytes'])}, spilled {fmt_bytes(t['spilled_bytes'])} "
                 f"({t['num_objects']} objects); in this process: {fmt_bytes(t['in_process_bytes'])} "
                 f"({len(self.local)} objects)"]
        for node_id, s in self.stores.items():
            lines.append(f"  {node_id[:12]}: used {fmt_bytes(s.get('used', 0))} of {fmt_bytes(s.get('capacity', 0))}")
        for o in self.largest(5):
            lines.append(f"  {fmt_bytes(o['size']):>10}  {o['object_id'][:16]}  {o['state']:8} "
                         f"{cell_label(o['call_site']) or '?'}")
        return "\n".join(lines)

    # ------------------------------------------------------------ widget
    def build(self):
        from ipywidgets import HTML, VBox
        from jupyter_bokeh import BokehModel
        self._table = HTML()
        fig = self._figure()
        return VBox([BokehModel(fig), self._table])

    def bokeh_root(self):
        from bokeh.layouts import column
        from strato.widgets._base import BokehHtml
        self._table = BokehHtml()
        fig = self._figure()
        return column(fig, self._table.div, sizing_mode="stretch_width")

    def _figure(self):
        """The Bokeh figure, one line per node and kind; draws the table into self._table."""
        from bokeh.models import HoverTool
        from bokeh.plotting import figure

        fig = figure(width=self.width, height=self.height, x_axis_label="seconds", y_axis_label="MiB",
                     title="object store per node", tools="pan,wheel_zoom,box_zoom,reset,save")
        fig.add_tools(HoverTool(tooltips=[("node", "$name"), ("t", "@t{0.0} s"), ("primary MiB", "@primary"),
                                          ("secondary MiB", "@secondary"), ("spilled MiB", "@spilled")]))
        self._fig = fig
        for node_id in self.stores:
            self._add_node(node_id)
        self._draw_table()
        return fig

    def _add_node(self, node_id: str):
        from bokeh.models import ColumnDataSource
        src = ColumnDataSource({"t": [], "primary": [], "secondary": [], "spilled": []})
        self._sources[node_id] = src
        dash = ("solid", "dashed", "dotted")[(len(self._sources) - 1) % 3]
        for (_, label, color) in KINDS:
            self._fig.line("t", label, source=src, color=color, line_width=2, line_dash=dash,
                           legend_label=f"{label} {node_id[:8]}", name=node_id[:12])
        self._fig.legend.location = "top_left"
        self._fig.legend.click_policy = "hide"
        return src

    def _draw_table(self) -> None:
        t = self.totals()
        rows = "".join(
            f"<tr><td>{fmt_bytes(o['size'])}</td><td><code>{o['object_id'][:16]}</code></td>"
            f"<td>{html.escape(o['state'])}</td><td>{o['node_id'][:12]}</td>"
            f"<td><code>{html.escape(cell_label(o['call_site']) or '?')}</code></td></tr>" for o in self.largest())
        self._table.value = (
            f"<b>Object store</b>: primary {fmt_bytes(t['primary_bytes'])} &middot; secondary "
            f"{fmt_bytes(t['secondary_bytes'])} &middot; spilled {fmt_bytes(t['spilled_bytes'])} &middot; "
            f"in this kernel's memory {fmt_bytes(t['in_process_bytes'])}"
            f"<table><tr><th>size</th><th>object</th><th>state</th><th>node</th><th>made at</th></tr>{rows}</table>")

    def update(self, snapshot: dict) -> bool:
        c = snapshot.get("cluster")
        if c is None:
            return False
        stores = {n["node_id"]: n["object_store"] for n in c["nodes"]
                  if n["state"] == "ALIVE" and n.get("object_store")}
        local = snapshot.get("local_objects", self.local)
        if self._t0 is None:
            self._t0 = snapshot["time"]
        t = snapshot["time"] - self._t0
        changed = stores != self.stores or [o["object_id"] for o in local] != [o["object_id"] for o in self.local]
        self.stores, self.local = stores, local
        self.samples += 1
        if self._fig is None:
            return changed
        doc = self._fig.document
        if doc is not None:
            doc.hold("combine")
        try:
            for node_id, s in stores.items():
                src = self._sources.get(node_id) or self._add_node(node_id)
                src.stream({"t": [t], "primary": [s.get("primary_bytes", 0) / 2**20],
                            "secondary": [s.get("secondary_bytes", 0) / 2**20],
                            "spilled": [s.get("spilled_bytes", 0) / 2**20]}, rollover=self.history)
        finally:
            if doc is not None:
                doc.unhold()
        if changed:
            self._draw_table()
        return True
