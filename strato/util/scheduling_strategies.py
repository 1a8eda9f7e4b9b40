"""Scheduling strategies for `.options(scheduling_strategy=...)`, as in Ray."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class NodeAffinitySchedulingStrategy:
    """Run on the node `node_id` (hex); with soft=True, anywhere if that node is gone or full."""
    node_id: str
    soft: bool = False

    def __post_init__(self):
        try:
            bytes.fromhex(self.node_id)
        except (TypeError, ValueError):
            raise ValueError(f"NodeAffinitySchedulingStrategy needs a node id in hex (as strato.nodes() "
                             f"shows under 'NodeID'), got {self.node_id!r}") from None
