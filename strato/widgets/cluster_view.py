"""ClusterView: one row per node with CPU, GPU, memory and object-store bars (ipywidgets), live."""
from __future__ import annotations

from strato.widgets._base import View, fmt_bytes

BARS = (("CPU", "CPU"), ("GPU", "GPU"), ("memory", "memory"), ("store", "object store"))


def node_usage(node: dict) -> dict[str, tuple[float, float]]:
    """{bar: (used, total)} of a node dict from the state API (pure)."""
    total, avail = node["resources_total"], node["resources_available"]
    out = {}
    for key in ("CPU", "GPU", "memory"):
        if total.get(key):
            out[key] = (max(0.0, total[key] - avail.get(key, 0.0)), total[key])
    store = node.get("object_store")
    if store and store.get("capacity"):
        out["store"] = (float(store.get("used", 0)), float(store["capacity"]))
    elif total.get("object_store_memory"):
        out["store"] = (max(0.0, total["object_store_memory"] - avail.get("object_store_memory", 0.0)),
                        total["object_store_memory"])
    return out


def _fmt(bar: str, value: float) -> str:
    return fmt_bytes(value) if bar in ("memory", "store") else f"{value:g}"


class ClusterView(View):
    """Nodes of the cluster and what they use; task counts by state."""

    wants = frozenset({"cluster"})

    def __init__(self, *, interval: float = 0.5, feed=None):
        super().__init__(interval, feed)
        self.nodes: list[dict] = []
        self.task_counts: dict[str, int] = {}
        self._rows: dict[str, dict] = {}
        self._box = self._header = None
        self._shown_ids: tuple = ()

    def text(self) -> str:
        alive = [n for n in self.nodes if n["state"] == "ALIVE"]
        lines = [f"Cluster: {len(alive)} node(s) alive, {len(self.nodes) - len(alive)} dead; tasks: "
                 + (", ".join(f"{k} {v}" for k, v in sorted(self.task_counts.items())) or "none")]
        for n in self.nodes:
            usage = node_usage(n)
            bars = "  ".join(f"{b} {_fmt(b, u)}/{_fmt(b, t)}" for b, (u, t) in usage.items())
            head = " (head)" if n["is_head_node"] else ""
            lines.append(f"  {n['node_id'][:12]} {n['node_ip']}{head} {n['state']}: {bars}")
        return "\n".join(lines)

    def build(self):
        from ipywidgets import HTML, VBox
        self._header = HTML()
        self._box = VBox([self._header])
        self._redraw()
        return self._box

    def _node_row(self, n: dict) -> dict:
        from ipywidgets import HTML, FloatProgress, HBox, Label, Layout, VBox
        bars = {}
        cells = []
        for key, label in BARS:
            bar = FloatProgress(min=0.0, max=1.0, value=0.0, description=label,
                                layout=Layout(width="320px"), style={"description_width": "90px"})
            text = Label(layout=Layout(width="180px"))
            bars[key] = (bar, text, HBox([bar, text]))
            cells.append(bars[key][2])
        title = HTML()
        return {"title": title, "bars": bars, "box": VBox([title] + cells)}

    def _redraw(self) -> None:
        if self._box is None:
            return
        self._header.value = ("<b>Cluster</b>: tasks " + (", ".join(
            f"{k} {v}" for k, v in sorted(self.task_counts.items())) or "none"))
        ids = tuple(n["node_id"] for n in self.nodes)
        if ids != self._shown_ids:
            self._rows = {n["node_id"]: self._node_row(n) for n in self.nodes}
            self._box.children = [self._header] + [r["box"] for r in self._rows.values()]
            self._shown_ids = ids
        for n in self.nodes:
            row = self._rows[n["node_id"]]
            head = " (head)" if n["is_head_node"] else ""
            row["title"].value = f"<b>{n['node_id'][:12]}</b> {n['node_ip']}{head} &middot; {n['state']}"
            usage = node_usage(n)
            for key, (bar, text, box) in row["bars"].items():
                if key not in usage:
                    box.layout.display = "none"
                    continue
                used, total = usage[key]
                box.layout.display = None
                bar.value = min(1.0, used / total) if total else 0.0
                bar.bar_style = "danger" if bar.value > 0.9 else "info"
                text.value = f"{_fmt(key, used)} / {_fmt(key, total)}"

    def update(self, snapshot: dict) -> bool:
        c = snapshot.get("cluster")
        if c is None:
            return False
        nodes = sorted(c["nodes"], key=lambda n: (not n["is_head_node"], n["state"] != "ALIVE", n["node_id"]))
        for n in nodes:                     # times and counters change every tick; compare what is drawn
            n.pop("start_time_ms", None)
        key = (nodes, c["task_counts"])
        if key == (self.nodes, self.task_counts):
            return False
        self.nodes, self.task_counts = nodes, c["task_counts"]
        self._redraw()
        return True
