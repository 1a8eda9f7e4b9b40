"""The state API's client: a cluster's tasks, actors, objects, nodes and workers, in Ray's shapes.

    drivers: list_tasks() ... summarize_tasks()          widgets (strato.widgets), the JupyterLab extension
        |  StateClient: HTTP GET, token in 'Authorization: Bearer', JSON back
        v
    GCS process: runtime/gcs/http_api.py  GET /api/v0/{tasks,actors,nodes,workers,objects,jobs},
                 /api/v0/tasks/summarize, /api/strato/{task_changes,task_graph,cluster}
                   ^ task records folded from task events: runtime/gcs/task_table.py
                   ^ rows in Ray's shapes, filters: runtime/gcs/state_rows.py

This module runs in the driver (or any process that asks). The endpoint's
address is read once from the GCS KV; filters are checked here with the
endpoint's own rules (state_rows.check_filters) before anything is sent, and
`list_objects` adds the objects this process holds in its own memory store.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import weakref

from strato import _context
from strato.runtime import tls
from strato.runtime.gcs.state_rows import (  # noqa: F401  (PREDICATES: still importable from here)
    DASHBOARD_KV_KEY, DASHBOARD_KV_NAMESPACE, DEFAULT_LIMIT, PREDICATES, check_filters, select)

DEFAULT_TIMEOUT = 30


class StateApiError(Exception):
    """The state API could not reach the cluster's head or was refused."""


class StateClient:
    """GETs JSON from the head's HTTP endpoint with the cluster token."""

    def __init__(self, base_url: str, token: str, timeout: float = DEFAULT_TIMEOUT, ssl_context=None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.ssl_context = ssl_context      # None: this process's TLS (tls.current()), if any

    def get(self, path: str, params: dict | list | None = None, timeout: float | None = None):
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            context = self.ssl_context if self.ssl_context is not None else _https_context()
            with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=context) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            try:
                msg = json.loads(err.read()).get("msg", "")
            except Exception:
                msg = ""
            if err.code == 401:
                raise StateApiError(f"The cluster's state endpoint {self.base_url} refused the token: "
                                    f"connect with the cluster's token (strato.init(address=..., _token=...)).")
            if err.code == 400:
                raise ValueError(msg or f"bad state API request {path}") from None
            raise StateApiError(f"State API request {path} failed: HTTP {err.code} {msg}") from None
        except (urllib.error.URLError, OSError) as err:
            raise StateApiError(f"Cannot reach the cluster's state endpoint at {self.base_url} ({err}); "
                                f"is the cluster still running? `strato status` checks.") from None
        if not body.get("result", False):
            raise StateApiError(body.get("msg") or f"State API request {path} failed")
        return body["data"]["result"]


# The state endpoint's URL per connection (CoreWorker): a later cluster at the same GCS address (a
# restarted `strato start --head`, a test's next cluster) has its own state port and scheme.
_urls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _https_context():
    """The cluster's client certificate and CA for an https state endpoint (None: plain http)."""
    config = tls.current()
    if config is None:
        return None
    ctx = config.client_context()
    if config.server_name:      # one name for every node (a generated CA): the CA check is what counts
        ctx.check_hostname = False
    return ctx


def dashboard_url(cw) -> str:
    """http(s)://host:port of the head's state endpoint, read once per connection from the GCS KV
    (`cw`: the CoreWorker of this connection)."""
    cached = _urls.get(cw)
    if cached:
        return cached
    from strato.runtime.protocol import gcs_pb2
    reply = cw.run_sync(cw.gcs.call("KVGet", gcs_pb2.KVGetRequest(
        namespace=DASHBOARD_KV_NAMESPACE, key=DASHBOARD_KV_KEY)), timeout=10)
    if not reply.found:
        return ""
    host = cw.gcs_address.rsplit(":", 1)[0]
    scheme = "https" if tls.current() is not None else "http"
    url = f"{scheme}://{host}:{int(reply.value.decode())}"
    _urls[cw] = url
    return url


def client(address: str | None = None, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT):
    """A StateClient for the connected cluster (address None) or a dashboard URL ("http://host:port")."""
    if address is not None:
        if not str(address).startswith("http"):
            raise ValueError(f"address must be the dashboard URL (init()['dashboard_url'], e.g. "
                             f"'http://127.0.0.1:8265') or None for the connected cluster; got {address!r}")
        if token is None:
            raise ValueError("Pass token=... (the cluster's token) with an explicit address.")
        return StateClient(address, token, timeout)
    cw = _context.require_worker("util.state functions")
    url = dashboard_url(cw)
    if not url:
        raise StateApiError(f"The cluster at {cw.gcs_address} does not serve the state API (its head runs "
                            f"an older strato); upgrade the head node.")
    return StateClient(url, cw.token, timeout)


def _params(filters, limit, detail) -> list:
    params = [("limit", str(limit if limit is not None else 0)), ("detail", "1" if detail else "0")]
    for key, pred, value in check_filters(filters):
        params += [("filter_keys", key), ("filter_predicates", pred), ("filter_values", value)]
    return params


def _list(kind: str, address, filters, limit, timeout, detail, token=None) -> list[dict]:
    c = client(address, token=token, timeout=timeout)
    result = c.get(f"/api/v0/{kind}", _params(filters, limit, detail))
    items = result["result"]
    if kind == "objects":
        items = _merge_local_objects(items, filters, limit)
    return items


def list_tasks(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
               timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False, *, token: str | None = None) -> list[dict]:
    """Tasks of the cluster (the last 100,000), oldest first, e.g. filters=[("state", "=", "RUNNING")]."""
    return _list("tasks", address, filters, limit, timeout, detail, token)


def list_actors(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
                timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
                _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("actors", address, filters, limit, timeout, detail, token)


def list_nodes(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
               timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("nodes", address, filters, limit, timeout, detail, token)


def list_workers(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
                 timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("workers", address, filters, limit, timeout, detail, token)


def list_jobs(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
              timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
              _explain: bool = False, *, token: str | None = None) -> list[dict]:
    return _list("jobs", address, filters, limit, timeout, detail, token)


def list_objects(address: str | None = None, filters=None, limit: int = DEFAULT_LIMIT,
                 timeout: int = DEFAULT_TIMEOUT, detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False, *, token: str | None = None) -> list[dict]:
    """Objects: the largest in each node's shared-memory store (with call sites), and the
    objects this process holds in its own memory (owned results and puts)."""
    return _list("objects", address, filters, limit, timeout, detail, token)


def summarize_tasks(address: str | None = None, timeout: int = DEFAULT_TIMEOUT,
                    raise_on_missing_output: bool = True, _explain: bool = False, *,
                    token: str | None = None) -> dict:
    return client(address, token=token, timeout=timeout).get("/api/v0/tasks/summarize")


def list_tune_runs(address: str | None = None, timeout: int = DEFAULT_TIMEOUT, *,
                   token: str | None = None) -> list[dict]:
    """Tune runs of the cluster (strato.tune drivers publish them): name, status, trials by state, best
    metric, path, and a row per trial (trial_id, status, best, last, iter, stop_reason)."""
    return client(address, token=token, timeout=timeout).get("/api/strato/tune_runs")


# ---------------------------------------------------------------------------- this process's objects
def local_objects() -> list[dict]:
    """Objects held in this process's in-process memory store, as ObjectState dicts."""
    import os
    cw = _context.worker()
    if cw is None or cw.refs is None:
        return []
    out = []
    with cw._lock:
        items = list(cw.store._objects.items())
        entries = dict(cw.refs.entries)
    for oid, obj in items:
        entry = entries.get(oid)
        if entry is None:
            ref_type = "CAPTURED_IN_OBJECT"
        elif entry.submitted:
            ref_type = "USED_BY_PENDING_TASK"
        elif entry.local:
            ref_type = "LOCAL_REFERENCE"
        else:
            ref_type = "CAPTURED_IN_OBJECT"
        out.append({"object_id": oid.hex(), "object_size": len(obj.data), "reference_type": ref_type,
                    "call_site": "disabled", "task_status": "FINISHED",
                    "type": "DRIVER" if cw.mode == "driver" else "WORKER", "pid": os.getpid(),
                    "ip": cw.node_ip, "node_id": cw.node_id.hex(), "owner": cw.address,
                    "store_state": "IN_PROCESS"})
    return out


def _merge_local_objects(items: list[dict], filters, limit) -> list[dict]:
    seen = {i["object_id"] for i in items}
    extra = [o for o in local_objects() if o["object_id"] not in seen]
    merged = sorted(items + extra, key=lambda o: -o["object_size"])
    return select(merged, filters, limit)["result"]
