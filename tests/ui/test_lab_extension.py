"""The Strato JupyterLab extension in a real `jupyter lab`, driven in Debian's headless chromium.

One lab server, one browser page and one detached cluster (`strato start --head --num-cpus 2`)
serve the whole module. The server lists the clusters of the cluster's private temp root
(`--StratoServer.temp_dir`); the extension and the server extension come from the venv as
scripts/setup.sh installed them (nothing enabled by hand here). This test process connects to the
cluster from a driver process that runs tasks and a small Tune run, and holds an actor and a 6 MiB
object, so every view has something to draw.

What "drew" means, as in test_dashboard_browser.py: a Bokeh canvas is on screen in the tab and a
screenshot of it holds the colour the view paints that thing with. Screenshots land in
tests/ui/artifacts/ (git-ignored).
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from PIL import Image
from playwright import sync_api

from strato._testing import free_port
from strato.cli import is_under, session_of_daemon
from strato.server_extension.manager import cluster_id
from strato.widgets.timeline import PALETTE, function_color


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
FINISHED_GREEN = (0x43, 0xA0, 0x47)        # strato.widgets.graph_model: FINISHED tasks
PRIMARY_BLUE = (0x1E, 0x88, 0xE5)          # strato.widgets.store_view: primary bytes
ALIVE_GREEN = (0x43, 0xA0, 0x47)           # strato.widgets.actor_view: ALIVE actors

pytestmark = pytest.mark.timeout(120)


# ---------------------------------------------------------------------------------------------- fixtures
def _daemons_under(root: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline", "uids"]):
        try:
            session = session_of_daemon(p.info["cmdline"] or [])
            if session and p.info["uids"].real == os.getuid() and is_under(session, root):
                out.append(p)
        except (psutil.Error, TypeError):
            continue
    return out


@pytest.fixture(scope="module")
def cluster():
    """A detached 2-CPU cluster in a private temp root: (address, root)."""
    root = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    proc = subprocess.run([sys.executable, "-m", "strato", "start", "--head", "--num-cpus", "2", "--temp-dir", root],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"cluster started at (\S+) ", proc.stdout)
    try:
        assert proc.returncode == 0 and match, proc.stdout + proc.stderr
        yield match.group(1), root
    finally:
        subprocess.run([sys.executable, "-m", "strato", "stop", "--temp-dir", root], capture_output=True, timeout=60,
                       check=False)
        left = _daemons_under(root)
        for p in left:
            p.kill()
        psutil.wait_procs(left, timeout=5)
        shutil.rmtree(root, ignore_errors=True)


DRIVER = """
import sys, time
import numpy as np
import strato
strato.init(address=sys.argv[1], _temp_dir=sys.argv[2])

@strato.remote
def double(x):
    time.sleep(0.02)
    return 2 * x

@strato.remote
def plus_one(x):
    return x + 1

@strato.remote
class Counter:
    def incr(self):
        return 1

assert sum(strato.get([plus_one.remote(double.remote(i)) for i in range(15)])) == 225
counter = Counter.remote()
assert strato.get(counter.incr.remote()) == 1
big = strato.put(np.ones(6 << 20, dtype=np.uint8))

from strato import tune

def trainable(config):
    for i in range(2):
        tune.report({"score": config["x"] * (i + 1)})

tune.Tuner(trainable, param_space={"x": tune.grid_search([1, 2])},
           tune_config=tune.TuneConfig(metric="score", mode="max"),
           run_config=tune.RunConfig(name="lab_run", storage_path=sys.argv[3], verbose=0)).fit()
print("READY", flush=True)
sys.stdin.read()                   # until the test closes our stdin
strato.shutdown()
"""


@pytest.fixture(scope="module")
def driver(cluster):
    """A driver process of the cluster: 30 tasks of two functions ran, a Tune run of 2 trials finished;
    it holds an actor and a 6 MiB object.

    (A process of its own: Playwright's sync API keeps an event loop on this process's main thread.)"""
    address, root = cluster
    results = tempfile.mkdtemp(prefix="strato-tune-")
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, address, root, results], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "READY", line + proc.stdout.read() if proc.poll() is not None else line
        yield {"functions": ("double", "plus_one"), "pid": proc.pid}
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(results, ignore_errors=True)


@pytest.fixture(scope="module")
def state_api(cluster):
    """The cluster's state API, read with its token as the server extension reads it."""
    from strato.server_extension.manager import ClusterManager
    address, root = cluster
    return ClusterManager(root).client(cluster_id(address))


@pytest.fixture(scope="module")
def lab(cluster):
    address, root = cluster
    home = Path(tempfile.mkdtemp(prefix="strato-lab-"))
    (home / "root").mkdir()
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    strato_settings = home / "settings" / "strato-jupyterlab"
    strato_settings.mkdir(parents=True)
    (strato_settings / "plugin.jupyterlab-settings").write_text(json.dumps({"refreshInterval": 500}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    env.pop("JUPYTER_PATH", None)
    # Kernels find a cluster's token in the default temp root; this one lives in a private root, so they
    # get it the documented other way (what `%cluster connect ADDR` then uses).
    from strato.runtime import temp_root
    env["STRATO_TOKEN"] = temp_root.lookup_token(root, address)
    port = free_port()
    log = open(home / "lab.log", "wb")  # noqa: SIM115  (open while the server runs)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", f"--port={port}",
                             "--ip=127.0.0.1", "--IdentityProvider.token=", f"--ServerApp.root_dir={home / 'root'}",
                             f"--StratoServer.temp_dir={root}", "--allow-root"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not start:\n" + (home / "lab.log").read_text())
                time.sleep(0.3)
        yield {"url": url, "root": home / "root", "log": home / "lab.log"}
    finally:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def page(lab):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        try:
            pg = browser.new_page(viewport={"width": 1500, "height": 1000})
            pg.goto(f"{lab['url']}/lab?reset")
            pg.locator("#jp-main-dock-panel").wait_for(timeout=60_000)
            yield pg
        finally:
            browser.close()


@pytest.fixture
def shot(page, request):
    """A screenshot of the page after each test (artifacts/after-<test>.png), failed or not."""
    yield
    page.screenshot(path=str(ARTIFACTS / f"after-{request.node.name}.png"))

# ---------------------------------------------------------------------------------------------- helpers
def pixels_near(png: bytes, rgb, tol=40) -> int:
    raw = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    r0, g0, b0 = rgb
    return sum(1 for i in range(0, len(raw), 3)
               if abs(raw[i] - r0) + abs(raw[i + 1] - g0) + abs(raw[i + 2] - b0) <= tol)


def wait_until(fn, timeout=30, interval=0.25, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def open_sidebar(page):
    """Show the Strato sidebar (its tab toggles it: click only while it is hidden, and check again, since
    a page that just loaded may still be restoring its layout)."""
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="strato-sidebar"]')
    tab.wait_for(timeout=30_000)
    sidebar = page.locator("#strato-sidebar")
    deadline = time.monotonic() + 20
    while not sidebar.is_visible():
        assert time.monotonic() < deadline, "the Strato sidebar did not open"
        tab.click()
        try:
            sidebar.wait_for(state="visible", timeout=2_000)
        except sync_api.TimeoutError:
            pass


def card(page, address):
    return page.locator(f'#strato-sidebar .strato-cluster[data-address="{address}"]')


# ---------------------------------------------------------------------------------------------- tests
def test_cluster_appears_in_the_sidebar_with_address_and_cpus(page, cluster, shot):
    address, _ = cluster
    open_sidebar(page)
    c = card(page, address)
    c.wait_for(timeout=30_000)
    assert c.locator(".strato-address").inner_text() == address
    assert c.locator(".strato-status").inner_text() == "running"
    cpu = c.locator('.strato-node .strato-bar-row[data-resource="CPU"] .strato-bar-text')
    wait_until(lambda: cpu.inner_text().endswith("/ 2"), 15, what="the CPU total 2 in the node's CPU bar")
    assert c.locator('.strato-node .strato-bar-row[data-resource="memory"]').count() == 1
    page.screenshot(path=str(ARTIFACTS / "lab-sidebar.png"))


def test_numbers_match_the_state_api_after_tasks_ran(page, cluster, driver, state_api, shot):
    address, _ = cluster

    def listed(kind, filters=()):
        params = [("limit", "10000")]
        for k, p, v in filters:
            params += [("filter_keys", k), ("filter_predicates", p), ("filter_values", v)]
        return state_api.get(f"/api/v0/{kind}", params)["result"]

    def listed_runs():
        return state_api.get("/api/strato/tune_runs")

    open_sidebar(page)
    c = card(page, address)
    finished = c.locator('.strato-chip[data-state="FINISHED"]')
    # 30 tasks, the actor's creation and its call, the Tune trials' actors and calls: once their
    # events reached the head (batched), the count stops changing.
    def settled():
        first = len(listed("tasks", [("state", "=", "FINISHED")]))
        time.sleep(0.6)
        n = len(listed("tasks", [("state", "=", "FINISHED")]))
        return n >= 32 and n == first and n
    want = wait_until(settled, 20, what="the finished tasks in the state API to settle")
    wait_until(lambda: finished.count() and finished.get_attribute("data-count") == str(want), 20,
               what=f"FINISHED {want} in the sidebar")
    [node] = listed("nodes")
    cpu = c.locator('.strato-node .strato-bar-row[data-resource="CPU"] .strato-bar-text').inner_text()
    assert cpu.split("/")[1].strip() == f"{node['resources_total']['CPU']:g}"
    actors = c.locator(".strato-actor")
    wait_until(lambda: actors.count() == len(listed("actors")) >= 1, 10, what="the actors in the sidebar")
    assert "Counter · ALIVE" in actors.all_inner_texts()
    runs = c.locator(".strato-tune-run")
    wait_until(lambda: runs.count() == 1 and "lab_run" in runs.first.inner_text(), 10, what="the Tune run")
    assert runs.first.get_attribute("data-status") == listed_runs()[0]["status"] == "TERMINATED"
    store = c.locator(".strato-gauge .strato-bar-text")
    wait_until(lambda: "MiB" in store.first.inner_text(), 10, what="the 6 MiB object in the store gauge")
    page.screenshot(path=str(ARTIFACTS / "lab-sidebar-after-tasks.png"))


def test_status_bar_shows_the_cluster_cpus(page, cluster, shot):
    address, _ = cluster
    item = page.locator(".strato-status-item")
    item.wait_for(timeout=10_000)
    text = wait_until(lambda: address in item.inner_text() and item.inner_text(), 15, what="the status bar item")
    assert re.search(r"CPU \d+(\.\d+)?/2\b", text), text
    assert "1 node" in text


def test_polling_slows_while_the_sidebar_is_hidden(page, shot):
    """Settings say 500 ms; with the sidebar hidden only the status bar needs numbers: 5x slower."""
    seen = []

    def on_request(request):
        if "/strato/api/clusters" in request.url:
            seen.append(time.monotonic())
    open_sidebar(page)
    page.on("request", on_request)
    try:
        page.wait_for_timeout(3000)   # (lets Playwright deliver the request events)
        shown = len(seen)
        page.locator('.jp-SideBar .lm-TabBar-tab[data-id="strato-sidebar"]').click()     # collapse it
        page.locator("#strato-sidebar").wait_for(state="hidden", timeout=10_000)
        page.wait_for_timeout(500)
        mark = len(seen)
        page.wait_for_timeout(3000)
        hidden = len(seen) - mark
    finally:
        page.remove_listener("request", on_request)
    open_sidebar(page)
    assert shown >= 4 and hidden <= 2, (shown, hidden)


def _set_tab_hidden(page, hidden: bool) -> None:
    """What the browser does when its tab goes to the background (or comes back): document.hidden and
    visibilityState change, then a visibilitychange event fires."""
    page.evaluate("""hidden => {
        Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
        Object.defineProperty(document, 'visibilityState', {value: hidden ? 'hidden' : 'visible',
                                                            configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""", hidden)


def test_polling_stands_by_while_the_browser_tab_is_hidden(page, cluster, shot):
    """With the sidebar open, polls come every 500 ms; while the browser tab is hidden none are sent;
    once it is visible again they resume."""
    address, _ = cluster
    open_sidebar(page)
    seen = []

    def on_request(request):
        if "/strato/api/clusters" in request.url:
            seen.append(time.monotonic())
    page.on("request", on_request)
    try:
        page.wait_for_timeout(2000)
        assert len(seen) >= 2, seen                       # polling while shown
        _set_tab_hidden(page, True)
        page.wait_for_timeout(1000)                       # a poll already under way may still land
        mark = len(seen)
        page.wait_for_timeout(3000)
        while_hidden = len(seen) - mark
        _set_tab_hidden(page, False)
        page.wait_for_timeout(3000)
        after = len(seen) - mark - while_hidden
    finally:
        page.remove_listener("request", on_request)
        page.evaluate("() => { delete document.hidden; delete document.visibilityState; }")
    assert while_hidden == 0 and after >= 2, (while_hidden, after)
    card(page, address).wait_for(timeout=10_000)


def test_copy_address_puts_it_on_the_clipboard(page, cluster, shot):
    address, _ = cluster
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_sidebar(page)
    page.evaluate("() => navigator.clipboard.writeText('before')")
    card(page, address).locator(".strato-copy").click()
    wait_until(lambda: page.evaluate("() => navigator.clipboard.readText()") == address, 10,
               what="the cluster's address on the clipboard")


def test_polling_backs_off_while_the_server_fails_and_recovers(page, cluster, shot):
    """Every cluster-list request answered 500 (the browser's route): the sidebar says so and asks less
    and less often (the interval doubles per failure); once answers come back it lists the cluster again."""
    address, _ = cluster
    open_sidebar(page)
    seen = []

    def fail(route):
        seen.append(time.monotonic())
        route.fulfill(status=500, content_type="application/json", body='{"message": "injected failure"}')
    page.route("**/strato/api/clusters*", fail)
    try:
        message = page.locator("#strato-sidebar .strato-message")
        wait_until(lambda: "injected failure" in message.inner_text(), 10, what="the failure in the sidebar")
        mark = len(seen)
        page.wait_for_timeout(6000)      # (lets Playwright serve the routed requests meanwhile)
        during = len(seen) - mark
    finally:
        page.unroute("**/strato/api/clusters*", fail)
    assert during <= 5, f"{during} requests in 6 s at a 500 ms interval: no backoff"    # doubling: ~3
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="strato-sidebar"]').click()     # hide and show again:
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="strato-sidebar"]').click()     # polls at once
    card(page, address).wait_for(timeout=30_000)
    wait_until(lambda: page.locator("#strato-sidebar .strato-message").inner_text() == "", 10,
               what="the error message to go")


def _dashboard_canvas(page, cid, view):
    frame = page.frame_locator(f'[id="strato-dashboard-{cid}-{view}"] iframe')

    def visible():
        for c in frame.locator("canvas").all():
            box = c.bounding_box()
            if c.is_visible() and box and box["width"] > 100 and box["height"] > 100:
                return c
        return None
    return wait_until(visible, 40, 0.5, what=f"a Bokeh canvas in the {view} tab")


@pytest.mark.parametrize("view", ["tasks", "timeline", "store", "actors", "tune"])
def test_dashboard_tab_draws(page, cluster, driver, view, shot):
    address, _ = cluster
    cid = cluster_id(address)
    colours = {"tasks": [FINISHED_GREEN], "store": [PRIMARY_BLUE], "actors": [ALIVE_GREEN],
               "timeline": [tuple(int(function_color(f)[i:i + 2], 16) for i in (1, 3, 5))
                            for f in driver["functions"]],
               # the two trials' curves: their palette colours drawn at alpha 0.9 over white
               "tune": [tuple(round(0.9 * int(c[i:i + 2], 16) + 0.1 * 255) for i in (1, 3, 5)) for c in PALETTE[:2]]}[view]
    open_sidebar(page)
    card(page, address).locator(f'.strato-dashboard-button[data-view="{view}"]').click()
    tab = page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab:has-text("· {address}")')
    wait_until(lambda: tab.count() >= 1, 10, what="the dashboard's tab")
    if view == "tune":                     # the trial table (DOM, not canvas): both trials, finished
        frame = page.frame_locator(f'[id="strato-dashboard-{cid}-{view}"] iframe')
        wait_until(lambda: frame.locator(".slick-row").count() == 2, 40, 0.5, what="2 trial rows in the table")
        assert all("TERMINATED" in t for t in frame.locator(".slick-row").all_inner_texts())
    canvas = _dashboard_canvas(page, cid, view)
    for rgb in colours:
        wait_until(lambda rgb=rgb: pixels_near(canvas.screenshot(), rgb) > 20, 30, 0.5,
                   what=f"pixels of {rgb} in the {view} dashboard")
    if view == "store":                    # the largest objects: the 6 MiB one, with where it was made
        frame = page.frame_locator(f'[id="strato-dashboard-{cid}-{view}"] iframe')
        frame.get_by_text("made at").first.wait_for(timeout=10_000)
        wait_until(lambda: any("6.0 MiB" in t for t in frame.locator("td").all_inner_texts()), 10,
                   what="the 6 MiB object in the largest-objects table")
    page.screenshot(path=str(ARTIFACTS / f"lab-dashboard-{view}.png"))
    tab.first.locator(".lm-TabBar-tabCloseIcon").click()       # the next view gets the room
    wait_until(lambda: tab.count() == 0, 10, what="the dashboard tab to close")


def test_insert_command_writes_the_connect_cell(page, lab, cluster, shot):
    address, _ = cluster
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {
              "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "cells": [
        {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None, "id": "c0"}]}
    (lab["root"] / "insert.ipynb").write_text(json.dumps(nb))
    page.goto(f"{lab['url']}/lab/tree/insert.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.get_by_text("| Idle").wait_for(timeout=60_000)          # the notebook's kernel is up
    open_sidebar(page)
    card(page, address).locator(".strato-insert").click()
    cells = page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor")
    want = f"%cluster connect {address}"
    wait_until(lambda: any(want in t for t in cells.all_inner_texts()), 10, what=f"a cell with {want!r}")
    assert cells.count() == 2
    page.screenshot(path=str(ARTIFACTS / "lab-insert.png"))

    # Dragging the cluster onto the notebook drops the same cell where it lands.
    src = wait_until(lambda: card(page, address).locator(".strato-address").bounding_box(), 10,
                     what="the cluster's card on screen")       # (None while the sidebar redraws)
    dst = wait_until(lambda: page.locator(".jp-Notebook .jp-Cell").last.bounding_box(), 10, what="the last cell")
    page.mouse.move(src["x"] + 10, src["y"] + 5)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(src["x"] + 10 + (dst["x"] + 80 - src["x"] - 10) * i / 10,
                        src["y"] + 5 + (dst["y"] + dst["height"] - 4 - src["y"] - 5) * i / 10)
    page.mouse.up()
    wait_until(lambda: cells.count() == 3, 10, what="a third cell dropped by the drag")
    assert sum(want in t for t in cells.all_inner_texts()) == 2


def test_status_bar_follows_the_active_kernels_cluster(page, lab, cluster, shot):
    """Run the inserted cell: the notebook's kernel becomes a driver of the cluster; the server maps the
    driver's pid to the kernel, so the status bar names the cluster of the active notebook's kernel."""
    address, _ = cluster
    connect = page.locator(".jp-Notebook .jp-Cell").filter(has_text=f"%cluster connect {address}").first
    connect.locator(".jp-InputArea-editor").click()
    page.locator('[data-jp-item-name="run"]').first.click()
    select = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
    page.wait_for_timeout(500)
    if select.count():                    # JupyterLab sometimes asks again which kernel to run it with
        select.locator("button", has_text="Select").click()
    page.locator(".jp-Notebook .jp-OutputArea-output").filter(has_text=address).first.wait_for(timeout=60_000)
    kernels = json.loads(urllib.request.urlopen(f"{lab['url']}/api/kernels").read())
    assert len(kernels) == 1

    def mapped():
        listed = json.loads(urllib.request.urlopen(f"{lab['url']}/strato/api/clusters").read())["clusters"]
        return [c for c in listed if c["address"] == address and kernels[0]["id"] in c.get("kernels", [])]
    wait_until(mapped, 20, 0.5, what="the cluster to list the notebook's kernel as a driver")
    item = page.locator(".strato-status-item")
    wait_until(lambda: address in item.inner_text(), 10, what="the status bar on the kernel's cluster")
    page.screenshot(path=str(ARTIFACTS / "lab-kernel-connected.png"))


def test_default_address_setting_adds_a_cluster(page, lab, tmp_path, shot):
    """Settings > Strato > default address (+ token file): a cluster started elsewhere (here: another
    temp root, so not found locally) is added at load and listed as "added"."""
    root = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    try:
        proc = subprocess.run([sys.executable, "-m", "strato", "start", "--head", "--num-cpus", "1", "--temp-dir",
                               root], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        address = proc.stdout.split("cluster started at ", 1)[1].split()[0]
        from strato.runtime import temp_root
        token_file = tmp_path / "token"
        token_file.write_text(temp_root.lookup_token(root, address))
        raw = json.dumps({"refreshInterval": 500, "defaultAddress": address, "defaultTokenFile": str(token_file)})
        status = page.evaluate("""async (raw) => {
            const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
            const r = await fetch('/lab/api/settings/strato-jupyterlab:plugin', {method: 'PUT',
                headers: {'Content-Type': 'application/json', 'X-XSRFToken': xsrf}, body: JSON.stringify({raw})});
            return r.status; }""", raw)
        assert status == 204, status
        page.reload()
        open_sidebar(page)
        added = card(page, address)
        added.wait_for(timeout=30_000)
        assert added.locator(".strato-kind").inner_text() == "added"
        cpu = added.locator('.strato-node .strato-bar-row[data-resource="CPU"] .strato-bar-text')
        wait_until(lambda: cpu.inner_text().endswith("/ 1"), 15, what="the added cluster's CPU total")
        page.screenshot(path=str(ARTIFACTS / "lab-default-address.png"))
    finally:
        subprocess.run([sys.executable, "-m", "strato", "stop", "--temp-dir", root], capture_output=True, timeout=60,
                       check=False)
        left = _daemons_under(root)
        for p in left:
            p.kill()
        psutil.wait_procs(left, timeout=5)
        shutil.rmtree(root, ignore_errors=True)
