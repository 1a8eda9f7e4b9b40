"""Output routing: what remote code prints appears under the cell that submitted it.

    cell starts (pre_run_cell)   -> tag "cell:7:1a2b3c4d" = execution count + message id,
                                    strato.util.output.set_submission_tag(tag),
                                    parent header of the execute request kept under the tag
    a task (or a task it started) prints
      -> the driver's core worker calls OutputRouter.handle(record) on a background thread
      -> look up the tag's parent header, set it as this thread's parent
         (ipykernel's set_thread_parent), write the text, restore
         -> the text lands under the cell that submitted the work, live,
            even after that cell finished and while another one runs

Records of a `%%remote` cell carry no label (the cell's own print); with
`--parallel` each line says its rank; other tasks are labeled as Ray does,
"(task_name pid=123)", plus the node when it is not this machine. The last
records are kept for `%cluster logs`.
"""
from __future__ import annotations

import collections
import re
import sys
import threading

from strato.runtime.worker.cell_runner import OUTPUT_MARKER

#: How many cells' parent headers are remembered (output of older cells goes to the current one).
MAX_CELLS = 2000
#: How many output records `%cluster logs` can show.
MAX_RECORDS = 20000

_REMOTE_CELL_TASK = re.compile(r"^%%remote In\[(\d+)\](?: rank (\d+))?$")
_TAG = re.compile(r"^cell:(\d+):")


def cell_tag(execution_count: int, msg_id: str) -> str:
    return f"cell:{execution_count}:{msg_id[:8]}"


def execution_count_of(tag) -> int | None:
    """The notebook cell (execution count) a submission tag names, or None."""
    m = _TAG.match(tag) if isinstance(tag, str) else None
    return int(m.group(1)) if m else None


def remote_cell_task_name(execution_count: int, rank: int | None = None) -> str:
    return f"%%remote In[{execution_count}]" + ("" if rank is None else f" rank {rank}")


def label_for(record: dict, local_ip: str | None) -> str:
    """The prefix of each line of a record ('' for a %%remote cell's own output)."""
    name = record.get("task_name") or ""
    if name.endswith("SessionNamespace.run"):      # a %%remote --session cell's own output
        return ""
    m = _REMOTE_CELL_TASK.match(name)
    if m:
        return f"[rank {m.group(2)}] " if m.group(2) is not None else ""
    where = f"pid={record.get('pid')}"
    if local_ip is None or record.get("node_ip") != local_ip:
        where += f", ip={record.get('node_ip')}"
    return f"({record.get('task_name')} {where}) "


class OutputRouter:
    """The output handler of a notebook kernel (see the module docstring)."""

    def __init__(self, shell, local_ip: str | None = None):
        self.shell = shell
        self.local_ip = local_ip
        self._parents: collections.OrderedDict = collections.OrderedDict()
        self._midline: dict[tuple, bool] = {}
        self._markers: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.records: collections.deque = collections.deque(maxlen=MAX_RECORDS)

    # -------------------------------------------------------- cells
    def remember(self, tag: str, parent) -> None:
        with self._lock:
            self._parents[tag] = parent
            self._parents.move_to_end(tag)
            while len(self._parents) > MAX_CELLS:
                self._parents.popitem(last=False)

    def parent_of(self, tag):
        with self._lock:
            return self._parents.get(tag)

    def expect_marker(self, marker: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._markers[marker] = event
        return event

    def forget_marker(self, marker: str) -> None:
        with self._lock:
            self._markers.pop(marker, None)

    # -------------------------------------------------------- records
    def handle(self, record: dict) -> None:
        text = record.get("text") or ""
        if OUTPUT_MARKER in text:
            text = self._take_markers(text)
        if not text:
            return
        self.records.append(dict(record, text=text))
        key = (record.get("task_id"), record.get("stream"))
        label = label_for(record, self.local_ip)
        if label:
            text = self._label(text, label, key)
        parent = self.parent_of(record.get("tag"))
        self.write(parent, record.get("stream"), text)

    def _take_markers(self, text: str) -> str:
        kept = []
        for line in text.splitlines(keepends=True):
            at = line.find(OUTPUT_MARKER)
            if at < 0:
                kept.append(line)
                continue
            marker = line[at + len(OUTPUT_MARKER):].strip()
            if line[:at]:
                kept.append(line[:at])
            with self._lock:
                event = self._markers.pop(marker, None)
            if event is not None:
                event.set()
        return "".join(kept)

    def _label(self, text: str, label: str, key: tuple) -> str:
        out = []
        midline = self._midline.get(key, False)
        for line in text.splitlines(keepends=True):
            out.append(line if midline else label + line)
            midline = not line.endswith("\n")
        self._midline[key] = midline
        if len(self._midline) > 10000:
            self._midline.clear()
        return "".join(out)

    def write(self, parent, stream_name: str, text: str) -> None:
        """Write `text` as output of the cell whose execute request is `parent`."""
        set_parent = getattr(self.shell, "set_thread_parent", None)
        tokens = None
        if parent is not None and set_parent is not None:
            tokens = set_parent(parent)
        try:
            stream = sys.stderr if stream_name == "stderr" else sys.stdout
            stream.write(text)
            stream.flush()
        finally:
            if tokens is not None:
                self.shell.reset_thread_parent(tokens)

    def logs(self, task: str | None = None, actor: str | None = None, tail: int = 50) -> list[dict]:
        """The last `tail` records, of one task (id prefix or name) or actor (name in the task name)."""
        records = list(self.records)
        if task:
            records = [r for r in records if (r.get("task_id") or "").startswith(task) or r.get("task_name") == task]
        if actor:
            records = [r for r in records if actor in (r.get("task_name") or "")]
        return records[-tail:]
