"""The public API (Ray Core's names): connecting this process, objects, tasks, actors.

This process's core worker is held in `strato._context` (a leaf module), not
here: in a driver `init()` sets it (starting an embedded cluster when given no
address) and `shutdown()` clears it; in a worker process the worker's main
sets it, so tasks can call `strato.get` and `.remote()` themselves. This
module registers `init` as the context's auto-init hook, which handles and
`put` use when nothing is connected yet. The runtime and `strato.util` read
the context and never import this module.
"""
from __future__ import annotations

import asyncio
import atexit
import math
import os
import uuid
import socket
import threading
import time

from strato import _context, exceptions
from strato.actor import SELF_CALL_IDS
from strato.runtime import node as node_mod
from strato.runtime import temp_root, tls, tokens
from strato.runtime.config import SystemConfig
from strato.runtime.core_worker.generators import ObjectRefGenerator
from strato.runtime.core_worker.object_ref import ObjectRef
from strato.runtime.ids import random_id
from strato.runtime.protocol import gcs_pb2

_embedded = None        # dict from node.start_head when init() started the cluster
_lock = threading.RLock()


class ClusterContext(dict):
    """What `init()` returns: address information, also readable as a dict."""

    @property
    def address_info(self) -> dict:
        return dict(self)

    @property
    def address(self) -> str:
        return self["address"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutdown()


def is_initialized() -> bool:
    return _context.worker() is not None


def _check_number(name, value, allow_none=True):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"init({name}=...) must be a number >= 0, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"init({name}=...) must be a finite number >= 0, got {value!r}")


#: The smallest object store init() accepts (Ray's minimum too): below it no worker could even start.
MIN_OBJECT_STORE_BYTES = 75 * 2**20


def _check_object_store_memory(value) -> None:
    if value is None:
        return
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise TypeError(f"init(object_store_memory=...) must be a whole number of bytes, got {value!r}")
    if value < MIN_OBJECT_STORE_BYTES:
        raise ValueError(f"init(object_store_memory={value}) is too small: the object store needs at least "
                         f"{MIN_OBJECT_STORE_BYTES} bytes (75 MiB). Leave it out to use 30% of memory.")
    import psutil
    total = psutil.virtual_memory().total
    if value > total:
        raise ValueError(f"init(object_store_memory={value}) asks for {value / 2**30:.1f} GiB, more than this "
                         f"machine's memory ({total / 2**30:.1f} GiB). Give at most {total} bytes, or leave it "
                         f"out to use 30% of memory.")


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast, before any token lookup, when nothing listens at `address` ("host:port")."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address must be 'host:port' (port 1-65535) or 'auto', got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise exceptions.ClusterConnectionError(
            f"Cannot reach {address}: the host name {host!r} does not resolve ({exc.strerror}). Check the "
            f"address: `strato start --head` prints it, `strato status` shows it.") from None
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise exceptions.ClusterConnectionError(
            f"Cannot reach {address}: {reason}. Check that the head node is running (`strato status` on it) "
            f"and that this machine can reach that host and port.") from None


def _local_ip_for(host: str) -> str:
    if host in ("127.0.0.1", "localhost", "::1"):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def init(address: str | None = None, *, num_cpus=None, num_gpus=None, resources: dict | None = None,
         object_store_memory=None, namespace: str | None = None, ignore_reinit_error: bool = False,
         include_dashboard=None, log_to_driver: bool = True, runtime_env=None, _token: str | None = None,
         _temp_dir: str | None = None, _system_config: dict | None = None, _node_ip_address: str | None = None,
         _gcs_storage: str | None = None, **kwargs) -> ClusterContext:
    """Start an embedded cluster (no address) or connect to one ("host:port" or "auto").

    Connecting takes the cluster token from `_token`, else the STRATO_TOKEN
    environment variable, else the token file of a cluster whose head was
    started on this machine (under `_temp_dir`, default $TMPDIR/strato-<uid>).

    `_gcs_storage` ("memory" by default, "sqlite", or a redis:// URL) is where an embedded cluster's GCS
    keeps its tables; durable storage lets its GCS be restarted (strato.runtime.node.restart_gcs).
    """
    global _embedded
    _ray_only_arguments(kwargs)
    if kwargs:
        raise TypeError(f"init() got unexpected keyword argument(s) {sorted(kwargs)}. Valid ones: address, "
                        f"num_cpus, num_gpus, resources, object_store_memory, namespace, ignore_reinit_error, "
                        f"logging_level, _token, _temp_dir, _system_config, _gcs_storage, and Ray's "
                        f"{', '.join(RAY_INIT_NO_EFFECT)} (accepted, no effect here).")
    with _lock:
        current = _context.worker()
        if current is not None:
            if ignore_reinit_error:
                return ClusterContext(address=current.gcs_address, node_id=current.node_id.hex(),
                                      session_dir=current.session_dir, dashboard_url=_dashboard_url(current))
            raise RuntimeError("strato.init() was already called. Call strato.shutdown() first, or pass "
                               "ignore_reinit_error=True.")
        for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus),
                            ("object_store_memory", object_store_memory)):
            _check_number(name, value)
        _check_object_store_memory(object_store_memory)
        if resources is not None:
            if not isinstance(resources, dict) or not all(
                    isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                    and math.isfinite(v) for k, v in resources.items()):
                raise TypeError(f"init(resources=...) must be a dict of name -> number >= 0, got {resources!r}")
            if "CPU" in resources or "GPU" in resources:
                raise ValueError("Use init(num_cpus=..., num_gpus=...) instead of resources={'CPU': ...}.")
        if runtime_env:
            raise ValueError("runtime_env is not supported yet: install packages in the cluster's environment.")
        if namespace is not None and not isinstance(namespace, str):
            raise TypeError(f"init(namespace=...) must be a string, got {namespace!r}")
        config = SystemConfig.from_dict(_system_config)
        if address is None:
            address = os.environ.get("STRATO_ADDRESS") or None
        if address is None:
            if _token is not None:
                raise ValueError("_token is only for connecting to a running cluster (address=...).")
            _embedded = node_mod.start_head(temp_root=_temp_dir, num_cpus=num_cpus, num_gpus=num_gpus,
                                            resources=resources, config=config, detached=False,
                                            object_store_memory=object_store_memory,
                                            gcs_storage=_gcs_storage or "memory")
            gcs_address, token, token_source = _embedded["address"], _embedded["token"], ""
            raylet_address, node_id = _embedded["raylet_address"], _embedded["node_id"]
            session_dir = _embedded["session_dir"]
            cluster_tls = None
        else:
            if _gcs_storage is not None:
                raise ValueError("_gcs_storage describes a new cluster's GCS; a running one keeps the storage it "
                                 "was started with (strato start --head --gcs-storage).")
            if any(v is not None for v in (num_cpus, num_gpus, resources, object_store_memory)):
                raise ValueError("num_cpus, num_gpus, resources and object_store_memory describe a new cluster; "
                                 "when connecting to "
                                 "a running one (address=...), set them with `strato start` instead.")
            if address == "auto":
                current = temp_root.current_cluster(_temp_dir)
                if current is None:
                    raise exceptions.ClusterConnectionError(
                        "address='auto' found no running cluster started on this machine. Start one with "
                        "`strato start --head`, or pass its address.")
                address = current["address"]
            if not isinstance(address, str) or ":" not in address:
                raise ValueError(f"address must be 'host:port' or 'auto', got {address!r}")
            _check_reachable(address)
            token, token_source = _token or None, "_token"
            if token is None:
                token, token_source = (os.environ.get(tokens.TOKEN_ENV) or "").strip() or None, tokens.TOKEN_ENV
            if token is None:
                token, token_source = temp_root.lookup_token(_temp_dir, address), ""
            if token is None:
                raise exceptions.AuthenticationError(
                    f"No token for the cluster at {address}: set the {tokens.TOKEN_ENV} environment variable "
                    f"or pass _token=... (the contents of the 'token' file in the head node's session folder).")
            gcs_address, raylet_address, node_id, session_dir = address, "", b"", ""
            # certificates: STRATO_TLS_CA/_CERT/_KEY, else those of a cluster started on this machine
            cluster_tls = tls.from_env() or node_mod.lookup_tls(_temp_dir, address)
        node_ip = _node_ip_address or _local_ip_for(gcs_address.rsplit(":", 1)[0])
        if _node_ip_address:
            node_mod.check_bind(node_ip, cluster_tls is not None)
        tls.install(cluster_tls)
        from strato.runtime.core_worker.driver import DriverCoreWorker
        cw = DriverCoreWorker(worker_id=random_id(16), node_id=node_id,
                        node_ip=node_ip, job_id=b"",
                        gcs_address=gcs_address, raylet_address=raylet_address, token=token, config=config,
                        namespace=namespace or uuid.uuid4().hex, session_dir=session_dir)
        try:
            cw.start()
        except BaseException as exc:
            cw._closed = True
            cw.io.stop()
            _stop_embedded()
            tls.install(None)
            if isinstance(exc, exceptions.AuthenticationError) and token_source == tokens.TOKEN_ENV:
                raise exceptions.AuthenticationError(
                    f"{exc} (The token came from the {tokens.TOKEN_ENV} environment variable: check it, or "
                    f"unset it to use the token of a cluster started on this machine.)") from exc
            raise
        _context.set_worker(cw)
        return ClusterContext(address=gcs_address, node_id=cw.node_id.hex(), session_dir=session_dir,
                              job_id=cw.job_id.hex(), dashboard_url=_dashboard_url(cw))


#: init() arguments of Ray's that Strato accepts and ignores (its dashboard is the notebook's; its
#: nodes have no labels or resource isolation; logging is Python's).
RAY_INIT_NO_EFFECT = ("labels", "dashboard_host", "dashboard_port", "job_config", "configure_logging",
                      "logging_format", "logging_config", "enable_resource_isolation", "cgroup_path",
                      "system_reserved_cpu", "system_reserved_memory")


def _ray_only_arguments(kwargs: dict) -> None:
    """Take Ray's init() arguments out of `kwargs`: the ones without effect here, logging_level (Strato's
    own loggers), and local_mode / proxy_server_url, refused when asked for (no equivalent)."""
    for name in RAY_INIT_NO_EFFECT:
        kwargs.pop(name, None)
    level = kwargs.pop("logging_level", None)
    if level is not None:
        import logging
        logging.getLogger("strato").setLevel(level)
    if kwargs.pop("local_mode", False):
        raise ValueError("init(local_mode=True) is not supported (Ray deprecated it too): strato.init(num_cpus=1) "
                         "runs a real one-node cluster in about a second; debug a task by calling its function "
                         "directly (f._function(...)).")
    if kwargs.pop("proxy_server_url", None):
        raise ValueError("init(proxy_server_url=...) is not supported: connect with address='host:port'.")


def _dashboard_url(cw) -> str:
    """The head's state endpoint (strato.util.state, widgets); "" when the head does not serve one."""
    from strato.util import state
    try:
        return state.dashboard_url(cw)
    except Exception:
        return ""


def _stop_embedded() -> None:
    global _embedded
    cluster, _embedded = _embedded, None
    if cluster is not None:
        cluster["raylet"].stop()
        cluster["gcs"].stop()


def shutdown() -> None:
    """Disconnect; an embedded cluster's processes are stopped too."""
    with _lock:
        cw = _context.worker()
        _context.set_worker(None)
        if cw is not None and cw.mode == "driver":
            cw.shutdown()
            tls.install(None)           # a worker keeps its raylet's setting
        _stop_embedded()


atexit.register(shutdown)
_context.set_auto_init_hook(init)


# ------------------------------------------------------------ objects
def _as_ref_list(object_refs, what: str):
    if isinstance(object_refs, ObjectRef):
        return [object_refs], True
    if isinstance(object_refs, (list, tuple)) and all(isinstance(r, ObjectRef) for r in object_refs):
        return list(object_refs), False
    bad = object_refs if not isinstance(object_refs, (list, tuple)) else next(
        r for r in object_refs if not isinstance(r, ObjectRef))
    inside = " a list containing" if bad is not object_refs else ""
    raise ValueError(f"strato.{what}() takes an ObjectRef or a list of ObjectRefs, got{inside} "
                     f"{type(bad).__name__} ({bad!r:.60}). Pass the refs that .remote() or strato.put() returned.")


def _check_timeout(timeout):
    """The timeout to wait with: None (forever) or seconds >= 0; infinity means None."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
    return None if math.isinf(timeout) else timeout


def _unknown_owner(refs, cw):
    stale = next(r for r in refs if r._worker is not cw)
    raise ValueError(
        f"The owner of {stale!r} is unknown: it was made before strato.shutdown() (or by another "
        f"connection), and its objects went with that session. Make the objects again in the current "
        f"session; refs do not survive shutdown() + init().")


def _refuse_self_wait(refs, cw) -> None:
    """An actor that runs one call at a time waiting for a call to itself would wait forever."""
    for r in refs:
        if r._id in SELF_CALL_IDS:
            if cw.store.get(r._id) is not None:      # done already (it ran before this call): no deadlock
                SELF_CALL_IDS.discard(r._id)
                continue
            raise RuntimeError(
                f"This actor is waiting for {r!r}, the result of a call it made to itself; it runs one call "
                f"at a time, so that call can only start after this one returns: strato.get would wait "
                f"forever. Call the method directly (self.method(...)), or make the actor async or threaded "
                f"(max_concurrency > 1) so that calls can overlap.")


def get(object_refs, *, timeout: float | None = None):
    """The value(s) of one ref or a list of refs, waiting for them; raises the task's error.
    An ObjectRefGenerator is returned as it is (as Ray's get does): iterate it for its refs."""
    try:
        refs, single = _as_ref_list(object_refs, "get")
    except ValueError:
        if isinstance(object_refs, ObjectRefGenerator):
            return object_refs
        raise
    if timeout is not None:
        timeout = _check_timeout(timeout)
    cw = _context._worker or _context.require_worker("get")
    if single:
        if refs[0]._worker is not cw:
            _unknown_owner(refs, cw)
    elif any(r._worker is not cw for r in refs):
        _unknown_owner(refs, cw)
    if SELF_CALL_IDS:
        _refuse_self_wait(refs, cw)
    if single:                  # the hot path: one ref, no lists, no progress bar
        return cw.get_one(refs[0], timeout)
    slow_get = _context.slow_get_hook
    if slow_get is not None:
        with slow_get(refs, "get"):
            return cw.get(refs, timeout)
    return cw.get(refs, timeout)


def put(value) -> ObjectRef:
    return (_context._worker or _context.auto_init()).put(value)


def wait(object_refs, *, num_returns: int = 1, timeout: float | None = None, fetch_local: bool = True):
    """Return (ready, not_ready): the first `num_returns` ready refs, in the order given."""
    if isinstance(object_refs, ObjectRef):
        raise TypeError("strato.wait() takes a list of ObjectRefs, not a single ref: wait([ref]).")
    if isinstance(object_refs, ObjectRefGenerator):
        raise TypeError("strato.wait() takes a list, not a single ObjectRefGenerator: wait([gen]).")
    if not isinstance(object_refs, (list, tuple)):
        raise TypeError(f"strato.wait() takes a list of ObjectRefs, got {type(object_refs).__name__} "
                        f"({object_refs!r:.60}). Pass the refs that .remote() or strato.put() returned, in a list.")
    if any(isinstance(r, ObjectRefGenerator) for r in object_refs):
        return _wait_with_generators(list(object_refs), num_returns, _check_timeout(timeout))
    bad = next((r for r in object_refs if not isinstance(r, ObjectRef)), None)
    if bad is not None:
        raise TypeError(f"strato.wait() takes a list of ObjectRefs, got a list containing {type(bad).__name__} "
                        f"({bad!r:.60}). Pass only the refs that .remote() or strato.put() returned.")
    refs = list(object_refs)
    timeout = _check_timeout(timeout)
    if isinstance(num_returns, bool) or not isinstance(num_returns, int) or num_returns < 1:
        raise ValueError(f"num_returns must be an int >= 1, got {num_returns!r}")
    if not refs:
        return [], []
    if num_returns > len(refs):
        raise ValueError(f"num_returns ({num_returns}) cannot exceed the number of refs ({len(refs)}).")
    if len(set(refs)) != len(refs):
        raise ValueError("strato.wait() got the same ObjectRef twice; pass each ref once.")
    cw = _context.require_worker("wait")
    if any(r._worker is not cw for r in refs):
        _unknown_owner(refs, cw)
    found = cw.wait_objects(refs, num_returns, timeout, raise_timeout=False)
    ready = [r for r in refs if r._id in found][:num_returns]
    ready_ids = {r._id for r in ready}
    return ready, [r for r in refs if r._id not in ready_ids]


def _wait_with_generators(items: list, num_returns: int, timeout):
    """wait() over refs and ObjectRefGenerators: a generator is ready when its next ref is (or it ended)."""
    if isinstance(num_returns, bool) or not isinstance(num_returns, int) or not 1 <= num_returns <= len(items):
        raise ValueError(f"num_returns must be an int from 1 to the number of items ({len(items)}), got {num_returns!r}")
    for item in items:
        if not isinstance(item, (ObjectRef, ObjectRefGenerator)):
            raise TypeError(f"strato.wait() takes a list of ObjectRefs or ObjectRefGenerators, got a list containing "
                            f"{type(item).__name__}.")
    cw = _context.require_worker("wait")
    deadline = None if timeout is None else time.monotonic() + timeout

    def is_ready(item):
        return item.next_ready() if isinstance(item, ObjectRefGenerator) else cw.store.get(item._id) is not None
    while True:
        plain = [r for r in items if isinstance(r, ObjectRef)]
        if plain:        # fetches borrowed ones; returns at once
            cw.wait_objects(plain, len(plain), 0, raise_timeout=False)
        ready = [r for r in items if is_ready(r)][:num_returns]
        if len(ready) >= num_returns or (deadline is not None and time.monotonic() >= deadline):
            return ready, [r for r in items if not any(r is x for x in ready)]
        time.sleep(0.005)


def cancel(object_ref, *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes `object_ref` (or an ObjectRefGenerator's task); its `get` then raises
    TaskCancelledError."""
    if isinstance(object_ref, ObjectRefGenerator):
        object_ref = object_ref.completed()
    if not isinstance(object_ref, ObjectRef):
        raise TypeError(f"strato.cancel() takes an ObjectRef returned by .remote(), got {type(object_ref).__name__}")
    _context.require_worker("cancel").cancel(object_ref, force)


# ------------------------------------------------------------ cluster
def _all_nodes():
    cw = _context.require_worker("nodes")
    return cw.run_sync(cw.gcs.call("GetAllNodes", gcs_pb2.Empty())).nodes


def nodes() -> list[dict]:
    out = []
    for n in _all_nodes():
        out.append({"NodeID": n.node_id.hex(), "Alive": n.alive, "NodeManagerAddress": n.address,
                    "NodeManagerPort": n.raylet_port, "NodeName": n.node_name, "IsHead": n.is_head,
                    "Resources": dict(n.resources_total) if n.alive else {},
                    "alive": n.alive, "StartTime": n.start_time, "DeathReason": n.death_reason})
    return out


def cluster_resources() -> dict:
    total: dict = {}
    for n in _all_nodes():
        if n.alive:
            for k, v in n.resources_total.items():
                total[k] = total.get(k, 0.0) + v
    return total


def available_resources() -> dict:
    """Resources free right now, summed over live nodes (asked of each raylet; the GCS's
    heartbeat copy stands in for a raylet that does not answer)."""
    cw = _context.require_worker("available_resources")
    alive = [n for n in _all_nodes() if n.alive]

    async def ask_all():
        from strato.runtime.protocol import raylet_pb2
        from strato.runtime.rpc import RayletClient

        async def ask(n):
            client = RayletClient(f"{n.address}:{n.raylet_port}", cw.token)
            try:
                reply = await client.call("GetNodeStats", raylet_pb2.GetNodeStatsRequest(), timeout=2)
                return dict(reply.resources_available)
            except Exception:
                return dict(n.resources_available)
            finally:
                await client.close()
        return await asyncio.gather(*(ask(n) for n in alive))

    avail: dict = {}
    for node_avail in cw.run_sync(ask_all()):
        for k, v in node_avail.items():
            if v > 0:
                avail[k] = avail.get(k, 0.0) + v
    return avail


def get_runtime_context():
    """Where the calling code runs (job, node, worker, task, actor); connects first if nothing is."""
    from strato.runtime_context import get_runtime_context as current
    return current()


# ------------------------------------------------------------ remote
def remote(*args, **kwargs):
    """@strato.remote or @strato.remote(num_cpus=..., ...) on a function or a class."""
    from strato.remote_function import RemoteFunction

    def make(target, options):
        if isinstance(target, type):
            from strato.actor import ActorClass
            return ActorClass(target, options)
        if not callable(target):
            raise TypeError(f"@strato.remote decorates a function or a class, got {type(target).__name__} "
                            f"({target!r:.60}).")
        return RemoteFunction(target, options)

    if len(args) == 1 and not kwargs and callable(args[0]):
        return make(args[0], {})
    if args:
        what = f"{type(args[0]).__name__} ({args[0]!r:.40})" if len(args) == 1 else f"{len(args)} positional arguments"
        raise TypeError(f"@strato.remote takes a function or a class, or keyword options only, got {what}. "
                        f"Use @strato.remote on a def or class, or @strato.remote(num_cpus=2, ...).")
    return lambda target: make(target, kwargs)


# ------------------------------------------------------------- actors
def get_actor(name: str, namespace: str | None = None):
    """The handle of the live actor called `name` (in this job's namespace unless given)."""
    from strato.actor import ActorHandle
    if not isinstance(name, str) or not name:
        raise ValueError(f"get_actor() needs a non-empty actor name, got {name!r}")
    cw = _context.auto_init()
    ns = cw.job_namespace() if namespace is None else namespace
    info = cw.lookup_actor(name, ns)
    if info is None:
        raise ValueError(f"Failed to look up actor {name!r} in namespace {ns!r}: no live actor has that name "
                         f"there. Check the name, pass namespace=..., or create it with "
                         f".options(name={name!r}).remote().")
    return ActorHandle(info.actor_id, cw.actor_handle_state(info.actor_id))


def kill(actor, *, no_restart: bool = True) -> None:
    """Stop an actor now; with no_restart=False it restarts if max_restarts allows."""
    from strato.actor import ActorHandle
    if not isinstance(actor, ActorHandle):
        raise TypeError(f"strato.kill() takes an actor handle, got {type(actor).__name__}; "
                        f"to stop a task use strato.cancel(ref).")
    _context.require_worker("kill").kill_actor(actor._actor_id, no_restart)
