"""The class API: subclass tune.Trainable and Tune calls setup once, step per iteration.

    class MyTrainable(tune.Trainable):
        def setup(self, config): self.x = 0
        def step(self): self.x += 1; return {"score": self.x}
        def save_checkpoint(self, checkpoint_dir): ... return None or a dict
        def load_checkpoint(self, checkpoint): ...   # the dict, or the directory

Run by the trial actor's loop (trial_actor.py): a result per step, a checkpoint
every `checkpoint_frequency` steps, when the scheduler asks (PBT) and at the end.
"""
from __future__ import annotations


class Trainable:
    def __init__(self, config: dict | None = None, **kwargs):
        self.config = config or {}
        self._iteration = 0
        self.setup(self.config, **kwargs)

    @property
    def iteration(self) -> int:
        return self._iteration

    @property
    def training_iteration(self) -> int:
        return self._iteration

    def setup(self, config: dict, **kwargs) -> None:
        pass

    def step(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement step() and return a dict of metrics.")

    def save_checkpoint(self, checkpoint_dir: str) -> dict | None:
        raise NotImplementedError(f"{type(self).__name__} was asked to checkpoint but does not implement "
                                  f"save_checkpoint(checkpoint_dir); implement it (and load_checkpoint) or set "
                                  f"CheckpointConfig(checkpoint_at_end=False).")

    def load_checkpoint(self, checkpoint) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement load_checkpoint(checkpoint) to resume.")

    def reset_config(self, new_config: dict) -> bool:
        return False

    def cleanup(self) -> None:
        pass

    @classmethod
    def default_resource_request(cls, config: dict):
        return None

    def get_config(self) -> dict:
        return self.config


def overrides_save(cls) -> bool:
    return getattr(cls, "save_checkpoint", None) is not Trainable.save_checkpoint
