"""RayParams: how many actors train, what each one gets, how failures are handled.

The same fields as XGBoost-Ray's RayParams. `validate()` raises a clear error
for a bad value; `resolve(cluster_cpus)` fills the defaults that depend on the
cluster (cpus_per_actor=0 means "share the cluster's CPUs among the actors").
"""
from __future__ import annotations

import dataclasses
import warnings


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass
class RayParams:
    """Parameters of distributed training and prediction.

    num_actors:          actors (= data shards) to train on; required, >= 1.
    cpus_per_actor:      CPUs each actor reserves, also xgboost's nthread there. 0: the cluster's CPUs
                         divided among the actors (at least 1).
    gpus_per_actor:      GPUs each actor reserves (-1 or 0: none).
    resources_per_actor: custom resources each actor reserves, e.g. {"memory_hog": 1}.
    max_actor_restarts:  times training is resumed after an actor dies (-1: forever).
    checkpoint_frequency: rank 0 sends the model to the driver every this many rounds (and at the end);
                         after a failure training resumes from the latest one. 0: only at the end.
    elastic_training:    training on the surviving actors while a dead one restarts; not supported
                         (must be False).
    placement_timeout_s: how long to wait for the cluster to have nodes enough for all actors before failing.
    max_failed_actors, placement_options: accepted for compatibility; they only matter to elastic training.
    distributed_callbacks: not supported (must be None); pass xgboost callbacks to train(callbacks=...).
    verbose:             print a line per attempt and per failure.
    """

    num_actors: int = 0
    cpus_per_actor: float = 0
    gpus_per_actor: float = -1
    resources_per_actor: dict | None = None
    elastic_training: bool = False
    max_failed_actors: int = 0
    max_actor_restarts: int = 0
    checkpoint_frequency: int = 5
    distributed_callbacks: list | None = None
    verbose: bool | None = None
    placement_options: dict | None = None
    placement_timeout_s: float = 5.0

    def validate(self) -> "RayParams":
        if not _is_int(self.num_actors) or self.num_actors < 1:
            raise ValueError(f"RayParams(num_actors=...) must be an int >= 1, got {self.num_actors!r}: say how many "
                             f"actors (data shards) should train, e.g. RayParams(num_actors=2).")
        if self.num_actors == 1:
            warnings.warn("RayParams(num_actors=1) trains on a single actor: no distribution. Use num_actors >= 2 "
                          "to split the data.", stacklevel=3)
        if not _is_number(self.cpus_per_actor) or self.cpus_per_actor < 0:
            raise ValueError(f"RayParams(cpus_per_actor=...) must be a number >= 0 (0: share the cluster's CPUs), "
                             f"got {self.cpus_per_actor!r}.")
        if not _is_number(self.gpus_per_actor) or self.gpus_per_actor < -1:
            raise ValueError(f"RayParams(gpus_per_actor=...) must be a number >= 0 (or -1 for none), "
                             f"got {self.gpus_per_actor!r}.")
        if self.resources_per_actor is not None and not (
                isinstance(self.resources_per_actor, dict)
                and all(isinstance(k, str) and _is_number(v) and v >= 0 for k, v in self.resources_per_actor.items())):
            raise ValueError(f"RayParams(resources_per_actor=...) must be a dict of resource name to amount >= 0, "
                             f"got {self.resources_per_actor!r}.")
        if not _is_int(self.max_actor_restarts) or self.max_actor_restarts < -1:
            raise ValueError(f"RayParams(max_actor_restarts=...) must be an int >= 0, or -1 to restart forever, "
                             f"got {self.max_actor_restarts!r}.")
        if not _is_int(self.checkpoint_frequency) or self.checkpoint_frequency < 0:
            raise ValueError(f"RayParams(checkpoint_frequency=...) must be an int >= 0 (rounds between checkpoints; "
                             f"0: only at the end), got {self.checkpoint_frequency!r}.")
        if not isinstance(self.elastic_training, bool):
            raise ValueError(f"RayParams(elastic_training=...) must be True or False, got {self.elastic_training!r}.")
        if self.elastic_training:
            raise NotImplementedError(
                "Elastic training (continuing on the surviving actors) is not supported by strato.xgboost. Use "
                "elastic_training=False with max_actor_restarts=N: a dead actor is restarted and training resumes "
                "from the last checkpoint.")
        if self.distributed_callbacks:
            raise NotImplementedError(
                "RayParams(distributed_callbacks=...) is not supported by strato.xgboost. Pass xgboost callbacks "
                "in train(..., callbacks=[...]): they run in every actor.")
        if not _is_int(self.max_failed_actors) or self.max_failed_actors < 0:
            raise ValueError(f"RayParams(max_failed_actors=...) must be an int >= 0, got {self.max_failed_actors!r}.")
        if not _is_number(self.placement_timeout_s) or self.placement_timeout_s < 0:
            raise ValueError(f"RayParams(placement_timeout_s=...) must be a number >= 0, "
                             f"got {self.placement_timeout_s!r}.")
        return self

    def resolve(self, cluster_cpus: float) -> "RayParams":
        """A validated copy with cpus_per_actor filled in from the cluster's CPU count."""
        self.validate()
        cpus = self.cpus_per_actor or max(1, int(cluster_cpus // self.num_actors))
        return dataclasses.replace(self, cpus_per_actor=cpus)

    @property
    def nthread(self) -> int:
        """xgboost's nthread in each actor: its reserved CPUs, at least 1."""
        return max(1, int(self.cpus_per_actor))

    def actor_resources(self) -> dict:
        """The resources one actor reserves, as actor options."""
        options = {"num_cpus": self.cpus_per_actor}
        if self.gpus_per_actor and self.gpus_per_actor > 0:
            options["num_gpus"] = self.gpus_per_actor
        if self.resources_per_actor:
            options["resources"] = dict(self.resources_per_actor)
        return options

    def get_tune_resources(self):
        """The bundles a strato.tune trial needs to run training with these parameters (see tune.py)."""
        from strato.xgboost.tune import get_tune_resources
        return get_tune_resources(self)

    def bundle(self) -> dict:
        """One actor's resources as a bundle ({"CPU": c, "GPU": g, ...})."""
        bundle = {"CPU": self.cpus_per_actor}
        if self.gpus_per_actor and self.gpus_per_actor > 0:
            bundle["GPU"] = self.gpus_per_actor
        bundle.update(self.resources_per_actor or {})
        return bundle


def check_xgb_params(params: dict) -> None:
    """Reject xgboost parameters that cannot train distributed."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of xgboost parameters, got {type(params).__name__}.")
    if params.get("tree_method") == "exact":
        raise ValueError('tree_method="exact" cannot train distributed (xgboost supports it on one process only). '
                         'Use tree_method="hist" (the default) or "approx".')
    updater = str(params.get("updater", ""))
    if "grow_colmaker" in updater:
        raise ValueError('The "grow_colmaker" updater (exact greedy) cannot train distributed. Use '
                         'tree_method="hist" or "approx".')
