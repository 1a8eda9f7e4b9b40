"""Strato's notebook layer: `%load_ext strato`, the "Python 3 (strato)" kernel.

    magics.py       %cluster (connect, start, stop, status, nodes, dashboard, logs) and %%remote
    remote_job.py   one run of a %%remote cell: its refs, its status line, its results
    capture.py      which names a cell reads and assigns (ast; pure)
    args.py         the magics' arguments (pure)
    routing.py      remote output -> the cell that submitted the work (ipykernel thread parents)
    tracebacks.py   remote tracebacks that point at the cell's lines (pure)
    kernelspec.py   `strato kernel install`

All of it runs in the notebook's kernel. The remote side of %%remote (a
task, or a session actor's method) runs in workers and lives with them:
runtime/worker/cell_runner.py. Importing this package does not import
IPython: the extension is loaded lazily, when `%load_ext strato` calls it.
"""
from __future__ import annotations

_loaded: dict = {}


def load_ipython_extension(ip) -> None:
    """Register the magics, the cell hooks that route output, and the remote traceback renderer."""
    if _loaded.get("shell") is ip:
        return
    from strato import exceptions
    from strato.kernel.magics import StratoMagics

    magics = StratoMagics(ip)
    ip.register_magics(magics)
    ip.events.register("pre_run_cell", magics.pre_run_cell)
    ip.events.register("post_run_cell", magics.post_run_cell)
    previous_exc = (ip.custom_exceptions, getattr(ip, "CustomTB", None))
    ip.set_custom_exc((exceptions.TaskError,), magics.show_task_error)
    _loaded.update(shell=ip, magics=magics, previous_exc=previous_exc)
    # Route remote output from now on, whether the cluster comes from %cluster or strato.init().
    from strato.util import output
    output.set_output_handler(magics.router.handle)
    _install_progress(True)


def _install_progress(on: bool) -> None:
    """A get of many refs that waits over a second shows a progress bar (strato.widgets)."""
    try:
        from strato.widgets import progress
    except ImportError:          # widget libraries not installed
        return
    progress.install() if on else progress.uninstall()


def unload_ipython_extension(ip) -> None:
    if _loaded.get("shell") is not ip:
        return
    from strato.util import output

    magics = _loaded.pop("magics")
    _install_progress(False)
    ip.events.unregister("pre_run_cell", magics.pre_run_cell)
    ip.events.unregister("post_run_cell", magics.post_run_cell)
    exc_types, custom_tb = _loaded.pop("previous_exc")
    ip.custom_exceptions = exc_types
    if custom_tb is not None:
        ip.CustomTB = custom_tb
    ip.magics_manager.magics["line"].pop("cluster", None)
    ip.magics_manager.magics["cell"].pop("remote", None)
    output.set_output_handler(None)
    output.set_submission_tag(None)
    _loaded.pop("shell", None)
