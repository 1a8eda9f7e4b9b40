"""Everything a run leaves under storage_path/name, written by the driver.

    <storage_path>/<name>/
        experiment_state.pkl        trials (plain data), search algorithm, scheduler, configs: Tuner.restore
        tuner.pkl                   param_space and the Tuner's configs (without the trainable)
        <trial name>/
            params.json, params.pkl the trial's config
            result.json             one JSON object per reported result (with "config")
            progress.csv            the same results as CSV (columns of the first result)
            checkpoint_000012/      checkpoints, named by training_iteration; at most num_to_keep
                                    (the best by checkpoint_score_attribute, else the latest)

Checkpoint directories are written by the trial itself (session.py copies
them in before `report` returns); this module decides which to keep.
"""
from __future__ import annotations

import csv
import json
import math
import os
import pickle
import shutil
import time

import cloudpickle

from strato.tune.checkpoint import Checkpoint
from strato.tune.config import CheckpointConfig

STATE_FILE = "experiment_state.pkl"
TUNER_FILE = "tuner.pkl"


def _json_default(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return repr(o)


def jsonable(obj):
    return json.loads(json.dumps(obj, default=_json_default))


class TrialLog:
    """result.json and progress.csv of one trial, appended result by result."""

    def __init__(self, trial_dir: str):
        self.dir = trial_dir
        os.makedirs(trial_dir, exist_ok=True)
        self._json = open(os.path.join(trial_dir, "result.json"), "a")
        path = os.path.join(trial_dir, "progress.csv")
        self._fields = None
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, newline="") as f:
                self._fields = next(csv.reader(f), None)
        self._csv_file = open(path, "a", newline="")
        self._csv = None

    def write_params(self, config: dict) -> None:
        with open(os.path.join(self.dir, "params.json"), "w") as f:
            json.dump(config, f, default=_json_default, indent=2)
        try:
            with open(os.path.join(self.dir, "params.pkl"), "wb") as f:
                cloudpickle.dump(config, f)
        except Exception:
            pass

    def append(self, result: dict) -> None:
        self._json.write(json.dumps(result, default=_json_default) + "\n")
        flat = {k: v for k, v in result.items() if k != "config" and not isinstance(v, (dict, list))}
        if self._csv is None:
            if self._fields is None:
                self._fields = list(flat)
                self._csv = csv.DictWriter(self._csv_file, fieldnames=self._fields, extrasaction="ignore")
                self._csv.writeheader()
            else:
                self._csv = csv.DictWriter(self._csv_file, fieldnames=self._fields, extrasaction="ignore")
        self._csv.writerow(flat)

    def flush(self) -> None:
        self._json.flush()
        self._csv_file.flush()

    def close(self) -> None:
        self.flush()
        self._json.close()
        self._csv_file.close()


def keep_checkpoints(checkpoints: list[tuple[Checkpoint, dict]], config: CheckpointConfig
                     ) -> tuple[list[tuple[Checkpoint, dict]], list[tuple[Checkpoint, dict]]]:
    """(kept, dropped) under num_to_keep: the best by the score attribute, else the latest.

    The latest checkpoint is always kept (it is what a failed trial resumes from).
    """
    n = config.num_to_keep
    if n is None or len(checkpoints) <= n:
        return list(checkpoints), []
    latest = checkpoints[-1]
    attr = config.checkpoint_score_attribute
    if attr:
        sign = 1 if config.checkpoint_score_order == "max" else -1

        def score(item):
            v = item[1].get(attr)
            return sign * v if isinstance(v, (int, float)) and not math.isnan(v) else -math.inf

        ranked = sorted(checkpoints, key=score, reverse=True)
        kept = ranked[:n]
        if latest not in kept:
            kept = ranked[:n - 1] + [latest] if n > 1 else [latest]
    else:
        kept = checkpoints[-n:]
    order = {id(c): i for i, c in enumerate(checkpoints)}
    kept.sort(key=lambda c: order[id(c)])
    dropped = [c for c in checkpoints if all(c is not k for k in kept)]
    return kept, dropped


def delete_checkpoint(ckpt: Checkpoint) -> None:
    shutil.rmtree(ckpt.path, ignore_errors=True)


def save_state(experiment_dir: str, state: dict) -> None:
    """Write experiment_state.pkl atomically (a driver killed mid-write leaves the previous one)."""
    tmp = os.path.join(experiment_dir, f".{STATE_FILE}.tmp")
    with open(tmp, "wb") as f:
        cloudpickle.dump(dict(state, saved_at=time.time()), f)
    os.replace(tmp, os.path.join(experiment_dir, STATE_FILE))


def load_state(experiment_dir: str) -> dict:
    with open(os.path.join(experiment_dir, STATE_FILE), "rb") as f:
        return pickle.load(f)


def save_tuner(experiment_dir: str, data: dict) -> None:
    tmp = os.path.join(experiment_dir, f".{TUNER_FILE}.tmp")
    with open(tmp, "wb") as f:
        cloudpickle.dump(data, f)
    os.replace(tmp, os.path.join(experiment_dir, TUNER_FILE))


def load_tuner(experiment_dir: str) -> dict:
    with open(os.path.join(experiment_dir, TUNER_FILE), "rb") as f:
        return pickle.load(f)


def can_restore(path: str) -> bool:
    return os.path.exists(os.path.join(os.path.expanduser(path), STATE_FILE)) and os.path.exists(
        os.path.join(os.path.expanduser(path), TUNER_FILE))


def read_results(trial_dir: str) -> list[dict]:
    out = []
    try:
        with open(os.path.join(trial_dir, "result.json")) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out
