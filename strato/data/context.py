"""DataContext: the driver's settings for executing datasets (Ray Data's `DataContext.get_current()`).

    ctx = strato.data.DataContext.get_current()
    ctx.enable_progress_bars = False          # no bars, in a notebook or a terminal
    ctx.max_bytes_in_flight = 64 << 20        # blocks a running dataset may hold in the store

`max_bytes_in_flight` None means a quarter of the cluster's object store
capacity (policy.py explains what it bounds).
"""
from __future__ import annotations

import dataclasses
import threading

_local = threading.local()
_default = None
_lock = threading.Lock()


@dataclasses.dataclass
class DataContext:
    enable_progress_bars: bool = True
    max_bytes_in_flight: int | None = None
    store_fraction_in_flight: float = 0.25
    max_tasks_in_flight_per_actor: int = 2
    default_batch_size: int = 1024

    @staticmethod
    def get_current() -> DataContext:
        global _default
        with _lock:
            if _default is None:
                _default = DataContext()
            return _default

    def budget_bytes(self) -> int:
        """Bytes of blocks a running dataset may hold in the object store."""
        if self.max_bytes_in_flight is not None:
            return int(self.max_bytes_in_flight)
        import strato
        capacity = strato.cluster_resources().get("object_store_memory", 2 << 30)
        return max(1 << 20, int(capacity * self.store_fraction_in_flight))
