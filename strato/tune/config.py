"""TuneConfig, RunConfig, CheckpointConfig, FailureConfig (Ray Tune's names, fields and defaults)."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Mapping


@dataclasses.dataclass
class CheckpointConfig:
    num_to_keep: int | None = None
    checkpoint_score_attribute: str | None = None
    checkpoint_score_order: str = "max"
    checkpoint_frequency: int = 0
    checkpoint_at_end: bool | None = None

    def __post_init__(self):
        if self.num_to_keep is not None and (not isinstance(self.num_to_keep, int) or self.num_to_keep < 1):
            raise ValueError(f"CheckpointConfig(num_to_keep=...) must be None or an int >= 1, got {self.num_to_keep!r}.")
        if self.checkpoint_score_order not in ("max", "min"):
            raise ValueError(f"checkpoint_score_order must be 'max' or 'min', got {self.checkpoint_score_order!r}.")
        if self.checkpoint_frequency < 0:
            raise ValueError(f"checkpoint_frequency must be >= 0, got {self.checkpoint_frequency}.")


@dataclasses.dataclass
class FailureConfig:
    max_failures: int = 0
    fail_fast: bool | str = False

    def __post_init__(self):
        if not isinstance(self.max_failures, int) or self.max_failures < -1:
            raise ValueError(f"FailureConfig(max_failures=...) must be an int >= -1 (-1: retry forever), got "
                             f"{self.max_failures!r}.")
        if self.fail_fast not in (True, False, "raise"):
            raise ValueError(f"fail_fast must be True, False or 'raise', got {self.fail_fast!r}.")


@dataclasses.dataclass
class SyncConfig:
    """Accepted for compatibility: storage here is a local or shared folder, nothing is synced."""

    sync_period: int = 300
    sync_timeout: int = 1800
    sync_artifacts: bool = False


@dataclasses.dataclass
class TuneConfig:
    mode: str | None = None
    metric: str | None = None
    search_alg: Any = None
    scheduler: Any = None
    num_samples: int = 1
    max_concurrent_trials: int | None = None
    time_budget_s: float | None = None
    reuse_actors: bool = False
    trial_name_creator: Callable | None = None
    trial_dirname_creator: Callable | None = None
    chdir_to_trial_dir: bool = False

    def __post_init__(self):
        if self.mode is not None and self.mode not in ("min", "max"):
            raise ValueError(f"TuneConfig(mode=...) must be 'min' or 'max', got {self.mode!r}.")
        if not isinstance(self.num_samples, int) or self.num_samples == 0 or self.num_samples < -1:
            raise ValueError(f"num_samples must be an int >= 1 (or -1 for unlimited), got {self.num_samples!r}.")
        if self.max_concurrent_trials is not None and self.max_concurrent_trials < 1:
            raise ValueError(f"max_concurrent_trials must be None or >= 1, got {self.max_concurrent_trials}.")


def default_storage_path() -> str:
    return os.environ.get("STRATO_RESULTS_DIR") or os.path.expanduser("~/strato_results")


@dataclasses.dataclass
class RunConfig:
    name: str | None = None
    storage_path: str | None = None
    storage_filesystem: Any = None
    failure_config: FailureConfig | None = None
    checkpoint_config: CheckpointConfig | None = None
    sync_config: SyncConfig | None = None
    verbose: int | None = None
    stop: Mapping | Callable | Any = None
    callbacks: list | None = None
    progress_reporter: Any = None
    log_to_file: bool | str = False

    def __post_init__(self):
        if self.storage_filesystem is not None:
            raise ValueError("RunConfig(storage_filesystem=...) is not supported: give storage_path as a local or "
                             "mounted folder.")
        self.failure_config = self.failure_config or FailureConfig()
        self.checkpoint_config = self.checkpoint_config or CheckpointConfig()
