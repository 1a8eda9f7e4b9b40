"""Tuner.restore after the driver died mid-run (SIGKILL): finished trials are not rerun, unfinished ones
resume from their latest checkpoint with their iteration count, an errored one restarts when asked."""
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from strato import tune
from strato._testing import wait_for

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(120)]

TRAINABLE = textwrap.dedent('''
    import json, os, time
    from strato import tune

    def train(config):
        if config["x"] < 0 and os.environ.get("TUNE_TEST_FAIL"):
            raise ValueError("failing on purpose in the first run")
        start, restored = 0, False
        ckpt = tune.get_checkpoint()
        if ckpt is not None:
            start, restored = json.load(open(os.path.join(ckpt.path, "i.json"))), True
        n = 2 if config["x"] == 0 else 16
        for i in range(start, n):
            time.sleep(0.1)
            d = os.path.join(tune.get_context().get_trial_dir(), f"tmp{i}")
            os.makedirs(d, exist_ok=True)
            json.dump(i + 1, open(os.path.join(d, "i.json"), "w"))
            tune.report({"i": i + 1, "restored": restored}, checkpoint=tune.Checkpoint.from_directory(d))
''')

DRIVER = textwrap.dedent('''
    import sys
    import cloudpickle
    sys.path.insert(0, sys.argv[1])
    import restore_trainable
    cloudpickle.register_pickle_by_value(restore_trainable)
    import strato
    from strato import tune
    strato.init(num_cpus=2)
    tune.Tuner(restore_trainable.train, param_space={"x": tune.grid_search([0, -1, 1, 2])},
               tune_config=tune.TuneConfig(max_concurrent_trials=2),
               run_config=tune.RunConfig(name="exp", storage_path=sys.argv[1], verbose=0)).fit()
''')


def _state(path):
    try:
        with open(os.path.join(path, "experiment_state.pkl"), "rb") as f:
            return pickle.load(f)
    except (FileNotFoundError, EOFError, pickle.UnpicklingError):
        return None


def _interrupted_midway(state) -> bool:
    if state is None:
        return False
    by_x = {t.config["x"]: t for t in state["trials"]}
    return (0 in by_x and str(by_x[0].status) == "TERMINATED" and -1 in by_x and str(by_x[-1].status) == "ERROR"
            and any(t.latest_checkpoint is not None and str(t.status) == "RUNNING" for t in state["trials"]))


def test_restore_after_the_driver_was_killed(tmp_path):
    (tmp_path / "restore_trainable.py").write_text(TRAINABLE)
    (tmp_path / "driver.py").write_text(DRIVER)
    path = str(tmp_path / "exp")
    env = dict(os.environ, TUNE_TEST_FAIL="1")
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(tmp_path)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: _interrupted_midway(_state(path)) or driver.poll() is not None, 60)
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        children = psutil.Process(driver.pid).children(recursive=True)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(10)
    for p in children:                         # the killed driver's embedded cluster: gone on its own, or killed
        try:
            p.wait(10)
        except psutil.TimeoutExpired:
            p.kill()
        except psutil.NoSuchProcess:
            pass

    before = {t.config["x"]: t for t in _state(path)["trials"]}
    lines_before = {x: len(open(os.path.join(t.local_path, "result.json")).readlines()) for x, t in before.items()}
    assert tune.Tuner.can_restore(path) and not tune.Tuner.can_restore(str(tmp_path / "nothing"))

    sys.path.insert(0, str(tmp_path))
    try:
        import restore_trainable
        grid = tune.Tuner.restore(path, restore_trainable.train, restart_errored=True).fit()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("restore_trainable", None)
    by_x = {r.config["x"]: r for r in grid}
    assert set(by_x) == {0, -1, 1, 2} and grid.num_errors == 0 and grid.num_terminated == 4
    # finished before: not rerun
    assert len(open(os.path.join(by_x[0].path, "result.json")).readlines()) == lines_before[0]
    for x in (1, 2):
        r = by_x[x]
        assert r.metrics["i"] == 16 and r.metrics["training_iteration"] == 16
        t = before[x]
        if t.latest_checkpoint is not None:    # resumed from it: the iteration count continues
            ck_iter = json.load(open(os.path.join(t.latest_checkpoint.path, "i.json")))
            rows = [json.loads(line) for line in open(os.path.join(r.path, "result.json"))][lines_before[x]:]
            assert rows[0]["training_iteration"] == ck_iter + 1 and rows[0]["restored"] is True
    # errored before, restarted from scratch (restart_errored): now done
    assert by_x[-1].metrics["i"] == 16 and by_x[-1].metrics["restored"] is False
