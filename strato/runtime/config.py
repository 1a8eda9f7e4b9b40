"""Tunable settings of a cluster (`_system_config` in `init`, `--system-config` in the CLI).

Every process of a cluster gets the same values: the starter passes them on
the command line of the GCS and raylet, raylets pass them to their workers.
"""
from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass
class SystemConfig:
    health_check_period_s: float = 1.0       # raylet -> GCS heartbeat period
    health_check_timeout_s: float = 10.0     # silent this long: the node is marked dead
    idle_worker_timeout_s: float = 10.0      # extra idle workers beyond the pool size are reaped after this
    lease_linger_s: float = 0.05             # an owner keeps an idle lease this long for its next task
    max_inline_bytes: int = 100 * 1024       # results up to this size travel inline
    task_events_buffer: int = 100_000        # the GCS keeps the events of about the last N tasks
    worker_start_timeout_s: float = 30.0
    spread_threshold: float = 0.5            # hybrid policy: prefer the local node below this utilization
    max_frame_bytes: int = 1 << 30           # largest hot-path frame a peer may announce (after the token hello)
    max_lineage_bytes: int = 1 << 30         # an owner keeps task specs up to this size to rebuild lost outputs

    @classmethod
    def from_dict(cls, values: dict | None) -> "SystemConfig":
        values = dict(values or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"Unknown _system_config key(s) {unknown}; known keys: {sorted(names)}")
        out = cls()
        for key, value in values.items():
            want = type(getattr(out, key))
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"_system_config[{key!r}] must be a number, got {value!r}")
            setattr(out, key, want(value))
        return out

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SystemConfig":
        return cls.from_dict(json.loads(text) if text else {})
