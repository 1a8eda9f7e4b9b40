"""Inside a trial: tune.report, tune.get_checkpoint, tune.get_context (run in the trial's actor).

    trial thread: tune.report(metrics, checkpoint=ckpt)
        -> Session.report: auto fields (training_iteration, time_total_s, ...), checkpoint copied
           into the trial folder, dict stop criteria checked here, result appended to the buffer
           (blocks only while `ahead` results wait unread -- MAX_BUFFERED under FIFO, 1 when a
           scheduler or a stop function decides from results, so it can stop the trial in time as
           Ray's does -- or, for a result with a checkpoint,
           until the controller has it: a crash then resumes from it), raises StopTrial if the
           controller asked the trial to stop or pause
    controller: actor.poll() drains the buffer (strato.wait over every trial's poll)

One Session per running trial, held in a module global of the actor's process
(a trial actor runs one trial at a time) and also visible from threads the
trainable starts.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time

from strato.tune.checkpoint import Checkpoint

MAX_BUFFERED = 16        # results a trial may report ahead of the controller when nothing decides from them

_session: "Session | None" = None


class StopTrial(BaseException):
    """Raised inside tune.report when the controller stopped or paused the trial (not an error)."""


class TuneContext:
    """What `tune.get_context()` returns (Ray's TuneContext methods)."""

    def __init__(self, info: dict):
        self._info = info

    def get_trial_id(self) -> str:
        return self._info["trial_id"]

    def get_trial_name(self) -> str:
        return self._info["trial_name"]

    def get_trial_dir(self) -> str:
        return self._info["trial_dir"]

    def get_experiment_name(self) -> str:
        return self._info["experiment_name"]

    def get_trial_resources(self):
        from strato.tune.resources import PlacementGroupFactory
        return PlacementGroupFactory(self._info.get("bundles") or [self._info.get("resources", {})])

    def get_world_size(self) -> int:
        return 1

    def get_world_rank(self) -> int:
        return 0

    def get_local_rank(self) -> int:
        return 0

    def get_local_world_size(self) -> int:
        return 1

    def get_node_rank(self) -> int:
        return 0

    def get_storage(self):
        return self._info.get("storage_path")

    def get_metadata(self) -> dict:
        return {}


class Session:
    def __init__(self, info: dict, checkpoint: Checkpoint | None, start_iteration: int, start_time_total: float,
                 stop: dict | None, generation: int, ahead: int = MAX_BUFFERED):
        self.info = info
        self.context = TuneContext(info)
        self.checkpoint = checkpoint
        self.iteration = start_iteration
        self.time_total = start_time_total
        self.iterations_since_restore = 0
        self.stop_criteria = stop or {}
        self.generation = generation
        self.started = time.time()
        self.last_report = self.started
        self.buffer: list[dict] = []
        self.ahead = max(1, ahead)
        self.appended = 0           # results reported so far in this session
        self.drained = 0            # results handed to the controller so far
        self.cond = threading.Condition()
        self.stop_requested = False
        self.save_requested = False
        self.finished = False
        self.error: str | None = None
        self.error_type: str | None = None
        self.hit_stop_criteria = False
        self.hostname = socket.gethostname()
        self.pid = os.getpid()

    # ---------------------------------------------------------------- trial side
    def report(self, metrics: dict, checkpoint: Checkpoint | None = None) -> None:
        if not isinstance(metrics, dict):
            raise TypeError(f"tune.report(metrics) takes a dict of metrics, got {type(metrics).__name__}.")
        if self.stop_requested:
            raise StopTrial()
        now = time.time()
        self.iteration += 1
        self.iterations_since_restore += 1
        this_iter = now - self.last_report
        self.last_report = now
        self.time_total += this_iter
        result = dict(metrics)
        result.update(training_iteration=self.iteration, time_this_iter_s=this_iter, time_total_s=self.time_total,
                      time_since_restore=now - self.started, iterations_since_restore=self.iterations_since_restore,
                      timestamp=int(now), trial_id=self.info["trial_id"], pid=self.pid, hostname=self.hostname,
                      node_ip=self.info.get("node_ip", ""), done=False)
        if checkpoint is not None:
            result["__checkpoint__"] = self._persist(checkpoint)
        with self.cond:
            while self.appended - self.drained >= self.ahead and not self.stop_requested:
                self.cond.wait(0.5)
            self.buffer.append(result)
            self.appended += 1
            mine = self.appended
            self.cond.notify_all()
            if checkpoint is not None:
                # A checkpoint's result must reach the controller before the trial goes on: if the
                # process dies later, the trial resumes from this checkpoint with its iteration count.
                while self.drained < mine and not self.stop_requested:
                    self.cond.wait(0.5)
        if self.stop_criteria and self._meets_stop(result):
            self.hit_stop_criteria = True
            raise StopTrial()
        if self.stop_requested:
            raise StopTrial()

    def would_stop(self, metrics: dict) -> bool:
        """Whether reporting `metrics` next meets the dict stop criteria (class trainables save first)."""
        return bool(self.stop_criteria) and self._meets_stop(dict(metrics, training_iteration=self.iteration + 1))

    def _meets_stop(self, result: dict) -> bool:
        for key, bound in self.stop_criteria.items():
            if key in result and result[key] >= bound:
                return True
        return False

    def _persist(self, checkpoint: Checkpoint) -> str:
        """Copy the checkpoint into the trial folder (before report returns: the source may be a temp dir)."""
        dest = os.path.join(self.info["trial_dir"], f"checkpoint_{self.iteration:06d}")
        if os.path.abspath(checkpoint.path) != os.path.abspath(dest):
            if os.path.exists(dest):
                shutil.rmtree(dest)
            if os.path.basename(checkpoint.path).startswith(".tmp_checkpoint_"):   # a class trainable's save
                os.replace(checkpoint.path, dest)
            else:
                shutil.copytree(checkpoint.path, dest)
        return dest

    # ---------------------------------------------------------------- controller side (actor methods)
    def drain(self, timeout: float) -> list[dict]:
        with self.cond:
            if not self.buffer and not self.finished:
                self.cond.wait(timeout)
            out, self.buffer = self.buffer, []
            self.drained += len(out)
            self.cond.notify_all()
            return out

    def finish(self, error: str | None = None, error_type: str | None = None) -> None:
        with self.cond:
            self.finished = True
            self.error = error
            self.error_type = error_type
            self.cond.notify_all()

    def request_stop(self) -> None:
        with self.cond:
            self.stop_requested = True
            self.cond.notify_all()


def _current(what: str) -> Session:
    if _session is None:
        raise RuntimeError(f"tune.{what}() was called outside a Tune trial: call it from a function trainable "
                           f"run by tune.Tuner(...).fit() (class Trainables return results from step()).")
    return _session


def report(metrics: dict | None = None, *, checkpoint: Checkpoint | None = None, **kwargs) -> None:
    """Report one iteration's metrics (and optionally a checkpoint) from a function trainable.

    The old keyword form, `tune.report(loss=0.1)`, is accepted too.
    """
    if metrics is None:
        metrics = kwargs
    elif kwargs:
        raise TypeError("tune.report takes a dict of metrics or keyword metrics, not both.")
    _current("report").report(metrics, checkpoint)


def get_checkpoint() -> Checkpoint | None:
    """The checkpoint this trial resumes from (after a failure, a pause or a PBT exploit), or None."""
    return _current("get_checkpoint").checkpoint


def get_context() -> TuneContext:
    """The trial's context: get_trial_id(), get_trial_name(), get_trial_dir(), get_trial_resources(), ..."""
    return _current("get_context").context


def set_session(session: Session | None) -> None:
    global _session
    _session = session
