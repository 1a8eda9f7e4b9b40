"""The demo notebooks run headless at CI size, as `scripts/run.sh --headless` runs them, and show what they promise.

Each notebook is executed once per session through the "Python 3 (strato)" kernel (nbclient, via
strato.kernel.headless) with STRATO_DEMO_SMALL=1 and a private data folder, in name order: 03 writes the
data set that 04 and 05 read, and 05 predicts with the model 04 saved. The checks read the executed copy:
every code cell ran, no cell raised unless tagged "raises-exception", and each notebook's outputs hold what
its text promises (timing tables, equal predictions, a best config, live views, ...).
"""
from __future__ import annotations

import glob
import json
import os
import re
import tempfile
from pathlib import Path

import nbformat
import pytest

from strato.kernel import headless

ROOT = Path(__file__).resolve().parents[2] / "demo-notebooks"
DEMOS = sorted(ROOT.glob("*.ipynb"))
NAMES = [p.stem for p in DEMOS]
EXPECTED = ["01-first-steps", "02-tasks-actors-objects", "03-data-and-training", "04-tuning", "05-inference",
            "06-remote-cells"]
WIDGET = "application/vnd.jupyter.widget-view+json"


def _scratch() -> set:
    """The retry demos' scratch folders (notebook 02) in the temp dir."""
    return {path for prefix in ("strato-demo-attempts-", "strato-demo-crash-")
            for path in glob.glob(os.path.join(tempfile.gettempdir(), prefix + "*"))}


#: Those already there before this session (older versions of the notebook left them).
SCRATCH_BEFORE = _scratch()


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory):
    """STRATO_DEMO_SMALL=1 and a private data folder for every kernel started meanwhile."""
    data = tmp_path_factory.mktemp("demo-data")
    with pytest.MonkeyPatch.context() as mp:       # the variables are restored after the session
        mp.setenv("STRATO_DEMO_SMALL", "1")
        mp.setenv("STRATO_DEMO_DATA", str(data))
        yield data


_executed: dict[str, tuple[int, str, object]] = {}


@pytest.fixture(scope="session")
def executed(demo_env, tmp_path_factory):
    """name -> (exit status, echoed text, executed notebook); each notebook runs once, on first request."""
    out_dir = tmp_path_factory.mktemp("executed")

    def run(name: str, capsys):
        if name == "05-inference":
            run("04-tuning", capsys)          # 05 predicts with the model 04 saves
        if name not in _executed:
            out = out_dir / f"{name}.ipynb"
            capsys.readouterr()
            status = headless.run(str(ROOT / f"{name}.ipynb"), str(out), timeout=150)
            printed = capsys.readouterr().out
            assert f"the notebook with its outputs: {out}" in printed
            _executed[name] = (status, printed, nbformat.read(out, as_version=4))
        return _executed[name]
    return run


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def stream_text(nb) -> str:
    return "".join(o.get("text", "") for c in code_cells(nb) for o in c.outputs if o.output_type == "stream")


def plain_results(nb) -> str:
    return "\n".join(o.get("data", {}).get("text/plain", "") for c in code_cells(nb) for o in c.outputs
                     if o.output_type in ("execute_result", "display_data"))


def cell_with(nb, needle: str):
    return next(c for c in code_cells(nb) if needle in c.source)


def widgets_in(cell) -> int:
    return sum(1 for o in cell.outputs if o.output_type == "display_data" and WIDGET in o.get("data", {}))


def test_the_index_lists_every_notebook():
    assert NAMES == EXPECTED
    index = (ROOT / "README.md").read_text()
    for name in NAMES:
        assert f"]({name}.ipynb)" in index, f"{name} is not linked from demo-notebooks/README.md"


@pytest.mark.parametrize("path", DEMOS, ids=NAMES)
def test_each_notebook_is_sized_by_one_variable_and_explains_two_cores(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "strato"
    assert nb.metadata["kernelspec"]["display_name"] == "Python 3 (strato)"
    size_cell = next(c for c in code_cells(nb)[:3] if "STRATO_DEMO_SMALL" in c.source)
    assert re.search(r"^[A-Z_]+ = .+ if (SMALL|os.environ.get\(\"STRATO_DEMO_SMALL\"\) == \"1\") else ",
                     size_cell.source, re.M), size_cell.source
    notes = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "2-core" in notes and "strato start --address" in notes and "--tls-ca" in notes


@pytest.mark.timeout(200)
@pytest.mark.parametrize("name", NAMES)
def test_demo_notebook_runs_headless(name, executed, capsys):
    status, _, nb = executed(name, capsys)
    assert status == 0
    code = code_cells(nb)
    assert all(c.execution_count for c in code), "a cell did not run"
    unexpected = [c.source for c in code if any(o.output_type == "error" for o in c.outputs)
                  and "raises-exception" not in c.metadata.get("tags", [])]
    assert not unexpected


def test_first_steps_shows_the_features_and_live_views(executed, capsys):
    _, _, nb = executed("01-first-steps", capsys)
    text = "".join(c.source for c in code_cells(nb))
    for feature in ("%cluster connect", "%%remote --parallel", "%%remote --session", "%cluster status"):
        assert feature in text
    assert widgets_in(cell_with(nb, "widgets.TaskGraph()")) == 2        # task graph and store view
    out = stream_text(nb)
    n = int(re.search(r"([\d,]+) tasks in [\d.]+ s", out).group(1).replace(",", ""))
    graph_tasks = int(re.search(r"TaskGraph: (\d+) tasks", out).group(1))
    assert graph_tasks >= n, out                                   # the graph saw every task the cell ran
    assert re.search(r"Object store: primary [\d.]+ MiB", out)


def test_tasks_actors_objects_teaches_with_measured_outputs(executed, capsys):
    _, _, nb = executed("02-tasks-actors-objects", capsys)
    out = stream_text(nb)
    size = float(re.search(r"read the (\d+) MiB array", out).group(1))
    held = re.search(r"the store holds ([\d.]+) MiB in (\d+) object\(s\): one copy, not (\d+)", out)
    assert held, out
    assert size <= float(held.group(1)) < 2 * size and int(held.group(3)) >= 8
    assert "writeable inside the tasks: [False]" in out          # zero-copy, read-only views
    assert float(re.search(r"after del: the store holds ([\d.]+) MiB", out).group(1)) < size
    assert "running totals: [0, 1, 3, 6, 10, 15, 21, 28, 36, 45]" in out
    order = json.loads(re.search(r"finished in this order: (\[.*\])", out).group(1))
    assert sorted(order) == [0.2, 0.6, 1.2] and order[0] == 0.2     # the shortest first, whatever the load
    assert "flaky task succeeded on attempt 3" in out and "after a worker crash: done" in out
    assert "caught as ValueError" in out
    dead = re.search(r"marked node (\w+) dead", out)
    assert dead and re.search(rf"'{dead.group(1)}': False", out)
    assert "sums right: True" in out
    assert re.search(r"DEAD: CPU", out)                          # the cluster view saw the dead node
    assert widgets_in(cell_with(nb, "graph = widgets.TaskGraph()")) == 2
    assert widgets_in(cell_with(nb, "nodes_view = widgets.ClusterView()")) == 2
    # the retry demos' scratch folders are gone once their cell ran
    left = _scratch() - SCRATCH_BEFORE
    assert not left, left


def test_training_shows_a_table_and_a_plot_of_both_ways(executed, capsys):
    _, _, nb = executed("03-data-and-training", capsys)
    out = stream_text(nb)
    measured = re.findall(r"(one process|strato.xgboost on \d+ actors): ([\d.]+) s, accuracy ([\d.]+), "
                          r"log loss ([\d.]+)", out)
    assert [m[0].split(" on")[0] for m in measured] == ["one process", "strato.xgboost"], out
    for _, seconds, acc, loss in measured:
        assert float(seconds) > 0 and float(acc) > 0.6 and 0 < float(loss) < 0.69   # learned something
    table = plain_results(nb)
    assert "training timings:" in out and "xgboost, one process" in table and "strato.xgboost, " in table
    assert "seconds" in table and "accuracy" in table and "log loss" in table
    plot = cell_with(nb, "show(row(*plots))")
    assert any("application/vnd.bokehjs_exec.v0+json" in o.get("data", {}) for o in plot.outputs)
    assert widgets_in(cell_with(nb, "views = widgets.dashboard()")) == 1


def test_tuning_runs_both_searches_live_and_saves_the_best(executed, capsys, demo_env):
    _, _, nb = executed("04-tuning", capsys)
    out = stream_text(nb)
    for search in ("ASHA", "Optuna"):
        trials = int(re.search(rf"{search}: (\d+) trials in [\d.]+ s", out).group(1))
        assert trials >= 8
    assert widgets_in(cell_with(nb, "asha_results = asha_tuner.fit()")) >= 1       # the live TuneView
    assert widgets_in(cell_with(nb, "optuna_results = optuna_tuner.fit()")) >= 1
    best = json.loads(re.search(r"best config: (\{.*\})", out).group(1))
    assert 1e-4 <= best["eta"] <= 1e-1 and 0.5 <= best["subsample"] <= 1.0 and 1 <= best["max_depth"] <= 9
    saved = re.search(r"saved to (\S+)", out).group(1)
    assert Path(saved).is_file() and str(demo_env) in saved
    assert "tuning timings:" in out and "random + ASHA" in plain_results(nb)


def test_inference_predictions_match_and_timings_side_by_side(executed, capsys):
    _, _, nb = executed("05-inference", capsys)
    out = stream_text(nb)
    rows = re.search(r"predictions identical: True \(([\d,]+) rows compared\)", out)
    assert rows, out
    assert "loaded the tuned model" in out                        # 04 ran first and saved it
    local = re.search(r"one process: ([\d,]+) predictions", out).group(1)
    actors = re.search(r"\d+ actor\(s\): ([\d,]+) predictions", out).group(1)
    assert local == actors == rows.group(1)
    table = plain_results(nb)
    assert "inference timings:" in out and "xgboost, one process" in table and "map_batches" in table
    assert widgets_in(cell_with(nb, "graph = widgets.TaskGraph()")) == 1


def test_remote_cells_tour(executed, capsys):
    _, _, nb = executed("06-remote-cells", capsys)
    out = stream_text(nb)
    assert re.search(r"grouped [\d,]+ rows in worker pid \d+", out)
    assert "back in the notebook: DataFrame (5, 3)" in out
    assert "kept in session 'explore'" in out and "3 means kept on the cluster" in out
    assert "[rank 0] rank 0 of 2" in out and "[rank 1] rank 1 of 2" in out
    here = re.search(r"sum of the ranks' parts (\S+); here: (\S+)", out)
    assert here.group(1) == here.group(2)
    assert "meanwhile the notebook is free" in out and "the name came back" in out
    assert "to stdout" in out and "to stderr" in out and "a warning from the cluster" in out
    typo = cell_with(nb, '"valeu"')
    err = next(o for o in typo.outputs if o.output_type == "error")
    assert err.ename == "KeyError" and any("Cell In[" in line for line in err.traceback)
    usage = cell_with(nb, "--parallel two")
    assert any("UsageError" in (o.get("ename", "") + o.get("text", "")) for o in usage.outputs)
