"""Ray Train's configuration and result objects: ScalingConfig, RunConfig, Result; Checkpoint is strato.tune's."""
from __future__ import annotations

import dataclasses

from strato.tune.checkpoint import Checkpoint   # one Checkpoint class, as in Ray (ray.train.Checkpoint)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass
class ScalingConfig:
    """How many workers train and what each one reserves (Ray Train's ScalingConfig).

    num_workers: workers (one data shard each), >= 1.
    use_gpu: give each worker one GPU unless resources_per_worker says otherwise.
    resources_per_worker: e.g. {"CPU": 2, "GPU": 1, "custom": 1}; default {"CPU": 1}.
    """
    num_workers: int = 1
    use_gpu: bool = False
    resources_per_worker: dict | None = None
    trainer_resources: dict | None = None
    placement_strategy: str = "PACK"

    def __post_init__(self):
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 1:
            raise ValueError(f"ScalingConfig(num_workers=...) must be an int >= 1, got {self.num_workers!r}.")
        if self.resources_per_worker is not None and not (
                isinstance(self.resources_per_worker, dict)
                and all(isinstance(k, str) and _is_number(v) and v >= 0 for k, v in self.resources_per_worker.items())):
            raise ValueError(f"ScalingConfig(resources_per_worker=...) must map resource names to amounts >= 0, "
                             f"e.g. {{'CPU': 1}}, got {self.resources_per_worker!r}.")

    @property
    def worker_resources(self) -> dict:
        resources = dict(self.resources_per_worker or {})
        resources.setdefault("CPU", 1)
        if self.use_gpu:
            resources.setdefault("GPU", 1)
        return resources


@dataclasses.dataclass
class RunConfig:
    """Where results go: storage_path/name (default ~/strato_results/<trainer>_<time>)."""
    name: str | None = None
    storage_path: str | None = None


@dataclasses.dataclass
class Result:
    """What fit() returns: the last reported metrics, the checkpoint, the run's directory, the error if any."""
    metrics: dict
    checkpoint: Checkpoint | None
    path: str | None = None
    error: BaseException | None = None
    metrics_dataframe: object = None
