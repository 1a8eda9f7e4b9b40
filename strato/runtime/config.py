"""Tunable settings of a cluster (`_system_config` in `init`, `--system-config` in the CLI).

Every process of a cluster gets the same values: the starter passes them on
the command line of the GCS and raylet, raylets pass them to their workers.

Ray's own `_system_config` names are accepted too (`RAY_KEYS`), with Ray's
meanings, so settings copied from Ray's docs work:

    health_check_period_ms           -> health_check_period_s
    health_check_failure_threshold   -> a node silent for period x threshold is dead
                                        (health_check_timeout_s; Ray's defaults give 15 s)
    health_check_timeout_ms          -> how long one check may take; heartbeats are pushed
                                        here, so a check cannot hang: kept, no further effect
    health_check_initial_delay_ms    -> health_check_initial_delay_s: a new node is not
                                        declared dead before this much time has passed
    max_lineage_bytes, scheduler_spread_threshold, max_direct_call_object_size, ... (RAY_KEYS)

Ray settings with nothing to tune here (spilling paths, timeline, metrics ...)
are accepted and logged as having no effect (`RAY_KEYS_WITHOUT_EFFECT`). A
name neither knows is refused, with the list of known ones.
"""
from __future__ import annotations

import dataclasses
import json
import logging

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SystemConfig:
    health_check_period_s: float = 1.0       # raylet -> GCS heartbeat period
    health_check_timeout_s: float = 10.0     # silent this long: the node is marked dead
    health_check_initial_delay_s: float = 0.0  # a new node is never declared dead sooner than this
    health_check_rpc_timeout_s: float = 10.0   # Ray's health_check_timeout_ms (kept; heartbeats cannot hang)
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
        unknown = sorted(set(values) - set(names) - set(RAY_KEYS) - set(RAY_KEYS_WITHOUT_EFFECT))
        if unknown:
            raise ValueError(f"Unknown _system_config key(s) {unknown}; known keys: {sorted(names)}, and Ray's "
                             f"{sorted(RAY_KEYS)}")
        out = cls()
        ray_health = {}
        for key, value in values.items():
            if key in RAY_KEYS_WITHOUT_EFFECT:
                logger.info("_system_config[%r] is accepted for Ray compatibility and has no effect here: %s",
                            key, RAY_KEYS_WITHOUT_EFFECT[key])
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value or value < 0:
                raise TypeError(f"_system_config[{key!r}] must be a number >= 0, got {value!r}")
            if key in RAY_KEYS:
                field, scale = RAY_KEYS[key]
                if field in (None, "health_check_period_s"):
                    ray_health[key] = value
                if field is None:
                    continue
                key, value = field, value * scale
            setattr(out, key, type(getattr(out, key))(value))
        if ray_health:
            # Ray: a node is dead after `failure_threshold` missed checks, one every `period`.
            threshold = ray_health.get("health_check_failure_threshold", 5)
            if "num_heartbeats_timeout" in ray_health:
                threshold = ray_health["num_heartbeats_timeout"]
            if threshold < 1:
                raise ValueError(f"health_check_failure_threshold must be at least 1, got {threshold}")
            out.health_check_timeout_s = out.health_check_period_s * threshold
        return out

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SystemConfig":
        return cls.from_dict(json.loads(text) if text else {})


#: Ray's `_system_config` names -> (this config's field, factor), or (None, _): folded into the
#: silence limit (health_check_timeout_s = period x failure threshold) after every key is read.
RAY_KEYS: dict[str, tuple[str | None, float]] = {
    "health_check_period_ms": ("health_check_period_s", 1e-3),
    "raylet_heartbeat_period_milliseconds": ("health_check_period_s", 1e-3),
    "health_check_timeout_ms": ("health_check_rpc_timeout_s", 1e-3),
    "health_check_initial_delay_ms": ("health_check_initial_delay_s", 1e-3),
    "health_check_failure_threshold": (None, 1),
    "num_heartbeats_timeout": (None, 1),
    "max_lineage_bytes": ("max_lineage_bytes", 1),
    "scheduler_spread_threshold": ("spread_threshold", 1),
    "max_direct_call_object_size": ("max_inline_bytes", 1),
    "task_events_max_num_task_in_gcs": ("task_events_buffer", 1),
    "idle_worker_killing_time_threshold_ms": ("idle_worker_timeout_s", 1e-3),
    "worker_register_timeout_seconds": ("worker_start_timeout_s", 1),
}

#: Ray settings users copy from Ray's docs that have nothing to tune in strato, with the reason.
RAY_KEYS_WITHOUT_EFFECT: dict[str, str] = {
    "object_spilling_config": "spilling goes to the session folder; see README (object store)",
    "automatic_object_spilling_enabled": "spilling is always on",
    "max_io_workers": "spilling runs in the raylet, without IO workers",
    "min_spilling_size": "spilling writes whole objects",
    "object_spilling_threshold": "the store spills when an allocation does not fit",
    "object_timeout_milliseconds": "object pulls have no separate timeout",
    "lineage_pinning_enabled": "lineage is always kept, bounded by max_lineage_bytes",
    "object_store_full_delay_ms": "a full store spills or raises ObjectStoreFullError at once",
    "kill_idle_workers_interval_ms": "idle workers are reaped after idle_worker_timeout_s",
    "locality_aware_leasing_enabled": "leasing is always locality-aware",
    "enable_timeline": "task events are always recorded",
    "metrics_report_interval_ms": "there is no metrics agent",
    "gcs_rpc_server_reconnect_timeout_s": "clients retry an unreachable GCS for 60 s (rpc.GCS_RECONNECT_TIMEOUT_S)",
    "task_retry_delay_ms": "retries are queued at once",
    "local_fs_capacity_threshold": "spilling fails with ObjectStoreFullError when the disk is full",
    "worker_maximum_startup_concurrency": "worker start-up is not throttled",
    "enable_worker_prestart": "workers are started on demand and pooled",
    "memory_monitor_refresh_ms": "there is no memory monitor",
}
