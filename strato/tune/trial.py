r"""A trial's lifecycle (an Enum with its allowed transitions) and the Trial record the controller keeps.

    PENDING --start--> RUNNING --function returned / stop criteria / scheduler STOP--> TERMINATED
       ^                  |  \--scheduler PAUSE--> PAUSED --chosen again--> RUNNING
       |                  |                           \--stopped--> TERMINATED
       |                  \--actor died / error: retries left--> PENDING (from its latest checkpoint)
       |                                    no retries left--> ERROR
       \------------- Tuner.restore(resume_errored / restart_errored) ------- ERROR

A Trial holds only plain data (config, results, checkpoints, counters); the
actor handle and in-flight calls live in the controller's `_Running` record,
so that trials pickle into the experiment state for Tuner.restore.
"""
from __future__ import annotations

import enum
import os

from strato.exceptions import InvalidTransition
from strato.tune.checkpoint import Checkpoint


class TrialStatus(str, enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"

    def __str__(self):
        return self.value


S = TrialStatus
TRANSITIONS: dict[TrialStatus, frozenset] = {
    S.PENDING: frozenset({S.RUNNING, S.TERMINATED, S.ERROR}),
    S.RUNNING: frozenset({S.PENDING, S.PAUSED, S.TERMINATED, S.ERROR}),
    S.PAUSED: frozenset({S.PENDING, S.RUNNING, S.TERMINATED, S.ERROR}),
    S.TERMINATED: frozenset(),
    S.ERROR: frozenset({S.PENDING}),
}


def validate() -> None:
    """Every status has a row; finished states only lead back through restore."""
    for st in TrialStatus:
        if st not in TRANSITIONS:
            raise InvalidTransition(f"no transitions listed for {st}")
    if TRANSITIONS[S.TERMINATED]:
        raise InvalidTransition("TERMINATED must be final")


class Trial:
    PENDING, RUNNING, PAUSED, TERMINATED, ERROR = (S.PENDING, S.RUNNING, S.PAUSED, S.TERMINATED, S.ERROR)

    def __init__(self, trial_id: str, config: dict, *, trainable_name: str = "trainable", local_path: str = "",
                 resources: dict | None = None, experiment_tag: str = ""):
        self.trial_id = trial_id
        self.config = config
        self.trainable_name = trainable_name
        self.local_path = local_path
        self.resources = dict(resources or {"CPU": 1})
        self.experiment_tag = experiment_tag
        self.status = S.PENDING
        self.last_result: dict = {}
        self.metric_history: list[tuple] = []    # (training_iteration, metric value), for views
        self.num_failures = 0
        self.stop_reason: str | None = None
        self.error_msg: str | None = None
        self.checkpoints: list[tuple[Checkpoint, dict]] = []   # persisted, oldest first
        self.latest_checkpoint: Checkpoint | None = None
        self.restore_from: Checkpoint | None = None            # start from here next time
        self.start_iteration = 0                                # training_iteration of restore_from
        self.start_time_total = 0.0
        self.history: list[tuple[str, str]] = []                # (from, to) transitions, for the story
        self.saved_at_end = False

    # ---------------------------------------------------------------- lifecycle
    def set_status(self, new: TrialStatus) -> None:
        new = TrialStatus(new)
        if new == self.status:
            return
        if new not in TRANSITIONS[self.status]:
            raise InvalidTransition(f"trial {self.trial_id}: {self.status} -> {new} is not allowed "
                                    f"(allowed: {sorted(map(str, TRANSITIONS[self.status]))})")
        self.history.append((str(self.status), str(new)))
        self.status = new

    def is_finished(self) -> bool:
        return self.status in (S.TERMINATED, S.ERROR)

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The latest persisted checkpoint (what a restart or a PBT clone starts from)."""
        return self.latest_checkpoint

    @property
    def path(self) -> str:
        return self.local_path

    @property
    def trial_name(self) -> str:
        return f"{self.trainable_name}_{self.trial_id}"

    def __str__(self):
        return self.trial_name

    def __repr__(self):
        return f"Trial({self.trial_name}, {self.status})"

    def __hash__(self):
        return hash(self.trial_id)

    def __eq__(self, other):
        return isinstance(other, Trial) and other.trial_id == self.trial_id

    def checkpoint_dir(self, iteration: int) -> str:
        return os.path.join(self.local_path, f"checkpoint_{iteration:06d}")
