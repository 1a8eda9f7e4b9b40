"""TuneView through a real kernel: Tuner.fit() in a blocking cell shows the view by itself, the view's
comm messages arrive while the cell still runs, and it ends with every trial's final state."""
import json

import pytest

from conftest import Kernel

pytest.importorskip("bokeh")
pytest.importorskip("jupyter_bokeh")

CELLS = {
    "connect": "%cluster connect --num-cpus 2",
    "fit": (
        "import json, time, tempfile\n"
        "from strato import tune\n"
        "def train(config):\n"
        "    for i in range(8):\n"
        "        time.sleep(0.15)\n"
        "        tune.report({'score': config['q'] * (i + 1)})\n"
        "tuner = tune.Tuner(train, param_space={'q': tune.grid_search([1.0, 0.9, 0.1, 0.2])},\n"
        "    tune_config=tune.TuneConfig(metric='score', mode='max', reuse_actors=True,\n"
        "        scheduler=tune.ASHAScheduler(max_t=8, grace_period=2, reduction_factor=2)),\n"
        "    run_config=tune.RunConfig(name='nb', storage_path=tempfile.mkdtemp()))\n"
        "grid = tuner.fit()\n"),
    "check": (
        "v = tuner.view\n"
        "print(json.dumps({'bokeh': v.widget.children[1].model_id, 'title': v.widget.children[0].model_id,\n"
        "  'live': v.live, 'finished': v.finished,\n"
        "  'view': {r['trial_id']: [r['status'], r['iter'], r['stop_reason']] for r in v.rows},\n"
        "  'grid': {t.trial_id: [str(t.status), t.last_result.get('training_iteration', 0), t.stop_reason or '']\n"
        "           for t in grid._trials},\n"
        "  'table': list(v._table_src.data['status']), 'curves': [len(x) for x in v._curve_src.data['xs']],\n"
        "  'axes': list(v._par_fig.xaxis.major_label_overrides.values()), 'text': v.text()}))"),
    "stop": "%cluster stop",
}


@pytest.fixture(scope="module")
def run():
    k = Kernel()
    out = {}
    try:
        for name, code in CELLS.items():
            start = len(k.messages)
            reply = k.execute(code, timeout=120)
            errors = [m["content"] for m in k.messages[start:] if m["msg_type"] == "error"]
            assert reply["content"]["status"] == "ok", (name, errors)
            out[name] = (reply["msg_id"], start, len(k.messages))
        yield k, out
    finally:
        k.shutdown()


def _facts(k, cells):
    text = k.streams_of(cells["check"][0]).strip().splitlines()
    return json.loads(text[-1])


def test_tune_view_appears_and_updates_while_fit_blocks(run):
    k, cells = run
    facts = _facts(k, cells)
    msg_id, start, end = cells["fit"]
    during = k.messages[start:end]
    opened = {m["content"]["comm_id"] for m in during if m["msg_type"] == "comm_open"}
    assert facts["bokeh"] in opened and facts["title"] in opened          # shown by fit() itself
    shown = [m for m in during if m["msg_type"] == "display_data" and m["parent_header"].get("msg_id") == msg_id]
    assert any("application/vnd.jupyter.widget-view+json" in m["content"]["data"] for m in shown)
    idle = next(i for i, m in enumerate(during) if m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle" and m["parent_header"].get("msg_id") == msg_id)
    updates = [i for i, m in enumerate(during[:idle]) if m["msg_type"] == "comm_msg"
               and m["content"]["comm_id"] in (facts["bokeh"], facts["title"])]
    assert len(updates) >= 3, f"only {len(updates)} view updates during the cell"
    stream_end = max(i for i, m in enumerate(during[:idle]) if m["msg_type"] in ("comm_msg", "stream"))
    assert updates[0] < stream_end - 2, "the view only updated at the very end of the cell"


def test_tune_view_ends_with_every_trials_final_state(run):
    k, cells = run
    facts = _facts(k, cells)
    assert facts["finished"] and not facts["live"]
    assert facts["view"] == facts["grid"]
    assert len(facts["view"]) == 4 and all(s == "TERMINATED" for s, _, _ in facts["view"].values())
    reasons = [r for _, _, r in facts["view"].values() if r]
    assert reasons and all(r.startswith("ASHA: below rung") for r in reasons)
    assert sorted(facts["table"]) == ["TERMINATED"] * 4
    assert sorted(facts["curves"]) == sorted(it for _, it, _ in facts["view"].values())
    assert facts["axes"] == ["q", "score"]
    assert "ASHA: below rung" in facts["text"]
