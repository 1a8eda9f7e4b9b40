"""What to do when a training attempt fails: a pure policy, unit-tested without processes.

The coordinator runs attempts; after each failed one it reports which ranks'
actors died (`dead_ranks`) and which ranks failed without dying (their calls
raised, e.g. because a peer vanished from the collective), together with the
latest checkpoint it received. The policy answers with one instruction:

    Resume(restart_ranks, rounds_done, rounds_left)   start a new attempt: recreate the actors of
                                                      restart_ranks (they reload their shards), and
                                                      continue from the checkpoint (rounds_done rounds
                                                      already in the model) for rounds_left more rounds
    GiveUp(reason)                                    raise; no actor died (a user error would repeat), or
                                                      the restart budget (max_actor_restarts) is spent

`merge_evals` stitches the evaluation history of a resumed attempt onto the
history kept in the checkpoint, so evals_result covers every round once.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainingCheckpoint:
    """The model after `rounds_done` rounds (xgboost's raw bytes) and the eval history up to then."""
    rounds_done: int
    model: bytes
    evals_result: dict


@dataclasses.dataclass(frozen=True)
class Resume:
    restart_ranks: tuple[int, ...]
    rounds_done: int
    rounds_left: int
    reason: str


@dataclasses.dataclass(frozen=True)
class GiveUp:
    reason: str


class RestartPolicy:
    """Counts restarts against `max_actor_restarts` (-1: no limit) and says how to resume."""

    def __init__(self, num_boost_round: int, max_actor_restarts: int):
        if num_boost_round < 0:
            raise ValueError(f"num_boost_round must be >= 0, got {num_boost_round}")
        self.num_boost_round = num_boost_round
        self.max_actor_restarts = max_actor_restarts
        self.restarts = 0
        self.history: list[str] = []

    def rounds_left(self, checkpoint: TrainingCheckpoint | None) -> int:
        done = checkpoint.rounds_done if checkpoint is not None else 0
        return max(0, self.num_boost_round - done)

    def on_failure(self, dead_ranks, failed_ranks, checkpoint: TrainingCheckpoint | None) -> Resume | GiveUp:
        """An attempt ended with these ranks' actors dead and these other ranks' calls failed."""
        dead = tuple(sorted(set(dead_ranks)))
        failed = tuple(sorted(set(failed_ranks) - set(dead)))
        if not dead:
            reason = f"ranks {list(failed)} raised without any actor dying: an error in the data or parameters"
            self.history.append(f"give up: {reason}")
            return GiveUp(reason)
        if self.max_actor_restarts != -1 and self.restarts >= self.max_actor_restarts:
            reason = (f"the actor(s) of rank(s) {list(dead)} died and the restart budget is spent "
                      f"(max_actor_restarts={self.max_actor_restarts}, restarts so far: {self.restarts})")
            self.history.append(f"give up: {reason}")
            return GiveUp(reason)
        self.restarts += 1
        done = checkpoint.rounds_done if checkpoint is not None else 0
        reason = (f"restart {self.restarts}: rank(s) {list(dead)} died; resuming after round {done} "
                  f"of {self.num_boost_round}")
        self.history.append(reason)
        return Resume(dead, done, self.rounds_left(checkpoint), reason)


def merge_evals(prefix: dict, attempt: dict, rounds_done: int) -> dict:
    """The first `rounds_done` rounds of `prefix` followed by `attempt`'s rounds, per data set and metric."""
    out: dict = {}
    for name in list(prefix) + [n for n in attempt if n not in prefix]:
        metrics: dict = {}
        before, after = prefix.get(name, {}), attempt.get(name, {})
        for metric in list(before) + [m for m in after if m not in before]:
            metrics[metric] = list(before.get(metric, []))[:rounds_done] + list(after.get(metric, []))
        out[name] = metrics
    return out
