"""The driver side of distributed training: actors, the tracker, attempts, checkpoints.

    driver (this module)                                  actor r = 0..N-1 (actor.py)
    ─────────────────────────────────────────────        ──────────────────────────────
    wait until the cluster can hold N actors (bounded)
    a SPREAD placement group of N bundles; actor r in
      bundle r, load(spec_r) ──────────────────────────►  read shard r
      (meanwhile the first attempt's tracker starts)
    per attempt:
      RabitTracker(N) on the driver, wait_for thread
      train.remote(tracker args, start model, rounds) ─►  CommunicatorContext: DMatrix, xgb.train
      poll: results, and the queue  ◄──────────────────   rank 0: checkpoint / metrics every k rounds
    on failure: RestartPolicy (recovery.py) decides;
      dead ranks are recreated and reload their shard,
      the next attempt continues from the checkpoint

Survivors of a failed attempt keep their loaded shards: when a peer dies,
xgboost's collective fails their running call within moments, and the actor
is reused. A survivor whose call does not end within `SURVIVOR_GRACE_S` is
killed and recreated like a dead one.
"""
from __future__ import annotations

import logging
import threading
import time

import strato
from strato.exceptions import GetTimeoutError, RayActorError
from strato.util.placement_group import placement_group, remove_placement_group
from strato.util.queue import Empty, Queue
from strato.util.scheduling_strategies import PlacementGroupSchedulingStrategy
from strato.xgboost.actor import TrainingActor
from strato.xgboost.placement import cluster_capacity, infeasible_message
from strato.xgboost.recovery import TrainingCheckpoint, merge_evals
from strato.xgboost.tune import trial_bundle

logger = logging.getLogger(__name__)

#: Seconds a surviving actor gets to end its call after a peer died.
SURVIVOR_GRACE_S = 30.0
#: Seconds to wait for the placement group (the cluster may be busy) and for the actors to load their shards.
READY_TIMEOUT_S = 300.0
#: Seconds the tracker waits for all workers to connect at the start of an attempt.
TRACKER_TIMEOUT_S = 60

_RemoteTrainingActor = strato.remote(TrainingActor)


class InsufficientResourcesError(RuntimeError):
    """The cluster cannot place the requested training actors."""


class AttemptFailed(Exception):
    """A training attempt ended with failed calls; says which ranks died and which only failed."""

    def __init__(self, dead: set, failed: set, errors: dict):
        self.dead, self.failed, self.errors = dead, failed, errors
        first = next(iter(errors.values()), None)
        super().__init__(f"dead ranks {sorted(dead)}, failed ranks {sorted(failed)}: {first!r}")


def _live_node_totals() -> list[dict]:
    return [n["Resources"] for n in strato.nodes() if n["Alive"]]


def _driver_ip() -> str:
    node_id = strato.get_runtime_context().get_node_id()
    for node in strato.nodes():
        if node["NodeID"] == node_id and node.get("NodeManagerAddress"):
            return node["NodeManagerAddress"]
    return "127.0.0.1"


def wait_for_capacity(num_actors: int, bundle: dict, timeout_s: float) -> None:
    """Return once the cluster's nodes could hold num_actors bundles; raise after timeout_s otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        totals = _live_node_totals()
        capacity = cluster_capacity(totals, bundle)
        if capacity >= num_actors:
            return
        if time.monotonic() >= deadline:
            raise InsufficientResourcesError(infeasible_message(num_actors, capacity, bundle, totals))
        time.sleep(0.25)


class Coordinator:
    """Owns the training actors and the checkpoint queue of one `train` call."""

    def __init__(self, ray_params, dtrain, evals: list, on_round=None, verbose: bool = False,
                 reserved_by_trial: bool = False):
        self.ray_params = ray_params
        self.dtrain = dtrain
        self.evals = evals
        self.num_actors = ray_params.num_actors
        self.actors: list = [None] * self.num_actors
        self.rows: list[int] = [0] * self.num_actors
        self.queue: Queue | None = None
        self.checkpoint: TrainingCheckpoint | None = None
        self.on_round = on_round
        self.verbose = verbose
        self.reserved_by_trial = reserved_by_trial
        self.placement_group = None
        self.prepared_tracker: tuple | None = None      # (worker args, monotonic start) for the next attempt

    # ------------------------------------------------------------ actors
    def start(self, ranks) -> None:
        """Create the actors of these ranks and have each load its shards."""
        if not self.reserved_by_trial:
            wait_for_capacity(self.num_actors, self.ray_params.bundle(), self.ray_params.placement_timeout_s)
        if self.queue is None:
            self.queue = Queue()
        # A Dataset's shards first: splitting it runs tasks that need CPUs the actors will hold. Other
        # sources are cut by the driver alone, while the actors start (and import xgboost).
        datasets_first = any(m.kind == "dataset" for m in [self.dtrain] + [m for m, _ in self.evals])
        if not datasets_first:
            self._create(ranks)
        train_specs = self.dtrain.shard_specs(self.num_actors)
        eval_specs = [
            [(name, None if matrix is self.dtrain else matrix.shard_specs(self.num_actors)[rank])
             for matrix, name in self.evals]
            for rank in range(self.num_actors)]
        if datasets_first:
            self._create(ranks)
        refs = {rank: self.actors[rank].load.remote(train_specs[rank], eval_specs[rank]) for rank in ranks}
        # The next attempt's tracker starts while the actors load (its worker_args() alone takes 0.1 s).
        preparing = threading.Thread(target=self._prepare_tracker, daemon=True, name="strato-xgboost-tracker-start")
        preparing.start()
        ready, _ = strato.wait(list(refs.values()), num_returns=len(refs), timeout=READY_TIMEOUT_S)
        preparing.join()
        if len(ready) < len(refs):
            raise InsufficientResourcesError(
                f"{len(refs) - len(ready)} training actor(s) did not start and load their data within "
                f"{READY_TIMEOUT_S:.0f} s: the cluster's resources are busy. Free them or use fewer actors.")
        for rank, ref in refs.items():
            self.rows[rank] = strato.get(ref)

    def _create(self, ranks) -> None:
        for rank in ranks:
            self.actors[rank] = _RemoteTrainingActor.options(**self._actor_options(rank)).remote(
                rank, self.num_actors)

    def _actor_options(self, rank: int) -> dict:
        """Inside a Tune trial actor r takes the trial's bundle for rank r (get_tune_resources), or, in a
        trial given plain resources that it holds itself, reserves nothing; otherwise it takes bundle r
        of a SPREAD placement group made once."""
        if self.reserved_by_trial:
            group = trial_bundle(self.num_actors)
            if group is None:
                return {"num_cpus": 0, "scheduling_strategy": "SPREAD", "max_restarts": 0}
            pg, offset = group
            strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=offset + rank)
            return dict(self.ray_params.actor_resources(), scheduling_strategy=strategy, max_restarts=0)
        if self.placement_group is None:
            self.placement_group = placement_group([self.ray_params.bundle()] * self.num_actors, strategy="SPREAD")
            if not self.placement_group.wait(timeout_seconds=READY_TIMEOUT_S):
                raise InsufficientResourcesError(
                    f"The cluster did not free room for {self.num_actors} training actors of "
                    f"{self.ray_params.bundle()} within {READY_TIMEOUT_S:.0f} s: its resources are busy. Free them "
                    f"or use fewer actors.")
        strategy = PlacementGroupSchedulingStrategy(self.placement_group, placement_group_bundle_index=rank)
        return dict(self.ray_params.actor_resources(), scheduling_strategy=strategy, max_restarts=0)

    def restart(self, ranks) -> None:
        for rank in ranks:
            self._kill(rank)
        self.start(ranks)

    def _kill(self, rank: int) -> None:
        actor, self.actors[rank] = self.actors[rank], None
        if actor is not None:
            try:
                strato.kill(actor)
            except Exception:   # already dead: nothing to free
                pass

    def shutdown(self) -> None:
        for rank in range(self.num_actors):
            self._kill(rank)
        if self.queue is not None:
            self.queue.shutdown()
            self.queue = None
        if self.placement_group is not None:
            remove_placement_group(self.placement_group)
            self.placement_group = None

    # ------------------------------------------------------------ attempts
    def run_attempt(self, params: dict, rounds: int, kwargs: dict, *, report_every_round: bool = False,
                    model_frequencies: tuple = (), final_round: int | None = None) -> dict:
        """One attempt of `rounds` rounds from the current checkpoint; returns rank 0's result plus totals."""
        start = self.checkpoint
        prefix = start.evals_result if start is not None else {}
        prefix_rounds = start.rounds_done if start is not None else 0
        prepared, self.prepared_tracker = self.prepared_tracker, None
        if prepared is not None and time.monotonic() - prepared[1] < TRACKER_TIMEOUT_S / 2:
            tracker_args = prepared[0]
        else:       # none, or too old: its workers might not all connect within its timeout
            tracker_args = self._start_tracker()
        eval_names = [name for _, name in self.evals]
        eval_matrix_args = {name: matrix.matrix_args for matrix, name in self.evals}
        refs = {rank: actor.train.remote(
            tracker_args, params, rounds, eval_names, start.model if start is not None else None, self.queue,
            self.ray_params.checkpoint_frequency, report_every_round, model_frequencies, final_round,
            self.dtrain.matrix_args, eval_matrix_args, dict(kwargs))
            for rank, actor in enumerate(self.actors)}
        results, errors, dead = {}, {}, set()
        pending = dict(refs)
        grace_deadline = None
        while pending:
            ready, _ = strato.wait(list(pending.values()), num_returns=1, timeout=0.5)
            self._drain(prefix, prefix_rounds)
            for rank, ref in list(pending.items()):
                if ref not in ready:
                    continue
                del pending[rank]
                try:
                    results[rank] = strato.get(ref)
                except RayActorError as exc:
                    dead.add(rank)
                    errors[rank] = exc
                except Exception as exc:   # the call raised in a live actor
                    errors[rank] = exc
            if errors and grace_deadline is None:
                grace_deadline = time.monotonic() + SURVIVOR_GRACE_S
            if grace_deadline is not None and time.monotonic() > grace_deadline:
                for rank in pending:        # stuck survivors: recreate them too
                    dead.add(rank)
                    errors[rank] = GetTimeoutError(f"rank {rank} did not end its call after a peer failed")
                break
        self._drain(prefix, prefix_rounds)
        if errors:
            raise AttemptFailed(dead, set(errors), errors)
        (first,) = [r for r in results.values() if r["booster"] is not None]
        return {"booster": first["booster"], "evals_result": merge_evals(prefix, first["evals_result"], prefix_rounds),
                "total_n": sum(r["n"] for r in results.values()),
                "train_time_s": max(r["train_time_s"] for r in results.values())}

    def _start_tracker(self) -> dict:
        """A RabitTracker for one attempt, waited for and freed by a thread of its own; returns its worker args.
        A tracker no worker joins (a prepared one not used) ends after its timeout."""
        from xgboost.tracker import RabitTracker

        tracker = RabitTracker(n_workers=self.num_actors, host_ip=_driver_ip(), port=0, sortby="task",
                               timeout=TRACKER_TIMEOUT_S)
        tracker.start()
        threading.Thread(target=self._wait_tracker, args=(tracker,), daemon=True,
                         name="strato-xgboost-tracker").start()
        return tracker.worker_args()

    def _prepare_tracker(self) -> None:
        try:
            self.prepared_tracker = (self._start_tracker(), time.monotonic())
        except Exception as exc:     # the attempt starts one itself, and reports what fails
            self.prepared_tracker = None
            logger.debug("could not prepare the tracker: %s", exc)

    @staticmethod
    def _wait_tracker(tracker) -> None:
        """Wait for the attempt's workers to finish, then free the tracker here (not in a later __del__,
        which would raise the tracker's stored error of a failed attempt as an unraisable exception)."""
        try:
            tracker.wait_for()
        except Exception:   # a failed attempt: the tracker times out waiting for workers that are gone
            pass
        try:
            tracker.free()
        except Exception:   # free() reports the same error again
            pass

    def _drain(self, prefix: dict, prefix_rounds: int) -> None:
        """Apply what rank 0 sent: checkpoints become the resume point, every round goes to on_round."""
        while True:
            try:
                _, rounds_done, log, raw = self.queue.get_nowait()
            except Empty:
                return
            evals_result = merge_evals(prefix, log, prefix_rounds)
            if raw is not None:
                self.checkpoint = TrainingCheckpoint(rounds_done, raw, evals_result)
            if self.on_round is not None:
                self.on_round(rounds_done, evals_result, raw)
