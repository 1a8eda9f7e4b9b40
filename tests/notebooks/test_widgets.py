"""Live widgets through a real kernel: a notebook of cells run one by one with jupyter_client,
every iopub message kept, so the test sees the widgets' comm messages and when they arrived.

The blocking cell runs 500 tasks (data edges src -> dst, call edges parent -> child) and puts
8 MiB; the views shown before it must send updates while it still runs, and afterwards hold
the whole graph and the put's bytes.
"""
import json

import pytest

from conftest import Kernel

pytest.importorskip("bokeh")
pytest.importorskip("jupyter_bokeh")

N_PAIRS = 245          # src -> dst pairs: 490 tasks
N_PARENTS = 5          # parent -> child: 10 tasks
BIG = 8 << 20

CELLS = {
    "connect": "%cluster connect --num-cpus 2",
    "show": (
        "import json, time\nimport numpy as np\nimport strato\nfrom strato import widgets\n"
        "tg = widgets.TaskGraph(interval=0.25)\nsv = widgets.ObjectStoreView(interval=0.25)\n"
        "cv = widgets.ClusterView(interval=0.25)\n"
        "display(tg); display(sv); display(cv)\n"
        "print(json.dumps({'tg': tg.widget.children[1].model_id, 'sv': sv.widget.children[0].model_id,"
        " 'cv': cv.widget.model_id}))"),
    "define": (
        "@strato.remote\ndef src(i):\n    time.sleep(0.01)\n    return i\n"
        "@strato.remote\ndef dst(x):\n    time.sleep(0.01)\n    return x + 1\n"
        "@strato.remote\ndef child(i):\n    return i\n"
        "@strato.remote\ndef parent(i):\n    return strato.get(child.remote(i))\n"),
    "run": (
        f"t0 = time.time(); ticks0 = tg.feed.ticks\n"
        f"a = [src.remote(i) for i in range({N_PAIRS})]\n"
        f"b = [dst.remote(r) for r in a]\n"
        f"p = [parent.remote(i) for i in range({N_PARENTS})]\n"
        f"big = strato.put(np.ones({BIG}, dtype=np.uint8))\n"
        f"out = strato.get(b + p)\n"
        f"while time.time() - t0 < 4.0:\n    time.sleep(0.1)   # let events reach the views while still running\n"
        f"elapsed, ticks = time.time() - t0, tg.feed.ticks - ticks0\n"
        f"sum(out)"),
    "check": (
        "time.sleep(2.5)\ntg.refresh(); sv.refresh(); cv.refresh()\n"
        "names = {t: n.name for t, n in tg.nodes.items()}\n"
        "print(json.dumps({'n_nodes': len(tg.nodes), 'plotted': tg.plotted_rows(),\n"
        "  'names': sorted(set(names.values())),\n"
        "  'edges': [list(e) for e in tg.edges],\n"
        "  'edge_names': [[names[s], names[d], k] for s, d, k in tg.edges],\n"
        "  'expected_data': [[x.task_id(), y.task_id()] for x, y in zip(a, b)],\n"
        "  'parents': [r.task_id() for r in p],\n"
        "  'states': tg.model.state_counts(), 'totals': sv.totals(), 'ticks': ticks, 'elapsed': elapsed,\n"
        "  'text': sv.text(), 'nodes_in_view': len(cv.nodes)}))"),
    "slow_get": ("@strato.remote\ndef nap(i):\n    time.sleep(0.3)\n    return i\n"
                 "sum(strato.get([nap.remote(i) for i in range(12)]))"),
    "dashboard": "%cluster dashboard",
    "close": ("tg.close(); sv.close(); cv.close(); time.sleep(1.0)\n"
              "print(json.dumps({'live': [tg.live, sv.live, cv.live], 'thread': tg.feed.running}))"),
    "stop": "%cluster stop",
}


def _stdout_json(kernel, msg_id):
    text = kernel.streams_of(msg_id).strip().splitlines()
    assert text, f"no output; messages: {[m['msg_type'] for m in kernel.messages if m['parent_header'].get('msg_id') == msg_id]}"
    return json.loads(text[-1])


def _errors(kernel, msg_id):
    return [m["content"] for m in kernel.messages
            if m["msg_type"] == "error" and m["parent_header"].get("msg_id") == msg_id]


@pytest.fixture(scope="module")
def run():
    """Execute the cells in order; return {cell: (msg_id, first iopub index, last iopub index)} and the kernel."""
    k = Kernel()
    out = {}
    try:
        for name, code in CELLS.items():
            start = len(k.messages)
            reply = k.execute(code, timeout=120)
            assert reply["content"]["status"] == "ok", (name, _errors(k, reply["msg_id"]))
            out[name] = (reply["msg_id"], start, len(k.messages))
        yield k, out
    finally:
        k.shutdown()


def test_widget_updates_arrive_while_the_blocking_cell_runs(run):
    k, cells = run
    ids = _stdout_json(k, cells["show"][0])
    msg_id, start, end = cells["run"]
    during = k.messages[start:end]
    busy = next(i for i, m in enumerate(during) if m["msg_type"] == "status"
                and m["content"]["execution_state"] == "busy" and m["parent_header"].get("msg_id") == msg_id)
    idle = next(i for i, m in enumerate(during) if m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle" and m["parent_header"].get("msg_id") == msg_id)
    comms = [m for m in during[busy:idle] if m["msg_type"] == "comm_msg"]
    by_comm = {}
    for m in comms:
        by_comm[m["content"]["comm_id"]] = by_comm.get(m["content"]["comm_id"], 0) + 1
    assert by_comm.get(ids["tg"], 0) > 0, f"no task-graph update during the cell; comm messages: {by_comm}"
    assert by_comm.get(ids["sv"], 0) > 0, f"no object-store update during the cell; comm messages: {by_comm}"


def test_updates_are_throttled(run):
    k, cells = run
    facts = _stdout_json(k, cells["check"][0])
    assert facts["ticks"] >= 2
    assert facts["ticks"] <= 4 * facts["elapsed"] + 2, facts


def test_final_graph_holds_every_task_with_its_edges(run):
    k, cells = run
    facts = _stdout_json(k, cells["check"][0])
    assert facts["n_nodes"] == 2 * N_PAIRS + 2 * N_PARENTS, facts["states"]
    assert facts["plotted"] == facts["n_nodes"]
    assert facts["states"] == {"FINISHED": facts["n_nodes"]}
    assert facts["names"] == ["child", "dst", "parent", "src"]
    data = {tuple(e[:2]) for e in facts["edges"] if e[2] == "data"}
    assert data == {tuple(e) for e in facts["expected_data"]}
    calls = [(s, d) for (s, d, kind), names in zip(facts["edges"], facts["edge_names"]) if kind == "call"]
    assert len(calls) == N_PARENTS
    assert {s for s, _ in calls} == set(facts["parents"])
    assert all(names[:2] == ["parent", "child"] for names in facts["edge_names"] if names[2] == "call")


def test_store_view_reports_the_large_put(run):
    k, cells = run
    facts = _stdout_json(k, cells["check"][0])
    totals = facts["totals"]
    assert totals["primary_bytes"] + totals["in_process_bytes"] >= BIG, totals
    assert facts["nodes_in_view"] == 1
    if totals["primary_bytes"] >= BIG:          # in the node's store: listed with the cell that made it
        assert "8.0 MiB" in facts["text"] and "Cell In[" in facts["text"], facts["text"]


def test_cluster_dashboard_magic_shows_four_tabs(run):
    k, cells = run
    msg_id = cells["dashboard"][0]
    opened = [m for m in k.messages if m["msg_type"] == "comm_open"
              and m["parent_header"].get("msg_id") == msg_id]
    tabs = [m for m in opened if m["content"]["data"]["state"].get("_model_name") == "TabModel"]
    assert len(tabs) == 1
    assert tabs[0]["content"]["data"]["state"]["titles"] == ["Cluster", "Tasks", "Object store", "Progress"]
    shown = [m for m in k.messages if m["msg_type"] in ("display_data", "execute_result")
             and m["parent_header"].get("msg_id") == msg_id]
    assert any("application/vnd.jupyter.widget-view+json" in m["content"]["data"] for m in shown)


def test_closing_stops_the_updates(run):
    k, cells = run
    facts = _stdout_json(k, cells["close"][0])
    assert facts == {"live": [False, False, False], "thread": False}


def test_a_slow_get_of_many_refs_shows_a_progress_bar(run):
    k, cells = run
    msg_id, start, end = cells["slow_get"]
    during = k.messages[start:end]
    bars = [m for m in during if m["msg_type"] == "comm_open"
            and m["content"]["data"]["state"].get("_model_name") == "IntProgressModel"
            and m["content"]["data"]["state"].get("description") == "get"]
    assert len(bars) == 1, [m["msg_type"] for m in during]
    comm_id = bars[0]["content"]["comm_id"]
    shown = [m for m in during if m["msg_type"] == "display_data" and m["parent_header"].get("msg_id") == msg_id]
    assert shown, "the progress bar was not displayed under the cell"
    values = [m["content"]["data"]["state"]["value"] for m in during
              if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
              and "value" in m["content"]["data"].get("state", {})]
    assert values and values[-1] == 12, values
