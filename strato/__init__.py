"""Strato: scale Python from a notebook, with Ray's programming model.

`import strato as ray` runs Ray Core code. The public surface is re-exported
here name by name (tests/unit/test_public_api.py pins it).
"""
import os as _os

# Processes here fork (raylets start workers, drivers start daemons) while gRPC threads run;
# gRPC's fork handlers then crash the child before it execs. Nothing relies on gRPC across a fork.
_os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from strato import exceptions  # noqa: E402
from strato.actor import ActorClass, ActorHandle, method
from strato.api import (
    available_resources,
    cancel,
    cluster_resources,
    get,
    get_actor,
    get_runtime_context,
    init,
    is_initialized,
    kill,
    nodes,
    put,
    remote,
    shutdown,
    wait,
)
from strato.runtime.core_worker.generators import DynamicObjectRefGenerator, ObjectRefGenerator
from strato.runtime.core_worker.object_ref import ObjectRef
from strato.util.timeline import timeline
from strato import util  # noqa: E402,F401  -- `strato.util.placement_group(...)` without an import, as in Ray

__version__ = "0.1.0"

__all__ = [
    "ActorClass",
    "ActorHandle",
    "DynamicObjectRefGenerator",
    "ObjectRef",
    "ObjectRefGenerator",
    "available_resources",
    "cancel",
    "cluster_resources",
    "exceptions",
    "get",
    "get_actor",
    "get_runtime_context",
    "init",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "put",
    "remote",
    "shutdown",
    "timeline",
    "wait",
]


def __getattr__(name):
    """`strato.data` (and `strato.tune`) without importing it first, as `ray.data` works after `import ray`."""
    if name in ("data", "tune"):
        import importlib
        return importlib.import_module(f"strato.{name}")
    raise AttributeError(f"module 'strato' has no attribute {name!r}")


def load_ipython_extension(ip):
    """`%load_ext strato`: the %cluster and %%remote magics (strato.kernel)."""
    from strato.kernel import load_ipython_extension as load
    load(ip)


def unload_ipython_extension(ip):
    from strato.kernel import unload_ipython_extension as unload
    unload(ip)
