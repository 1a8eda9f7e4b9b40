"""The trial controller: the IO shell that runs trials as actors and applies the pure policies.

    loop (driver thread that called fit()):
        launch:   scheduler.choose_trial_to_run / search_alg.next_config -> Trial (PENDING)
                  -> fits the cluster's free resources and max_concurrent_trials?
                  -> TrialActor.options(resources).remote()  (or an idle one, reuse_actors), in a
                     placement group of its bundles for a PlacementGroupFactory (trial_actors.py)
                     .start(payload, trainable_ref); .poll(generation)   (one poll in flight per trial)
        wait:     strato.wait(every in-flight poll, num_returns=1, timeout=0.5)
        results:  result.json / progress.csv, checkpoints kept (num_to_keep), stop criteria,
                  search_alg.on_trial_result, scheduler.on_trial_result -> Decision:
                  CONTINUE (.save -> ask a class trainable to checkpoint) | PAUSE (.exploit -> PBT clone)
                  | STOP (reason shown in the table and TuneView)
        failure:  poll's ref raised (actor died) or the trainable raised -> restart from the latest
                  checkpoint while failures <= max_failures, else ERROR
        every s:  experiment_state.pkl (Tuner.restore), the run summary in the GCS KV, the reporter

Trials never block on the controller: their reports are buffered in the actor
(session.py) and drained by poll. `snapshot()` (under `lock`) is what TuneView
and the terminal table read, from any thread.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
import uuid

import strato
from strato.exceptions import StratoError, TaskError
from strato.tune.checkpoint import Checkpoint
from strato.tune.resources import trial_resources
from strato.tune.schedulers.trial_scheduler import FIFOScheduler
from strato.tune.search.searcher import Searcher
from strato.tune.stopper import make_stopper
from strato.tune.storage import TrialLog, delete_checkpoint, jsonable, keep_checkpoints, save_state
from strato.tune.trial import Trial, TrialStatus as S
from strato.tune.trial_actor import TrialActor
from strato.tune.trial_actors import TrialActors, never_placed
from strato.tune import publish as publish_mod
from strato.tune.callback import call as call_back

logger = logging.getLogger(__name__)

POLL_TIMEOUT_S = 2.0
SAVE_EVERY_S = 1.0
PUBLISH_EVERY_S = 1.0
HISTORY_CAP = 2000
SUMMARY_TRIALS = 500            # trial rows published per run (the lab's list stays small)

_RemoteTrialActor = strato.remote(TrialActor)


class TuneError(StratoError):
    """A Tune run failed as a whole (fail_fast, infeasible trial resources)."""


class _Running:
    __slots__ = ("actor", "generation", "key", "start_ref")

    def __init__(self, actor, generation, key, start_ref):
        self.actor, self.generation, self.key, self.start_ref = actor, generation, key, start_ref


def _resource_key(res: dict) -> tuple:
    return tuple(sorted(res.items()))


class TuneController:
    def __init__(self, *, trainable, experiment_dir: str, name: str, search_alg, scheduler, tune_config,
                 run_config, trials: list[Trial] | None = None, uid: str | None = None, next_index: int = 0,
                 search_finished: bool = False):
        self.trainable = trainable
        self.trainable_name = getattr(trainable, "__name__", type(trainable).__name__)
        self.is_class = isinstance(trainable, type)
        self.experiment_dir = experiment_dir
        self.name = name
        self.search_alg = search_alg
        self.scheduler = scheduler or FIFOScheduler()
        self.tune_config = tune_config
        self.run_config = run_config
        self.metric, self.mode = tune_config.metric, tune_config.mode
        self.trials: list[Trial] = list(trials or [])
        self.uid = uid or uuid.uuid4().hex[:5]
        self.next_index = next_index
        self.search_finished = search_finished
        self.stopper = make_stopper(run_config.stop)
        self.stop_dict = dict(run_config.stop) if isinstance(run_config.stop, dict) else None
        self.lock = threading.RLock()
        self.status = "PENDING"
        self.started_at = time.time()
        self._running: dict[str, _Running] = {}
        self._by_id: dict[str, Trial] = {}
        self._inflight: dict = {}                     # ref -> (trial_id, kind)
        self._idle: list[tuple[tuple, object]] = []   # (resource key, actor) kept for reuse
        self._actors = TrialActors(_RemoteTrialActor)   # creates and ends them, with their placement groups
        self._logs: dict[str, TrialLog] = {}
        self._generation = 0
        self._total: dict = {}
        self._node_totals: list[dict] = []           # each alive node's total resources (with _total)
        self._total_at = 0.0
        self._dirty = True
        self._saved_at = self._published_at = 0.0
        self._trainable_ref = None
        self._interrupted = False
        self.listeners: list = []                      # callables(controller) each loop turn
        self.version = 0                               # bumps when anything shown changes
        self.callbacks = list(run_config.callbacks or [])
        # How far a trial may report ahead of the decisions on its results: far when nothing stops trials
        # from results (FIFO, no stop function), one result otherwise (as Ray's report waits for its turn).
        decides = type(self.scheduler) is not FIFOScheduler or (self.stopper is not None and self.stop_dict is None)
        self._ahead = 1 if decides else 16
        self.iteration = 0

    # ------------------------------------------------------------ the scheduler's view of us
    def get_trials(self) -> list[Trial]:
        return self.trials

    def get_live_trials(self) -> list[Trial]:
        return [t for t in self.trials if not t.is_finished()]

    def stop_trial(self, trial: Trial, reason: str = "") -> None:
        """Used by schedulers acting on trials other than the one reporting (HyperBand)."""
        if trial.is_finished():
            return
        trial.stop_reason = reason or trial.stop_reason
        self._end(trial, S.TERMINATED)
        self._notify_complete(trial, trial.last_result, scheduler=False)

    def unpause_trial(self, trial: Trial) -> None:
        if trial.status == S.PAUSED:
            trial.set_status(S.PENDING)
            self._changed()

    # ------------------------------------------------------------ main loop
    def run(self) -> None:
        self._trainable_ref = strato.put(self.trainable)
        self.status = "RUNNING"
        self.started_at = time.time()
        try:
            while not self.is_finished():
                self.step()
            self.status = "TERMINATED" if not any(t.status == S.ERROR for t in self.trials) else "ERROR"
        except KeyboardInterrupt:
            self.status = "INTERRUPTED"
            self._interrupted = True
            raise
        except BaseException:
            self.status = "ERROR"
            raise
        finally:
            self._shutdown()

    def is_finished(self) -> bool:
        if not self.search_finished:
            return False
        return all(t.is_finished() for t in self.trials)

    def step(self) -> None:
        self.iteration += 1
        with self.lock:
            self._check_budget()
            self._launch()
        refs = list(self._inflight)
        if refs:
            ready, _ = strato.wait(refs, num_returns=1, timeout=0.5)
            if ready:
                ready, _ = strato.wait(refs, num_returns=len(refs), timeout=0)
            with self.lock:
                for ref in ready:
                    if ref in self._inflight:          # handling one may have dropped the trial's others
                        self._handle(ref)
        else:
            time.sleep(0.02)
        self._tick()

    # ------------------------------------------------------------ launching
    def _cluster_total(self) -> dict:
        if time.time() - self._total_at > 5.0 or not self._total:
            self._total = strato.cluster_resources()
            self._node_totals = [n["Resources"] for n in strato.nodes() if n["Alive"]]
            self._total_at = time.time()
        return self._total

    def _used(self) -> dict:
        used: dict = {}
        keys = [r.key for r in self._running.values()] + [k for k, _ in self._idle]
        for key in keys:
            for k, v in key:
                used[k] = used.get(k, 0) + v
        return used

    def _fits(self, res: dict) -> bool:
        total, used = self._cluster_total(), self._used()
        return all(used.get(k, 0) + v <= total.get(k, 0) + 1e-9 for k, v in res.items())

    def _check_feasible(self, trial: Trial) -> None:
        total = self._cluster_total()
        missing = {k: v for k, v in trial.resources.items() if v > total.get(k, 0) + 1e-9}
        if missing:
            raise TuneError(f"trial {trial.trial_name} asks for {trial.resources} but the cluster has "
                            f"{ {k: total.get(k, 0) for k in trial.resources} } in all: lower the trial's "
                            f"resources (tune.with_resources) or add nodes.")
        placement = getattr(trial, "placement", None)
        why = placement is not None and never_placed(placement, self._node_totals)
        if why:
            raise TuneError(f"trial {trial.trial_name}'s bundles {placement.bundles} can never be placed: {why}. "
                            f"Change the PlacementGroupFactory (bundles or strategy) or add nodes.")

    def _launch(self) -> None:
        max_conc = self.tune_config.max_concurrent_trials
        while True:
            if max_conc and len(self._running) >= max_conc:
                return
            trial = self.scheduler.choose_trial_to_run(self)
            if trial is None:
                trial = self._new_trial()
            if trial is None and not self._running and not self._inflight:
                trial = next((t for t in self.trials if t.status in (S.PENDING, S.PAUSED)), None)
            if trial is None:
                return
            self._check_feasible(trial)
            key = _resource_key(trial.resources)
            if any(k == key for k, _ in self._idle):       # an idle actor of this shape: its resources carry over
                self._start(trial)
                continue
            if not self._fits(trial.resources):
                if self._idle:
                    self._kill_idle()
                    if self._fits(trial.resources):
                        self._start(trial)
                        continue
                return
            self._start(trial)

    def _new_trial(self) -> Trial | None:
        if self.search_finished:
            return None
        trial_id = f"{self.uid}_{self.next_index:05d}"
        cfg = self.search_alg.next_config(trial_id)
        if cfg is None:
            return None
        if isinstance(cfg, str) and cfg == Searcher.FINISHED:
            self.search_finished = True
            return None
        self.next_index += 1
        res, bundles, placement = trial_resources(self.trainable, cfg)
        trial = Trial(trial_id, cfg, trainable_name=self.trainable_name, resources=res)
        trial.bundles, trial.placement = bundles, placement
        dirname = (self.tune_config.trial_dirname_creator(trial) if self.tune_config.trial_dirname_creator
                   else f"{self.trainable_name}_{trial_id}")
        trial.local_path = os.path.join(self.experiment_dir, dirname)
        if self.tune_config.trial_name_creator:
            trial.custom_name = str(self.tune_config.trial_name_creator(trial))
        self.trials.append(trial)
        self.scheduler.on_trial_add(self, trial)
        self._log(trial).write_params(trial.config)
        self._changed()
        return trial

    def _log(self, trial: Trial) -> TrialLog:
        log = self._logs.get(trial.trial_id)
        if log is None:
            log = self._logs[trial.trial_id] = TrialLog(trial.local_path)
        return log

    def _start(self, trial: Trial) -> None:
        key = _resource_key(trial.resources)
        actor = None
        for i, (k, a) in enumerate(self._idle):
            if k == key:
                actor = self._idle.pop(i)[1]
                break
        if actor is None:
            actor = self._actors.create(trial.resources, getattr(trial, "placement", None))
        self._generation += 1
        gen = self._generation
        ckpt = trial.restore_from
        cc = self.run_config.checkpoint_config
        payload = {
            "generation": gen, "config": trial.config,
            "info": {"trial_id": trial.trial_id, "trial_name": getattr(trial, "custom_name", trial.trial_name),
                     "trial_dir": trial.local_path, "experiment_name": self.name, "resources": trial.resources,
                     "bundles": getattr(trial, "bundles", None), "storage_path": self.experiment_dir},
            "checkpoint": ckpt.path if ckpt is not None else None,
            "start_iteration": trial.start_iteration, "start_time_total": trial.start_time_total,
            "stop": self.stop_dict, "checkpoint_frequency": cc.checkpoint_frequency,
            "checkpoint_at_end": cc.checkpoint_at_end, "chdir": self.tune_config.chdir_to_trial_dir,
            "reuse": self.tune_config.reuse_actors, "ahead": self._ahead,
        }
        trial.set_status(S.RUNNING)
        trial.stop_reason = None if trial.stop_reason and trial.stop_reason.startswith(("PBT", "HyperBand: wait",
                                                                                       "Median stopping: too")) \
            else trial.stop_reason
        start_ref = actor.start.remote(payload, self._trainable_ref)
        self._running[trial.trial_id] = _Running(actor, gen, key, start_ref)
        self._inflight[start_ref] = (trial.trial_id, "start", gen)
        self._inflight[actor.poll.remote(gen, POLL_TIMEOUT_S)] = (trial.trial_id, "poll", gen)
        self._changed()
        call_back(self.callbacks, "on_trial_start", self.iteration, self.trials, trial)

    # ------------------------------------------------------------ results
    def _trial(self, trial_id: str) -> Trial | None:
        if len(self._by_id) != len(self.trials):
            self._by_id = {t.trial_id: t for t in self.trials}
        return self._by_id.get(trial_id)

    def _handle(self, ref) -> None:
        trial_id, kind, gen = self._inflight.pop(ref)
        rec = self._running.get(trial_id)
        trial = self._trial(trial_id)
        try:
            reply = strato.get(ref)
        except TaskError as exc:
            if rec is not None and rec.generation == gen:
                self._on_failure(trial, f"{type(exc).__name__}: {exc}")
            return
        except StratoError as exc:           # the actor died (os._exit, crash, node lost)
            if rec is not None and rec.generation == gen:
                self._on_failure(trial, f"{type(exc).__name__}: {exc}")
            return
        if kind == "start" or rec is None or rec.generation != gen or trial.status != S.RUNNING:
            return
        for result in reply["results"]:
            self._on_result(trial, result)
            if trial.status != S.RUNNING or self._running.get(trial_id) is not rec:
                return
        if reply["done"]:
            if reply.get("error"):
                self._on_failure(trial, reply["error"])
            else:
                self._complete(trial)
        else:
            self._inflight[rec.actor.poll.remote(gen, POLL_TIMEOUT_S)] = (trial_id, "poll", gen)

    def _on_result(self, trial: Trial, result: dict) -> None:
        ckpt_path = result.pop("__checkpoint__", None)
        result["config"] = trial.config
        result["experiment_tag"] = trial.experiment_tag
        result.setdefault("date", time.strftime("%Y-%m-%d_%H-%M-%S"))
        trial.last_result = result
        if self.metric and isinstance(result.get(self.metric), (int, float)):
            trial.metric_history.append((result["training_iteration"], float(result[self.metric])))
            if len(trial.metric_history) > HISTORY_CAP:
                del trial.metric_history[: len(trial.metric_history) - HISTORY_CAP]
        self._log(trial).append(result)
        if ckpt_path:
            self._register_checkpoint(trial, Checkpoint(ckpt_path), result)
        self.version += 1
        call_back(self.callbacks, "on_trial_result", self.iteration, self.trials, trial, result)
        self.search_alg.on_trial_result(trial.trial_id, result)
        if self.stopper is not None and self.stopper(trial.trial_id, result):
            self._end(trial, S.TERMINATED)
            self._notify_complete(trial, result)
            return
        decision = self.scheduler.on_trial_result(self, trial, result)
        if trial.status != S.RUNNING:          # the scheduler acted on it already
            return
        if decision == "STOP":
            trial.stop_reason = getattr(decision, "reason", "") or None
            self._end(trial, S.TERMINATED)
            self._notify_complete(trial, result)
        elif decision == "PAUSE":
            exploit = getattr(decision, "exploit", None)
            trial.stop_reason = getattr(decision, "reason", "") or None
            self._end(trial, S.PAUSED)
            if exploit:
                self._exploit(trial, exploit)
            else:
                self._resume_point(trial)
        elif getattr(decision, "save", False) and self.is_class:
            rec = self._running[trial.trial_id]
            rec.actor.request_save.remote(rec.generation)

    def _register_checkpoint(self, trial: Trial, ckpt: Checkpoint, result: dict) -> None:
        metrics = {k: v for k, v in result.items() if k != "config"}
        trial.checkpoints.append((ckpt, metrics))
        trial.latest_checkpoint = ckpt
        kept, dropped = keep_checkpoints(trial.checkpoints, self.run_config.checkpoint_config)
        for c, _ in dropped:
            delete_checkpoint(c)
        trial.checkpoints = kept
        self._dirty = True

    def _resume_point(self, trial: Trial) -> None:
        """Set where the trial restarts: its latest checkpoint (or the beginning)."""
        ckpt = trial.latest_checkpoint
        trial.restore_from = ckpt
        metrics = next((m for c, m in reversed(trial.checkpoints) if c == ckpt), {}) if ckpt else {}
        trial.start_iteration = metrics.get("training_iteration", 0)
        trial.start_time_total = metrics.get("time_total_s", 0.0)

    def _exploit(self, trial: Trial, exploit: dict) -> None:
        """PBT: continue from a copy of the clone's checkpoint, with the explored config."""
        clone = self._trial(exploit["clone"])
        src: Checkpoint = exploit["checkpoint"]
        metrics = next((m for c, m in reversed(clone.checkpoints) if c == src), {}) if clone else {}
        it = metrics.get("training_iteration", 0)
        dest = os.path.join(trial.local_path, f"checkpoint_{it:06d}_from_{exploit['clone']}")
        shutil.rmtree(dest, ignore_errors=True)
        try:
            shutil.copytree(src.path, dest)
        except OSError as exc:
            logger.warning("PBT could not copy %s's checkpoint (%s); %s continues unchanged", exploit["clone"], exc,
                           trial.trial_id)
            self._resume_point(trial)
            return
        ckpt = Checkpoint(dest)
        trial.config = exploit["config"]
        trial.experiment_tag = f"{trial.experiment_tag}@perturbed[{exploit['clone']}]"
        trial.checkpoints.append((ckpt, dict(metrics)))
        trial.latest_checkpoint = trial.restore_from = ckpt
        trial.start_iteration = it
        trial.start_time_total = metrics.get("time_total_s", 0.0)
        trial.exploited_from = getattr(trial, "exploited_from", []) + [exploit["clone"]]
        self._log(trial).write_params(trial.config)

    def _complete(self, trial: Trial) -> None:
        if trial.last_result:
            trial.last_result["done"] = True
        self._end(trial, S.TERMINATED, reusable=True)
        self._notify_complete(trial, trial.last_result)

    def _notify_complete(self, trial: Trial, result: dict, scheduler: bool = True) -> None:
        call_back(self.callbacks, "on_trial_complete", self.iteration, self.trials, trial)
        if scheduler:
            self.scheduler.on_trial_complete(self, trial, result)
        self.search_alg.on_trial_complete(trial.trial_id, result=result)

    def _on_failure(self, trial: Trial, error: str) -> None:
        trial.num_failures += 1
        trial.error_msg = error
        self._end(trial, None)
        fc = self.run_config.failure_config
        if fc.max_failures < 0 or trial.num_failures <= fc.max_failures:
            logger.warning("trial %s failed (%d/%s); restarting from %s", trial.trial_id, trial.num_failures,
                           fc.max_failures if fc.max_failures >= 0 else "inf",
                           trial.latest_checkpoint.path if trial.latest_checkpoint else "the beginning")
            self._resume_point(trial)
            trial.set_status(S.PENDING)
        else:
            trial.set_status(S.ERROR)
            with open(os.path.join(trial.local_path, "error.txt"), "a") as f:
                f.write(error + "\n")
            call_back(self.callbacks, "on_trial_error", self.iteration, self.trials, trial)
            self.scheduler.on_trial_error(self, trial)
            self.search_alg.on_trial_complete(trial.trial_id, result=trial.last_result or None, error=True)
            if fc.fail_fast:
                for t in self.trials:
                    if not t.is_finished():
                        self._end(t, S.TERMINATED)
                self.search_finished = True
                if fc.fail_fast == "raise":
                    raise TuneError(f"trial {trial.trial_name} failed (fail_fast='raise'):\n{error}")
        self._changed()

    def _end(self, trial: Trial, status, reusable: bool = False) -> None:
        """Release the trial's actor (kept for reuse, or killed) and set its status."""
        rec = self._running.pop(trial.trial_id, None)
        if rec is not None:
            for ref, (tid, _, _) in list(self._inflight.items()):
                if tid == trial.trial_id:
                    del self._inflight[ref]
            if reusable and self.tune_config.reuse_actors and not self._actors.has_group(rec.actor):
                self._idle.append((rec.key, rec.actor))
            else:
                self._actors.end(rec.actor)
        if status is not None:
            trial.set_status(status)
        log = self._logs.get(trial.trial_id)
        if log is not None:
            log.flush()
        self._changed()

    def _kill_idle(self) -> None:
        for _, actor in self._idle:
            self._actors.end(actor)
        self._idle.clear()

    def _check_budget(self) -> None:
        budget = self.tune_config.time_budget_s
        over = budget is not None and time.time() - self.started_at > budget
        if over or (self.stopper is not None and self.stopper.stop_all()):
            self.search_finished = True
            for t in self.trials:
                if not t.is_finished():
                    if over:
                        t.stop_reason = t.stop_reason or f"time budget {budget:g} s reached"
                    self._end(t, S.TERMINATED)
                    self._notify_complete(t, t.last_result)

    # ------------------------------------------------------------ bookkeeping
    def _changed(self) -> None:
        self._dirty = True
        self.version += 1

    def _tick(self, force: bool = False) -> None:
        now = time.time()
        if force or (self._dirty and now - self._saved_at > SAVE_EVERY_S):
            self.save()
        if force or now - self._published_at > PUBLISH_EVERY_S:
            self._published_at = now
            publish_mod.publish(f"{self.name}:{self.uid}", self.summary())
        for fn in list(self.listeners):
            try:
                fn(self, force)
            except Exception:
                logger.exception("a tune progress listener failed")

    def save(self) -> None:
        with self.lock:
            state = {"trials": self.trials, "search_alg": self.search_alg, "scheduler": self.scheduler,
                     "uid": self.uid, "next_index": self.next_index, "search_finished": self.search_finished,
                     "name": self.name}
            try:
                save_state(self.experiment_dir, state)
            except Exception as exc:        # e.g. a searcher that does not pickle: keep the trials at least
                logger.debug("saving the full experiment state failed (%s); saving trials only", exc)
                state["search_alg"] = None
                save_state(self.experiment_dir, state)
            self._dirty = False
            self._saved_at = time.time()

    def _shutdown(self) -> None:
        for tid in list(self._running):
            trial = self._trial(tid)
            if self._interrupted or self.status == "ERROR":
                self._actors.end(self._running.pop(tid).actor)
            else:
                self._end(trial, S.TERMINATED)
        self._inflight.clear()
        self._kill_idle()
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        call_back(self.callbacks, "on_experiment_end", self.trials)
        try:
            self._tick(force=True)
        except Exception:
            logger.exception("final save of the tune run failed")

    # ------------------------------------------------------------ views
    def best_value(self, trial: Trial) -> float | None:
        if not trial.metric_history:
            return None
        values = [v for _, v in trial.metric_history if not math.isnan(v)]
        if not values:
            return None
        return max(values) if self.mode == "max" else min(values)

    def summary(self) -> dict:
        with self.lock:
            counts: dict = {}
            for t in self.trials:
                counts[str(t.status)] = counts.get(str(t.status), 0) + 1
            best = None
            if self.metric:
                vals = [v for v in (self.best_value(t) for t in self.trials) if v is not None]
                if vals:
                    best = max(vals) if self.mode == "max" else min(vals)
            points = publish_mod.points_per_trial(min(len(self.trials), SUMMARY_TRIALS))
            rows = [{"trial_id": t.trial_id, "status": str(t.status), "best": self.best_value(t),
                     "last": t.last_result.get(self.metric) if self.metric else None,
                     "iter": t.last_result.get("training_iteration", 0), "stop_reason": t.stop_reason or "",
                     "config": publish_mod.scalar_config(t.config),
                     "history": publish_mod.thin_history(t.metric_history, points)}
                    for t in self.trials[:SUMMARY_TRIALS]]
            return {"name": self.name, "id": f"{self.name}:{self.uid}", "status": self.status,
                    "num_trials": len(self.trials), "trials": rows, "trials_by_state": counts, "metric": self.metric,
                    "mode": self.mode, "best_metric": best, "path": self.experiment_dir,
                    "start_time": self.started_at, "update_time": time.time()}

    def snapshot(self) -> dict:
        """Everything a view shows, as plain data (taken under the lock, from any thread)."""
        with self.lock:
            rows = []
            for t in self.trials:
                r = t.last_result
                rows.append({
                    "trial_id": t.trial_id, "name": getattr(t, "custom_name", t.trial_name), "status": str(t.status),
                    "config": jsonable(t.config), "iter": r.get("training_iteration", 0),
                    "last": r.get(self.metric) if self.metric else None, "best": self.best_value(t),
                    "stop_reason": t.stop_reason or "", "error": (t.error_msg or "").strip().splitlines()[-1:]
                    and (t.error_msg or "").strip().splitlines()[-1], "failures": t.num_failures,
                    "history": list(t.metric_history),
                    "time_total_s": r.get("time_total_s", 0.0)})
            return {"name": self.name, "metric": self.metric, "mode": self.mode, "status": self.status,
                    "version": self.version, "trials": rows, "elapsed": time.time() - self.started_at}
