"""This process's current core worker, and the hooks the public API registers.

A leaf: it imports nothing of strato, so everything below the public API
(the runtime, `strato.util`, actor and function handles, widgets) finds the
current worker here instead of importing `strato.api`:

    strato.api           --registers-->  auto-init hook (init() with no arguments)
    strato.api.init()    --sets------->  the worker (a driver's CoreWorker); shutdown() clears it
    runtime/worker main  --sets------->  the worker (a worker process's CoreWorker)
    runtime, util, handles --read----->  worker(), require_worker(what), auto_init()

`slow_get_hook` is the notebook layer's progress bar for long gets
(strato.widgets.progress.install sets it; strato.get uses it).
"""
from __future__ import annotations

_worker = None              # the CoreWorker of this process, or None
_auto_init_hook = None      # strato.api registers init() here when it is imported

#: Set in a notebook kernel (strato.widgets.progress.install): a context manager factory
#: slow_get(refs, what) that shows a progress bar under the cell when a get of many refs is slow.
slow_get_hook = None


def worker():
    """This process's core worker, or None when not connected."""
    return _worker


def set_worker(cw) -> None:
    """Make `cw` (or None) this process's core worker."""
    global _worker
    _worker = cw


def set_auto_init_hook(hook) -> None:
    """Register the callable that connects this process when a handle is used before init()."""
    global _auto_init_hook
    _auto_init_hook = hook


def auto_init():
    """The current worker, connecting first (the auto-init hook) if there is none yet."""
    if _worker is None:
        if _auto_init_hook is None:
            raise RuntimeError("No cluster and no way to start one: import strato and call strato.init() "
                               "first.")
        _auto_init_hook()
    return _worker


def require_worker(what: str):
    """The current worker; without one, an error that says to call strato.init() first."""
    if _worker is None:
        raise RuntimeError(f"strato.{what}() needs a cluster: call strato.init() first "
                           f"(or %cluster connect in a notebook).")
    return _worker
