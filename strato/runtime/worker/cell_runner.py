"""The remote side of `%%remote`: runs a cell's code in a worker (or a session actor).

Runs in worker processes only, so it lives with the worker's code rather than
in kernel/ (which runs in the notebook's kernel). It is not part of the
runtime's machinery: the kernel submits `run_cell` and `SessionNamespace`
through the public API like any remote function, and workers import this
module by name to run them. It imports only the standard library and
cloudpickle: a worker never imports the kernel package (or IPython), and the
kernel can import it cheaply for OUTPUT_MARKER (kernel/routing.py).

    kernel (kernel/magics.py)                  worker / session actor (this module)
    payload: source, names to send back,  -->  namespace = shipped names (+ rank, world_size)
             shipped names (pickled),          exec the cell, eval its last expression
             large arrays as object refs       pickle each assigned name on its own
    apply names, show the value          <--   {"values", "skipped", "deleted", "result"}

The cell is compiled under the name "<strato-cell In[N]>" with its text put
in linecache, so a remote traceback carries the cell's own lines and line
numbers. When the cell is done a marker line is written to stdout: it
travels after everything the cell printed, so the kernel knows the cell's
output has all arrived (and drops the marker).
"""
from __future__ import annotations

import ast
import linecache
import sys

import cloudpickle

#: Written on stdout (alone on a line) by a finished cell; never shown.
OUTPUT_MARKER = "\x00strato-cell-done:"


def _register_source(filename: str, text: str) -> None:
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)


def execute(payload: dict, namespace: dict, big_values: tuple = ()):
    """Run the cell in `namespace`; return what the kernel needs to continue."""
    for name, blob in payload["inputs"].items():
        namespace[name] = cloudpickle.loads(blob)
    namespace.update(zip(payload["big_names"], big_values))
    namespace.update(payload.get("extra") or {})
    filename = payload["filename"]
    offset = payload["line_offset"]
    # The text as the notebook shows it: the magic's line(s), then the cell.
    _register_source(filename, "\n" * offset + payload["source"])
    tree = ast.parse(payload["source"], filename)
    ast.increment_lineno(tree, offset)
    last = None
    if payload["last_expr"] and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    try:
        exec(compile(tree, filename, "exec"), namespace)
        value = eval(compile(last, filename, "eval"), namespace) if last is not None else None
    finally:
        sys.stdout.write(f"{OUTPUT_MARKER}{payload['marker']}\n")
        sys.stdout.flush()
    return collect(payload, namespace, value)


def collect(payload: dict, namespace: dict, value) -> dict:
    """Pickle each assigned name separately, so one bad value does not lose the others."""
    values, skipped = {}, {}
    for name in payload["assigns"]:
        if name not in namespace:
            continue
        try:
            values[name] = cloudpickle.dumps(namespace[name], protocol=5)
        except Exception as exc:  # open files, locks, sockets ...
            skipped[name] = f"{type(namespace[name]).__name__}: {_short(exc)}"
    result = result_skipped = None
    if value is not None:
        try:
            result = cloudpickle.dumps(value, protocol=5)
        except Exception as exc:
            result_skipped = f"{type(value).__name__}: {_short(exc)}"
    deleted = [name for name in payload["deletes"] if name not in namespace]
    return {"values": values, "skipped": skipped, "deleted": deleted, "result": result,
            "result_skipped": result_skipped, "names": _user_names(namespace)}


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _user_names(namespace: dict) -> list[str]:
    return sorted(n for n in namespace if not n.startswith("__"))


def run_cell(payload: dict, *big_values):
    """The task a `%%remote` cell runs as (a fresh namespace each time)."""
    return execute(payload, {"__name__": "__main__"}, big_values)


class SessionNamespace:
    """The actor behind `%%remote --session NAME`: one namespace that lives across cells."""

    def __init__(self):
        self.namespace = {"__name__": "__main__"}

    def run(self, payload: dict, *big_values):
        return execute(payload, self.namespace, big_values)

    def names(self) -> list[str]:
        return _user_names(self.namespace)

    def reset(self) -> None:
        self.namespace = {"__name__": "__main__"}
