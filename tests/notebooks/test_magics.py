"""%cluster and %%remote through a real kernel (nbclient): one notebook, asserted cell by cell.

The notebook runs once for the module on a plain ipykernel that does
`%load_ext strato` itself; each test reads the outputs of its cells.
"""
import re

import pytest

from conftest import PLAIN_KERNEL, error_of, execute, notebook, result_of, text_of

CELLS = {
    "load": "%load_ext strato",
    "connect": "%cluster connect --num-cpus 2",
    "connect_again": "%cluster connect",
    "define": "import strato\nimport numpy as np\nscale = 3\nbig = np.ones(400_000)\n"
              "def helper(v):\n    return v * scale",
    "remote": "%%remote\nimport os\nprint('hello from', 'the cluster')\ny = helper(14)\nremote_pid = os.getpid()\ny + 0.5",
    "check": "import os\n(y, remote_pid != os.getpid())",
    "big": "%%remote\ntotal = float(big.sum())\ntotal",
    "semicolon": "%%remote\nsilent = 1\nsilent;",
    "parallel": "%%remote --parallel 2\nprint('rank', rank, 'of', world_size)\nmine = rank * 10\nmine",
    "parallel_check": "mine",
    "task_print": "@strato.remote\ndef shout(x):\n    print('shouting', x)\n    return x\nstrato.get([shout.remote(i) for i in range(2)])",
    "redefine": "@strato.remote\ndef shout(x):\n    return -x\nstrato.get(shout.remote(5))",
    "remote_error": "%%remote\ndef divide(a, b):\n    return a / b\ndivide(1, 0)",
    "task_error": "@strato.remote\ndef div(a, b):\n    return a / b\n\nstrato.get(div.remote(1, 0))",
    "unknown_flag": "%%remote --bogus\nx = 1",
    "undefined": "%%remote\nz = not_defined_anywhere + 1",
    "open_file": "fh = open(__import__('os').devnull)",
    "unpicklable": "%%remote\ndata = fh.read()",
    "kept_remote": "%%remote\nimport threading\nlock = threading.Lock()\nkept = 7",
    "kept_check": "(kept, 'lock' in dir())",
    "no_block": "%%remote --no-block -o job\nimport time\ntime.sleep(0.5)\nlater = 42\nlater",
    "no_block_get": "job.get(timeout=60), later",
    "session_start": "%%remote --session s1\nimport threading\ncounter = 1\nguard = threading.Lock()",
    "session_next": "%%remote --session s1\ncounter += 1\nwith guard:\n    print('guarded', counter)\ncounter",
    "local_change": "counter = 100",
    "session_sees_it": "%%remote --session s1\ncounter + 1",
    "status": "import time\ntime.sleep(1.5)  # task events reach the head about once a second\n%cluster status",
    "nodes": "%cluster nodes",
    "logs": "%cluster logs --task shout",
    "bad_cluster": "%cluster launch",
    "stop": "%cluster stop",
}


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    nb = execute(notebook(*CELLS.values()), kernel=PLAIN_KERNEL, cwd=str(tmp_path_factory.mktemp("nb")),
                 timeout=120)
    return dict(zip(CELLS, nb.cells))


def test_connect_starts_an_embedded_cluster_and_is_idempotent(cells):
    out = text_of(cells["connect"])
    assert re.search(r"Strato cluster at 127\.0\.0\.1:\d+ \(embedded", out), out
    assert "CPUs: 2" in out and "%cluster dashboard" in out
    assert "Already connected" in text_of(cells["connect_again"])


def test_remote_cell_ships_reads_returns_assigns_and_shows_its_value(cells):
    cell = cells["remote"]
    assert error_of(cell) is None, error_of(cell)
    assert text_of(cell, "stdout") == "hello from the cluster\n"     # its own print: no label
    assert result_of(cell) == "42.5"
    assert result_of(cells["check"]) == "(42, True)"


def test_large_arrays_travel_through_the_object_store(cells):
    assert result_of(cells["big"]) == "400000.0"


def test_trailing_semicolon_hides_the_value(cells):
    assert error_of(cells["semicolon"]) is None
    assert result_of(cells["semicolon"]) is None


def test_parallel_runs_every_rank_labels_output_and_gathers_names(cells):
    out = text_of(cells["parallel"])
    assert "[rank 0] rank 0 of 2\n" in out and "[rank 1] rank 1 of 2\n" in out
    assert result_of(cells["parallel"]) == "[0, 10]"
    assert result_of(cells["parallel_check"]) == "[0, 10]"


def test_task_prints_land_under_the_cell_labeled_with_the_task(cells):
    out = text_of(cells["task_print"])
    assert re.search(r"^\(shout pid=\d+\) shouting 0$", out, re.M), out
    assert re.search(r"^\(shout pid=\d+\) shouting 1$", out, re.M), out
    assert result_of(cells["task_print"]) == "[0, 1]"


def test_redefined_remote_functions_are_re_exported(cells):
    assert result_of(cells["redefine"]) == "-5"


def test_remote_cell_error_points_at_the_cells_lines(cells):
    err = error_of(cells["remote_error"])
    assert err.ename == "ZeroDivisionError"
    tb = "\n".join(err.traceback)
    n = cells["remote_error"].execution_count
    assert f"Cell In[{n}], line 4" in tb and "divide(1, 0)" in tb
    assert f"Cell In[{n}], line 3, in divide" in tb and "return a / b" in tb
    assert "strato/" not in tb and "cell_runner" not in tb     # no runtime frames


def test_task_error_points_at_the_defining_cell(cells):
    err = error_of(cells["task_error"])
    assert err.ename == "ZeroDivisionError"
    tb = "\n".join(err.traceback)
    n = cells["task_error"].execution_count
    assert f"Cell In[{n}], line 5" in tb and "strato.get(div.remote(1, 0))" in tb
    assert f"Cell In[{n}], line 3, in div" in tb and "return a / b" in tb
    assert "executor.py" not in tb


@pytest.mark.parametrize("key, words", [
    ("unknown_flag", ["unknown option --bogus"]),
    ("undefined", ["'not_defined_anywhere' is not defined"]),
    ("unpicklable", ["cannot send 'fh'", "open"]),
    ("bad_cluster", ["unknown command 'launch'"]),
])
def test_bad_input_gets_a_one_line_error(cells, key, words):
    cell = cells[key]
    err = text_of(cell, "stderr").strip()
    assert err.startswith("UsageError: ") and "\n" not in err, cell.outputs
    for word in words:
        assert word in err


def test_unpicklable_results_stay_remote_with_a_note(cells):
    err = text_of(cells["kept_remote"], "stderr")
    assert "not brought back" in err and "lock" in err
    assert result_of(cells["kept_check"]) == "(7, False)"


def test_no_block_returns_at_once_and_get_brings_names_back(cells):
    cell = cells["no_block"]
    assert error_of(cell) is None
    shown = [o for o in cell.outputs if o.output_type == "display_data"]
    assert shown and "%%remote In[" in shown[0].data["text/plain"]
    assert result_of(cells["no_block_get"]) == "(42, 42)"


def test_status_nodes_logs(cells):
    status = text_of(cells["status"])
    assert "1 node(s) alive" in status and "CPU: " in status
    # shout() ran twice, div() failed once, among the tasks of earlier cells
    assert re.search(r"Tasks by state: .*FINISHED \d+", status), status
    assert re.search(r"Tasks by state: .*FAILED \d+", status), status
    assert "ALIVE" in text_of(cells["nodes"])
    assert "shouting 0" in text_of(cells["logs"])


def test_stop(cells):
    assert "Stopped the embedded cluster" in text_of(cells["stop"])


def test_session_keeps_a_namespace_across_cells(cells):
    assert "kept in session 's1'" in text_of(cells["session_start"], "stderr")
    cell = cells["session_next"]
    assert text_of(cell, "stdout") == "guarded 2\n"            # the lock lived on in the session
    assert result_of(cell) == "2"
    # A name changed in the notebook afterwards is sent again: the latest assignment wins.
    assert result_of(cells["session_sees_it"]) == "101"
    assert "s1" in text_of(cells["status"])
