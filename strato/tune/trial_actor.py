"""The trial's actor (runs in a worker): the trainable on a thread of its own, results buffered.

    controller                                 TrialActor (max_concurrency=4)
    start(payload) ------------------------->  thread: fn(config) / Trainable loop; each report
                                               goes to Session.buffer (session.py)
    poll(generation, timeout) -------------->  returns {"results": [...], "done", "error"} as soon
       (one in flight per trial; the           as a result is there (or after timeout)
        controller strato.waits on all)
    stop() / request_save() ---------------->  flags the thread reads at its next report/step
    start(next payload) (reuse_actors) ----->  a new generation on the same process

A trial's function raising is reported as "error" (with the traceback) in
poll's reply; the actor dying (os._exit, a crash) makes poll's ref raise,
which the controller counts as a failure.
"""
from __future__ import annotations

import os
import pickle
import threading
import time
import traceback

from strato.tune import session as session_mod
from strato.tune.checkpoint import Checkpoint
from strato.tune.session import Session, StopTrial

DICT_CHECKPOINT_FILE = "trainable_state.pkl"


class TrialActor:
    def __init__(self):
        self.session: Session | None = None
        self.thread: threading.Thread | None = None
        self.generation = 0
        self.trainable_cache: dict = {}
        self.class_instance = None
        self._started = threading.Condition()

    # ---------------------------------------------------------------- control
    def start(self, payload: dict, trainable) -> int:
        """Run one trial (stopping any previous one of this actor first)."""
        self._stop_previous()
        ckpt = Checkpoint(payload["checkpoint"]) if payload.get("checkpoint") else None
        info = dict(payload["info"])
        try:
            import strato
            info["node_ip"] = strato.get_runtime_context().get_node_id()
        except Exception:
            info["node_ip"] = ""
        os.makedirs(info["trial_dir"], exist_ok=True)
        session = Session(info, ckpt, payload.get("start_iteration", 0), payload.get("start_time_total", 0.0),
                          payload.get("stop"), payload["generation"], payload.get("ahead", session_mod.MAX_BUFFERED))
        target = self._run_class if isinstance(trainable, type) else self._run_function
        thread = threading.Thread(target=target, args=(session, trainable, payload),
                                  name=f"trial-{info['trial_id']}", daemon=True)
        with self._started:            # poll reads (generation, session) as one: set them together
            self.session, self.thread, self.generation = session, thread, payload["generation"]
            thread.start()
            self._started.notify_all()
        return self.generation

    def _stop_previous(self) -> None:
        if self.session is not None and self.thread is not None and self.thread.is_alive():
            self.session.request_stop()
            self.thread.join(10)
        session_mod.set_session(None)

    def poll(self, generation: int, timeout: float = 2.0) -> dict:
        with self._started:          # calls run concurrently: the start of this generation may still be on its way
            self._started.wait_for(lambda: self.generation >= generation, timeout)
            s = self.session
        if generation > self.generation or s is None:       # not started yet: ask again
            return {"generation": generation, "results": [], "done": False, "error": None}
        if generation != self.generation:                    # superseded by a later trial (reuse)
            return {"generation": generation, "results": [], "done": True, "error": None, "stale": True}
        results = s.drain(timeout)
        with s.cond:
            done = s.finished and not s.buffer
        return {"generation": generation, "results": results, "done": done, "error": s.error if done else None,
                "error_type": s.error_type if done else None, "hit_stop": s.hit_stop_criteria}

    def stop(self, generation: int, wait: float = 5.0) -> dict:
        """Stop the trial at its next report/step; returns the results it produced meanwhile."""
        s = self.session
        if s is None or generation != self.generation:
            return {"results": []}
        s.request_stop()
        if self.thread is not None:
            self.thread.join(wait)
        return {"results": s.drain(0)}

    def request_save(self, generation: int) -> bool:
        s = self.session
        if s is None or generation != self.generation:
            return False
        s.save_requested = True
        return True

    def pid(self) -> int:
        return os.getpid()

    # ---------------------------------------------------------------- running
    def _run_function(self, s: Session, fn, payload: dict) -> None:
        session_mod.set_session(s)
        error = etype = None
        try:
            if payload.get("chdir"):
                os.chdir(s.info["trial_dir"])
            out = fn(payload["config"])
            if isinstance(out, dict) and not s.stop_requested:
                try:
                    s.report(out)
                except StopTrial:
                    pass
        except StopTrial:
            pass
        except BaseException as exc:       # the trial's own failure: reported, the actor lives on
            error, etype = "".join(traceback.format_exception(exc)), type(exc).__name__
        finally:
            s.finish(error, etype)

    def _run_class(self, s: Session, cls, payload: dict) -> None:
        from strato.tune.trainable import overrides_save
        session_mod.set_session(s)
        error = etype = None
        obj = None
        freq = payload.get("checkpoint_frequency", 0)
        at_end = payload.get("checkpoint_at_end")
        if at_end is None:
            at_end = overrides_save(cls)
        try:
            obj = self._instance(cls, payload)
            if s.checkpoint is not None:
                obj._iteration = s.iteration
                obj.load_checkpoint(_load_for_class(s.checkpoint))
            while True:
                if s.stop_requested:
                    break
                result = obj.step()
                if not isinstance(result, dict):
                    raise TypeError(f"{cls.__name__}.step() must return a dict of metrics, got "
                                    f"{type(result).__name__}.")
                obj._iteration = s.iteration + 1
                want_ckpt = (freq and (s.iteration + 1) % freq == 0) or s.save_requested or result.get(
                    "should_checkpoint")
                done = bool(result.get("done")) or s.would_stop(result)     # the last step: checkpoint at end
                ckpt = None
                if want_ckpt or (done and at_end):
                    s.save_requested = False
                    ckpt = _save_class(obj, s, s.iteration + 1)
                try:
                    s.report(result, checkpoint=ckpt)
                except StopTrial:
                    break
                if done:
                    break
        except BaseException as exc:
            error, etype = "".join(traceback.format_exception(exc)), type(exc).__name__
        finally:
            if obj is not None:
                if payload.get("reuse") and error is None:
                    self.class_instance = obj           # reset_config may take it for the next trial
                else:
                    _cleanup(obj)
            s.finish(error, etype)

    def _instance(self, cls, payload: dict):
        """The trainable object: the previous trial's, if reuse_actors and its reset_config(config) agrees."""
        prev, self.class_instance = self.class_instance, None
        if prev is not None:
            if type(prev) is cls and payload.get("reuse") and prev.reset_config(payload["config"]):
                prev.config = payload["config"]
                prev._iteration = 0
                return prev
            _cleanup(prev)
        return cls(payload["config"])


def _cleanup(obj) -> None:
    try:
        obj.cleanup()
    except Exception:
        pass


def _save_class(obj, s: Session, iteration: int, in_place: bool = False) -> Checkpoint:
    """Call save_checkpoint into a folder; a returned dict is pickled there (load_checkpoint gets the dict)."""
    if in_place:
        path = os.path.join(s.info["trial_dir"], f"checkpoint_{iteration:06d}")
    else:
        path = os.path.join(s.info["trial_dir"], f".tmp_checkpoint_{iteration:06d}_{time.time_ns()}")
    os.makedirs(path, exist_ok=True)
    state = obj.save_checkpoint(path)
    if isinstance(state, dict):
        with open(os.path.join(path, DICT_CHECKPOINT_FILE), "wb") as f:
            pickle.dump(state, f)
    return Checkpoint(path)


def _load_for_class(ckpt: Checkpoint):
    state_file = os.path.join(ckpt.path, DICT_CHECKPOINT_FILE)
    if os.path.exists(state_file):
        with open(state_file, "rb") as f:
            return pickle.load(f)
    return ckpt.path
