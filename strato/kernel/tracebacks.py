"""Rendering a remote task's traceback as if it had been raised in the notebook (pure text).

    TaskError.traceback_str (formatted on the worker)
        -> frames: File "...", line N, in f  + indented source / caret lines
        -> drop Strato's own frames (worker executor, cell runner, runtime)
        -> name notebook frames "Cell In[7], line 3" and fill in their source
           from the kernel (the worker has no copy of a cell's text)

`render()` takes the naming and source lookup as functions, so it is tested
without a kernel.
"""
from __future__ import annotations

import os
import re
from typing import Callable

_FRAME = re.compile(r'^(?P<indent>\s*)File "(?P<file>.+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
#: Filenames of cells run by %%remote: "<strato-cell In[7]>".
CELL_FILENAME = "<strato-cell In[{}]>"
_CELL_FILE = re.compile(r"^<strato-cell (In\[\d+\])>$")

_STRATO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HIDDEN_DIRS = (_STRATO_DIR + os.sep,)


def is_runtime_file(filename: str) -> bool:
    """Frames in Strato's own package (executor, cell runner, API) are not the user's."""
    return os.path.abspath(filename).startswith(_HIDDEN_DIRS) if filename.startswith(os.sep) else False


def split_frames(text: str) -> list[tuple[str, list[str]]]:
    """Split traceback text into blocks: ("frame", lines) and ("text", [line])."""
    blocks: list[tuple[str, list[str]]] = []
    frame_indent = None
    for line in text.splitlines():
        m = _FRAME.match(line)
        if m:
            blocks.append(("frame", [line]))
            frame_indent = len(m.group("indent"))
        elif (frame_indent is not None and blocks and blocks[-1][0] == "frame"
              and len(line) - len(line.lstrip()) > frame_indent and line.strip()):
            blocks[-1][1].append(line)
        else:
            frame_indent = None
            blocks.append(("text", [line]))
    return blocks


def render(traceback_str: str, *,
           locate: Callable[[str, int, str | None], tuple[str, str] | None] = lambda f, n, fn: None,
           header: str = "", local_frames: list[str] | None = None) -> list[str]:
    """The lines to show for a remote traceback.

    locate(filename, lineno, function) -> ("Cell In[7]", source line) when the
    frame is notebook code, else None. (cloudpickle names the file of every
    function it ships "<dynamic-code>", so the kernel finds the cell by the
    function's name and lines.) header: a line saying where it was raised;
    local_frames: lines of the notebook frames that called `strato.get`
    (shown first, as Python shows a chain of calls).
    """
    out: list[str] = []
    for kind, lines in split_frames(traceback_str):
        if kind == "text":
            line = lines[0]
            out.append(line)
            continue
        m = _FRAME.match(lines[0])
        filename, lineno, func = m.group("file"), int(m.group("line")), m.group("func")
        if is_runtime_file(filename):
            continue
        cell_match = _CELL_FILE.match(filename)
        found = (f"Cell {cell_match.group(1)}", "") if cell_match else locate(filename, lineno, func)
        if found is None:
            out.extend(lines)
            continue
        label, source = found
        indent = m.group("indent")
        where = f"{indent}{label}, line {lineno}"
        if func and func != "<module>":
            where += f", in {func}"
        out.append(where)
        body = lines[1:]
        if not body and source.strip():
            body = [f"{indent}  {source.strip()}"]
        out.extend(body)
    while out and not out[-1].strip():
        out.pop()
    # The notebook's calling frames and the "raised on the cluster" line go
    # into the last traceback: the one of the exception that reached `get`.
    starts = [i for i, line in enumerate(out) if line.startswith("Traceback (most recent call last)")]
    at = starts[-1] + 1 if starts else 0
    if not starts:
        out.insert(0, "Traceback (most recent call last):")
        at = 1
    out[at:at] = list(local_frames or []) + ([f"  -- {header} --"] if header else [])
    return out
