"""Browser tests: a real JupyterLab server and Debian's headless chromium driven by Playwright.

* ``lab``: `jupyter lab` on a free port, no token, its config/data/runtime/settings dirs in a
  temp dir (news toast off), root dir a temp folder; stopped (with its kernels) afterwards.
* ``page``: a chromium page (``/usr/bin/chromium``; nothing is downloaded).

Skipped when chromium or playwright is missing (scripts/setup.sh installs both).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from strato._testing import free_port

CHROMIUM = "/usr/bin/chromium"
from playwright import sync_api  # noqa: E402  (Python package; the browser is Debian's chromium)

if not os.path.exists(CHROMIUM):
    raise RuntimeError(f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
                       f"(scripts/setup.sh installs it: apt-get install -y chromium)")


class Lab:
    def __init__(self, root: Path, port: int, proc: subprocess.Popen):
        self.root, self.port, self.proc = root, port, proc
        self.url = f"http://127.0.0.1:{port}"

    def write_notebook(self, name: str, cells: list[str]) -> str:
        nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {
                  "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
              "cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [],
                         "execution_count": None, "id": f"c{i}"} for i, c in enumerate(cells)]}
        (self.root / name).write_text(json.dumps(nb))
        return name


@pytest.fixture
def lab(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    home = tmp_path / "jupyter"
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    env.pop("JUPYTER_PATH", None)
    port = free_port()
    lab_cmd = str(Path(sys.executable).parent / "jupyter-lab")
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen([lab_cmd, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             "--IdentityProvider.token=", f"--ServerApp.root_dir={root}", "--allow-root"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(root, port, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{server.url}/api/status", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not start:\n" + (tmp_path / "lab.log").read_text())
                time.sleep(0.3)
        yield server
    finally:
        # SIGTERM lets the server shut its kernels down (and their embedded clusters with them).
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@pytest.fixture
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            yield pg
        finally:
            browser.close()
