"""`%cluster dashboard` in a real JupyterLab, in headless chromium: the plots must have drawn.

Bokeh draws on canvases inside a shadow DOM (Playwright's CSS locators pierce it). "Drew"
means: a canvas is on screen in the tab, and a screenshot of it holds the colours the view
paints with -- finished tasks (green circles) in the task graph, primary bytes (a blue line)
in the store view -- not just a blank frame.
"""
import io
import time

import pytest

from PIL import Image  # noqa: E402

FINISHED_GREEN = (0x43, 0xA0, 0x47)
PRIMARY_BLUE = (0x1E, 0x88, 0xE5)

CELLS = [
    "%load_ext strato\n%cluster connect --num-cpus 2",
    "import numpy as np\nimport strato\n"
    "@strato.remote\ndef f(x):\n    return x + 1\n"
    "@strato.remote\ndef g(x):\n    return x * 2\n"
    "refs = [g.remote(f.remote(i)) for i in range(40)]\n"
    "big = strato.put(np.ones(6 << 20, dtype=np.uint8))\n"
    "print('total', sum(strato.get(refs)))",
    "%cluster dashboard",
]


def _pixels_near(png: bytes, rgb, tol=40) -> int:
    raw = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    r0, g0, b0 = rgb
    return sum(1 for i in range(0, len(raw), 3)
               if abs(raw[i] - r0) + abs(raw[i + 1] - g0) + abs(raw[i + 2] - b0) <= tol)


def _visible_canvas(page, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in page.locator(".widget-tab canvas").all():
            box = c.bounding_box()
            if c.is_visible() and box and box["width"] > 100 and box["height"] > 100:
                return c
        time.sleep(0.25)
    raise AssertionError("no visible Bokeh canvas in the dashboard tab")


def _wait_for_colour(canvas, rgb, what, timeout=30):
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = _pixels_near(canvas.screenshot(), rgb)
        if count > 20:
            return count
        time.sleep(0.5)
    raise AssertionError(f"the {what} plot drew no pixels of colour {rgb} (found {count})")


@pytest.mark.timeout(150)
def test_dashboard_draws_in_jupyterlab(lab, page, tmp_path):
    try:
        _open_dashboard_and_check(lab, page, tmp_path)
    except Exception:
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
        raise


def _open_dashboard_and_check(lab, page, out):
    name = lab.write_notebook("dashboard.ipynb", CELLS)
    page.goto(f"{lab.url}/lab/tree/{name}?reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.get_by_text("| Idle").wait_for(timeout=60_000)          # the kernel is up
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.get_by_text("total 1640").wait_for(timeout=90_000)
    tabs = page.locator(".widget-tab .lm-TabBar-tab")
    tabs.first.wait_for(timeout=60_000)
    assert [t.strip() for t in tabs.all_inner_texts()] == ["Cluster", "Tasks", "Object store", "Progress"]
    # Cluster tab: a row per node with its bars.
    page.locator(".widget-tab .widget-hprogress").first.wait_for(timeout=30_000)

    tabs.nth(1).click()
    graph = _visible_canvas(page)
    _wait_for_colour(graph, FINISHED_GREEN, "task graph")
    page.screenshot(path=str(out / "tasks.png"))

    tabs.nth(2).click()
    store = _visible_canvas(page)
    _wait_for_colour(store, PRIMARY_BLUE, "object store")
    page.screenshot(path=str(out / "store.png"))
    page.get_by_text("made at").first.wait_for(timeout=10_000)       # the largest-objects table
