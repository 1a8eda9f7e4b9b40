"""The terminal table of a run: status, config, iterations, last and best metric, stop reason.

    == Status ==  my_run  RUNNING 2 | TERMINATED 5  (12.3 s)   best loss 0.031
    Trial name            status      lr        iter   loss     best     stop reason
    train_ab12c_00000     TERMINATED  0.01      10     0.031    0.031
    train_ab12c_00001     TERMINATED  0.3       3      0.91     0.88     ASHA: below rung 3 cutoff 0.71

CLIReporter prints it every `max_report_frequency` seconds while fit() runs
(outside notebooks; in a notebook TuneView is shown instead) and once at the end.
"""
from __future__ import annotations

import sys
import time


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    s = str(v)
    return s if len(s) <= 18 else s[:17] + "…"


def varying_keys(rows: list[dict], limit: int = 6) -> list[str]:
    """Config keys whose values differ between trials (all keys if only one trial)."""
    from strato.tune.search.variant_generator import flatten
    flat = [flatten(r["config"]) for r in rows]
    keys: list[str] = []
    for f in flat:
        for k in f:
            if k not in keys:
                keys.append(k)
    if len(flat) > 1:
        keys = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
    return keys[:limit]


def render_table(snapshot: dict, max_rows: int = 30) -> str:
    from strato.tune.search.variant_generator import flatten
    rows = snapshot["trials"]
    counts: dict = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    metric = snapshot.get("metric") or "metric"
    bests = [r["best"] for r in rows if r["best"] is not None]
    best = (max(bests) if snapshot.get("mode") == "max" else min(bests)) if bests else None
    head = (f"== Status ==  {snapshot['name']}  " + " | ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + f"  ({snapshot.get('elapsed', 0):.1f} s)" + (f"   best {metric} {best:.4g}" if best is not None else ""))
    keys = varying_keys(rows)
    cols = ["Trial name", "status"] + keys + ["iter", metric, "best", "stop reason"]
    table = []
    shown = rows if len(rows) <= max_rows else rows[:max_rows]
    for r in shown:
        cfg = flatten(r["config"])
        reason = r["stop_reason"] or (r["error"] if r["status"] == "ERROR" else "")
        table.append([r["name"], r["status"]] + [_fmt(cfg.get(k)) for k in keys]
                     + [str(r["iter"]), _fmt(r["last"]), _fmt(r["best"]), reason])
    widths = [max(len(c), *(len(row[i]) for row in table)) if table else len(c) for i, c in enumerate(cols)]
    lines = [head, "  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more trials")
    return "\n".join(lines)


class ProgressReporter:
    def __call__(self, controller, final: bool) -> None:
        raise NotImplementedError


class CLIReporter(ProgressReporter):
    def __init__(self, max_report_frequency: float = 5.0, max_rows: int = 30, file=None, **_ignored):
        self.max_report_frequency = max_report_frequency
        self.max_rows = max_rows
        self.file = file
        self._last = 0.0
        self._printed_final = False

    def __call__(self, controller, final: bool) -> None:
        now = time.time()
        if not final and now - self._last < self.max_report_frequency:
            return
        if final and self._printed_final:
            return
        self._last = now
        self._printed_final = final
        print(render_table(controller.snapshot(), self.max_rows), file=self.file or sys.stdout, flush=True)


JupyterNotebookReporter = CLIReporter
