"""One background thread per shown view (or per dashboard) that polls the state endpoint.

    Feed thread, every `interval` s (>= 0.25: at most ~4 updates a second)
        GET /api/strato/cluster          if a view wants "cluster"
        GET /api/strato/task_graph       if a view wants "tasks": what changed since last time, or,
                                         past `max_tasks` tasks, the graph grouped by function
        GET /api/strato/task_changes     if a view wants "task_changes" (the timeline; its own cursor)
        GET /api/v0/actors               if a view wants "actors"
        view.apply(snapshot)             each view turns it into widget / Bokeh changes -> comm messages

The thread stops when its last view closes, when strato disconnects, or on
`stop()`. Views never touch the network themselves, so a dashboard of four
views costs one request per kind per tick.
"""
from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.25
TASK_CHANGES = 5000              # the timeline catches up by at most this many changed tasks a tick


class Feed:
    def __init__(self, interval: float = 0.5, client=None):
        self.interval = max(MIN_INTERVAL_S, float(interval))
        self._client = client
        self.views: list = []
        self.version = 0                 # task_graph cursor: the task table's version last seen
        self.changes_version = 0         # task_changes cursor (the timeline's)
        self.task_cell = None            # the task graph's cell filter (one per feed)
        self.max_tasks = 2000            # drawn task by task up to this many, grouped by function beyond
        self.ticks = 0
        self.errors = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()

    @property
    def client(self):
        if self._client is None:
            from strato.util import state
            self._client = state.client(timeout=10)
        return self._client

    # ------------------------------------------------------------ views
    def subscribe(self, view) -> None:
        with self._lock:
            if view not in self.views:
                self.views.append(view)

    def unsubscribe(self, view) -> None:
        with self._lock:
            if view in self.views:
                self.views.remove(view)
            empty = not self.views
        if empty:
            self.stop()

    # ------------------------------------------------------------ polling
    def fetch(self) -> dict:
        wants = set()
        for v in list(self.views):
            wants |= v.wants
        snapshot: dict = {"time": time.time()}
        if "cluster" in wants:
            snapshot["cluster"] = self.client.get("/api/strato/cluster")
        if "tasks" in wants:
            params = {"since": self.version, "max_tasks": self.max_tasks}
            if self.task_cell is not None:
                params["cell"] = self.task_cell
            reply = self.client.get("/api/strato/task_graph", params)
            self.version = reply["version"]
            snapshot["task_groups" if reply["grouped"] else "tasks"] = reply if reply["grouped"] else reply["tasks"]
            snapshot["task_info"] = {k: reply[k] for k in ("num_tasks", "evicted", "dropped_events")}
        if "task_changes" in wants:               # the timeline: what changed since its own cursor
            reply = self.client.get("/api/strato/task_changes", {"since": self.changes_version, "max": TASK_CHANGES})
            self.changes_version = reply["version"]
            snapshot["task_changes"] = reply["tasks"]
        if "actors" in wants:
            snapshot["actors"] = self.client.get("/api/v0/actors", {"limit": 1000})["result"]
        if "local_objects" in wants:
            from strato.util import state
            snapshot["local_objects"] = state.local_objects()
        return snapshot

    def tick(self) -> None:
        """Fetch once and hand the snapshot to every view (also called directly by refresh())."""
        with self._lock:
            snapshot = self.fetch()
            for v in list(self.views):
                try:
                    v.apply(snapshot)
                except Exception:
                    logger.exception("%s failed to apply an update", type(v).__name__)
            self.ticks += 1

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="strato-widgets-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        import strato
        delay = self.interval
        while not self._stop.wait(delay):
            if not strato.is_initialized():
                break
            try:
                self.tick()
                delay = self.interval
            except Exception as exc:             # head unreachable for a moment: back off, keep going
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(5.0, delay * 2)
        self._stop.set()
