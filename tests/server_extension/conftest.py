"""Fixtures for the server extension's tests: pytest-jupyter's in-process Jupyter server, and real clusters.

* pytest-jupyter's fixtures (`jp_fetch`, `jp_serverapp`, ...) are imported here rather than named in
  `pytest_plugins` (which only the top-level conftest may do); its hooks run `async def` tests.
* ``strato_root``: a private temp root (0700, under /tmp: socket paths stay short) for the module.
* ``head``: a detached cluster started with `strato start --head --num-cpus 1` in that root, for the
  module; stopped afterwards (`strato stop --temp-dir`, then whatever is left of it by pid).
* ``jp_server_config``: the extension enabled, listing the clusters of ``strato_root``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

import psutil
import pytest
from pytest_jupyter.jupyter_server import *

from strato.cli import is_under, session_of_daemon


def strato_cli(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "strato", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False)


def daemons_under(root: str) -> list[psutil.Process]:
    """This user's detached strato daemons whose session folders lie in `root`."""
    out = []
    for p in psutil.process_iter(["cmdline", "uids"]):
        try:
            session = session_of_daemon(p.info["cmdline"] or [])
            if session and p.info["uids"].real == os.getuid() and is_under(session, root):
                out.append(p)
        except (psutil.Error, TypeError):
            continue
    return out


def stop_root(root: str) -> None:
    strato_cli("stop", "--temp-dir", root)
    left = daemons_under(root)
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)


@pytest.fixture
def cli():
    """The helpers above, for test modules (which cannot import a conftest by name when several run)."""
    return types.SimpleNamespace(run=strato_cli, daemons_under=daemons_under, stop_root=stop_root)


@pytest.fixture(scope="module")
def strato_root():
    root = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    try:
        yield root
    finally:
        stop_root(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def head(strato_root):
    proc = strato_cli("start", "--head", "--num-cpus", "1", "--temp-dir", strato_root)
    match = re.search(r"cluster started at (\S+) ", proc.stdout)
    assert proc.returncode == 0 and match, proc.stdout + proc.stderr
    try:
        yield match.group(1)
    finally:
        stop_root(strato_root)


@pytest.fixture
def jp_server_config(strato_root):
    return {"ServerApp": {"jpserver_extensions": {"strato.server_extension": True}},
            "StratoServer": {"temp_dir": strato_root}}
