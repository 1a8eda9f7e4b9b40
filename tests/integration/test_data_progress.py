"""In a notebook, a running dataset draws one progress bar per operator, updated live.

A real ipykernel runs a cell that consumes a dataset of slow blocks; the
iopub messages show the bars displayed under the cell and their values
moving up while the cell is still busy, then marked done.
"""
import json
import os
import sys
import time

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

pytestmark = pytest.mark.timeout(90)

CELL = """
import time, strato, strato.data as sd
strato.init(num_cpus=2)
def slow(batch):
    time.sleep(0.3)
    return batch
ds = sd.range(80, override_num_blocks=8).map_batches(slow).repartition(2)
print(ds.materialize().count())
"""


@pytest.fixture
def kernel(tmp_path):
    spec = tmp_path / "kernels" / "strato-data-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "strato data test", "language": "python"}))
    env = dict(os.environ, JUPYTER_PATH=str(tmp_path), IPYTHONDIR=str(tmp_path / "ipython"))
    km = jupyter_client.KernelManager(kernel_name="strato-data-test")
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(tmp_path)
    try:
        km.start_kernel(env=env, cwd=str(tmp_path))
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        yield kc
    finally:
        try:
            run(kc, "import strato; strato.shutdown()", 30)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=False)


def run(kc, code: str, timeout: float) -> list[tuple[float, dict]]:
    """Execute code; return its iopub messages with their arrival times, up to its idle status."""
    msg_id = kc.execute(code)
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except Exception:
            continue
        got.append((time.monotonic(), msg))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle" \
                and msg["parent_header"].get("msg_id") == msg_id:
            return got
    raise AssertionError(f"the cell did not finish in {timeout} s: {[m['msg_type'] for _, m in got]}")


def test_a_bar_per_operator_updates_live_while_the_cell_runs(kernel):
    msgs = run(kernel, CELL, 60)
    errors = [m["content"] for _, m in msgs if m["msg_type"] == "error"]
    assert not errors, errors
    out = "".join(m["content"].get("text", "") for _, m in msgs if m["msg_type"] == "stream")
    assert "80" in out
    # the bars: IntProgress widgets opened during the cell, labelled with the operators' names
    opens = {m["content"]["comm_id"]: m["content"]["data"]["state"] for _, m in msgs
             if m["msg_type"] == "comm_open"}
    bars = [cid for cid, state in opens.items() if state.get("_model_name") == "IntProgressModel"]
    labels = [state.get("value", "") for state in opens.values() if state.get("_model_name") == "LabelModel"]
    assert len(bars) == 2, labels
    assert any(label.startswith("ReadRange->MapBatches(slow)") for label in labels), labels
    assert any(label.startswith("Repartition") for label in labels), labels
    assert any(m["msg_type"] == "display_data" for _, m in msgs)
    # live: the map's bar took several values before the cell's output was printed
    printed = next(t for t, m in msgs if m["msg_type"] == "stream" and "80" in m["content"].get("text", ""))
    values = [m["content"]["data"]["state"]["value"] for t, m in msgs
              if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == bars[0]
              and "value" in m["content"]["data"].get("state", {}) and t < printed]
    assert len(set(values)) >= 3 and values == sorted(values) and values[-1] == 8, values
    styles = [m["content"]["data"]["state"]["bar_style"] for _, m in msgs
              if m["msg_type"] == "comm_msg" and "bar_style" in m["content"]["data"].get("state", {})]
    assert styles.count("success") == 2, styles
