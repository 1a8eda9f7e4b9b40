"""Fixtures for notebook tests: real ipykernels, driven by nbclient or jupyter_client.

Kernelspecs are written into a private JUPYTER_PATH for the session:

* ``strato-test``: "Python 3 (strato)" as `strato kernel install` writes it
  (ipykernel with the extension loaded at start), on this Python;
* ``python3-test``: plain ipykernel on this Python (cells `%load_ext strato`).

Kernels inherit the environment, including the root conftest's session
marker, so its leak check sees every process a kernel or its embedded
cluster left behind. Every helper here shuts its kernel down.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupyter_client = pytest.importorskip("jupyter_client")

from strato.kernel.kernelspec import write_spec  # noqa: E402

STRATO_KERNEL = "strato-test"
PLAIN_KERNEL = "python3-test"


@pytest.fixture(scope="session", autouse=True)
def kernel_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("jupyter")
    kernels = root / "kernels"
    write_spec(str(kernels / STRATO_KERNEL))
    plain = kernels / PLAIN_KERNEL
    plain.mkdir(parents=True)
    (plain / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test)", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:       # the variables are restored after the session
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
        mp.setenv("IPYTHONDIR", str(root / "ipython"))     # no user profile or startup files
        yield root


def notebook(*sources: str):
    """A notebook of code cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    return nb


def execute(nb, kernel: str = STRATO_KERNEL, cwd: str | None = None, timeout: int = 120):
    """Run every cell through a real kernel (errors recorded, not raised); the kernel is shut down after."""
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=timeout, allow_errors=True,
                                     resources={"metadata": {"path": cwd or os.getcwd()}})
    client.execute()
    return nb


def text_of(cell, name: str | None = None) -> str:
    """All stream text of a cell (of one stream when `name` is "stdout"/"stderr")."""
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and (name is None or o.name == name))


def result_of(cell) -> str | None:
    for o in cell.outputs:
        if o.output_type == "execute_result":
            return o.data.get("text/plain")
    return None


def error_of(cell):
    for o in cell.outputs:
        if o.output_type == "error":
            return o
    return None


class Kernel:
    """A kernel driven with jupyter_client directly: sees every iopub message, whatever its parent."""

    def __init__(self, name: str = STRATO_KERNEL, env: dict | None = None):
        self.km = jupyter_client.KernelManager(kernel_name=name)
        self.km.start_kernel(env=dict(os.environ, **(env or {})))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.messages: list[dict] = []

    def execute(self, code: str, timeout: float = 60) -> dict:
        """Run code, wait for its reply; returns the reply. iopub messages are kept in self.messages."""
        msg_id = self.kc.execute(code)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        self.drain(until_idle_of=msg_id, timeout=timeout)
        reply["msg_id"] = msg_id
        return reply

    def drain(self, until_idle_of: str | None = None, timeout: float = 10, quiet: float | None = None) -> None:
        """Collect iopub messages until `until_idle_of` went idle, or for `quiet` seconds of nothing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=quiet if quiet is not None else 0.5)
            except Exception:
                if until_idle_of is None:
                    return
                continue
            self.messages.append(msg)
            if (until_idle_of and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                    and msg["parent_header"].get("msg_id") == until_idle_of):
                return

    def streams_of(self, msg_id: str) -> str:
        return "".join(m["content"]["text"] for m in self.messages
                       if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id)

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)


@pytest.fixture
def kernel():
    """A strato kernel for one test, shut down afterwards."""
    k = Kernel()
    try:
        yield k
    finally:
        k.shutdown()
