"""The trial side of result streaming (session.py), with threads only: how far a trial runs ahead of the
controller, checkpoints copied in before report returns, stop criteria, and stop requests."""
import os
import threading
import time

import pytest

from strato.tune.checkpoint import Checkpoint
from strato.tune.session import Session, StopTrial


def session(tmp_path, ahead=16, stop=None):
    info = {"trial_id": "t", "trial_name": "t", "trial_dir": str(tmp_path), "experiment_name": "e"}
    return Session(info, None, 0, 0.0, stop, 1, ahead)


def run_reports(s, n, **kw):
    done = []

    def body():
        try:
            for i in range(n):
                s.report({"i": i}, **kw)
                done.append(i)
        except StopTrial:
            done.append("stopped")
        finally:
            s.finish()
    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, done


def test_a_trial_runs_ahead_up_to_its_limit_then_waits_for_the_controller(tmp_path):
    s = session(tmp_path, ahead=3)
    t, done = run_reports(s, 10)
    time.sleep(0.3)
    assert done == [0, 1, 2] and len(s.buffer) == 3       # the fourth report waits for a drain
    got = s.drain(1.0)
    assert [r["i"] for r in got] == [0, 1, 2] and [r["training_iteration"] for r in got] == [1, 2, 3]
    results = got
    while not (s.finished and not s.buffer):
        results += s.drain(1.0)
    t.join(5)
    assert [r["i"] for r in results] == list(range(10))


def test_one_ahead_means_each_report_waits_for_the_previous_to_be_taken(tmp_path):
    s = session(tmp_path, ahead=1)
    t, done = run_reports(s, 3)
    time.sleep(0.2)
    assert done == [0] and len(s.buffer) == 1
    s.drain(1.0)
    time.sleep(0.2)
    assert done == [0, 1]
    s.request_stop()
    t.join(5)
    assert done[-1] == "stopped"


def test_a_checkpoint_is_copied_in_and_its_report_waits_until_taken(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.txt").write_text("weights")
    s = session(tmp_path / "trial")
    os.makedirs(tmp_path / "trial")
    t, done = run_reports(s, 1, checkpoint=Checkpoint.from_directory(src))
    time.sleep(0.3)
    assert done == []                                          # waits: a crash now must not lose it
    (result,) = s.drain(1.0)
    assert result["__checkpoint__"].endswith("checkpoint_000001")
    assert open(os.path.join(result["__checkpoint__"], "w.txt")).read() == "weights"
    t.join(5)
    assert done == [0]


def test_dict_stop_criteria_end_the_trial_after_the_result_that_meets_them(tmp_path):
    s = session(tmp_path, stop={"training_iteration": 3})
    t, done = run_reports(s, 10)
    t.join(5)
    assert done == [0, 1, "stopped"] and [r["i"] for r in s.drain(0)] == [0, 1, 2]
    assert s.hit_stop_criteria


def test_report_rejects_non_dicts(tmp_path):
    with pytest.raises(TypeError, match="dict of metrics"):
        session(tmp_path).report([1, 2])
