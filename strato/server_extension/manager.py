"""The server extension's logic: which clusters this user has, their state, starting and stopping them.

    ClusterManager (one per Jupyter server; no HTTP here -- handlers.py calls it from a thread)
      clusters()      the registry of this user's temp root (runtime/temp_root.py: one record per head
                      started on this machine, embedded or `strato start --head`; dead ones are
                      deleted as they are read) + clusters added by address and token file
      state(id, ...)  a GET on the cluster's state API (runtime/gcs/http_api.py) with the token in
                      'Authorization: Bearer', over HTTPS with the cluster's certificates when it has TLS
      start()         `strato start --head` (detached daemons), its record then lists it
      stop(id)        SIGTERM to the detached daemons of that cluster (head and nodes joined from
                      this machine) and their workers, as `strato stop` does for a whole temp root

Tokens are read here (the session folder's token file, or the file a user
named) and stay here: nothing this module returns for the browser holds a
token or a token's path. The state endpoint's port is read once per cluster
from the GCS KV (one authenticated gRPC call), as strato.util.state does.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import sys
import threading
import time

import psutil

from strato.exceptions import StratoError
from strato.runtime import node as node_mod
from strato.runtime import temp_root
from strato.runtime import tls as tls_mod
from strato.runtime.gcs.state_rows import DASHBOARD_KV_KEY, DASHBOARD_KV_NAMESPACE

#: The state API paths the browser may read through the proxy (GET only, query passed on).
STATE_PATHS = frozenset({
    "api/strato/cluster", "api/strato/task_graph", "api/strato/task_changes", "api/v0/tasks",
    "api/v0/tasks/summarize", "api/v0/actors", "api/v0/nodes", "api/v0/workers", "api/v0/objects",
    "api/v0/jobs", "api/strato/tune_runs"})
#: Where the tuning runs are listed, if the head serves them (a head without Tune answers 404).
TUNE_RUNS_PATH = "/api/strato/tune_runs"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-_\[\]:]+:\d{1,5}$")
_DAEMON_MODULES = ("strato.runtime.gcs", "strato.runtime.raylet")


class ManagerError(Exception):
    """A request the manager cannot carry out; `status` is the HTTP status the handler answers with."""

    def __init__(self, msg: str, status: int = 400):
        super().__init__(msg)
        self.status = status


def cluster_id(address: str) -> str:
    """The id a cluster has in URLs: its address with nothing but [A-Za-z0-9._-] (e.g. 127.0.0.1_6380)."""
    return temp_root.record_name(address)[:-len(".json")]


def check_address(address) -> str:
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise ManagerError(f"address must be HOST:PORT of the cluster's head (its GCS), e.g. 127.0.0.1:6380; "
                           f"got {address!r}")
    return address.strip()


@dataclasses.dataclass
class Cluster:
    """What the manager knows of one cluster (the token never leaves this object)."""
    address: str
    kind: str                          # "detached" (strato start), "embedded" (a kernel's) or "added"
    token: str = dataclasses.field(repr=False, default="")
    tls: tls_mod.TlsConfig | None = None
    session_dir: str = ""
    pid: int = 0
    started: float = 0.0
    state_url: str = ""                # http(s)://host:port of its state API, once known

    @property
    def id(self) -> str:
        return cluster_id(self.address)

    def public(self) -> dict:
        """The fields the browser sees."""
        return {"id": self.id, "address": self.address, "kind": self.kind, "tls": self.tls is not None,
                "pid": self.pid or None, "started": self.started or None,
                "can_stop": self.kind == "detached", "can_remove": self.kind == "added"}


class ClusterManager:
    """This user's clusters for one Jupyter server. Thread-safe: handlers call it from worker threads."""

    def __init__(self, temp_dir: str | None = None, *, http_timeout: float = 10.0):
        self.temp_dir = temp_dir
        self.http_timeout = http_timeout
        self._added: dict[str, Cluster] = {}
        self._urls: dict[str, str] = {}           # cluster id -> state API URL (read once from the KV)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ discovery
    def _local(self) -> list[Cluster]:
        try:
            records = temp_root.live_clusters(self.temp_dir)
        except (OSError, StratoError) as exc:     # an unsafe temp root: say so rather than list nothing
            raise ManagerError(f"cannot read the cluster registry: {exc}", 500) from None
        out = []
        for r in records:
            token = temp_root.read_token(r["session_dir"]) or ""
            out.append(Cluster(address=r["address"], kind="detached" if _is_detached(r["pid"]) else "embedded",
                               token=token, tls=_session_tls(r["session_dir"]), session_dir=r["session_dir"],
                               pid=int(r["pid"]), started=float(r.get("started") or 0.0)))
        return out

    def clusters(self) -> list[Cluster]:
        """The running clusters whose heads run here (dead ones skipped), then the added ones."""
        local = self._local()
        seen = {c.id for c in local}
        with self._lock:
            added = [c for c in self._added.values() if c.id not in seen]
        return local + added

    def get(self, cid: str) -> Cluster:
        for c in self.clusters():
            if c.id == cid:
                return c
        raise ManagerError(f"no cluster {cid!r}: it is not running on this machine and was not added "
                           f"(the list at /strato/api/clusters has the ids)", 404)

    def add(self, address, token_file: str | None = None, tls_ca: str | None = None,
            tls_cert: str | None = None, tls_key: str | None = None) -> Cluster:
        """Remember a cluster by address; its token from `token_file` (or the local registry)."""
        address = check_address(address)
        if token_file:
            path = os.path.expanduser(str(token_file))
            try:
                with open(path, encoding="utf-8") as f:
                    token = f.read().strip()
            except OSError as exc:
                raise ManagerError(f"cannot read the token file {path}: {exc.strerror or exc}. Give the path of a "
                                   f"copy of the 'token' file in the head node's session folder.") from None
            if not token:
                raise ManagerError(f"the token file {path} is empty: give a copy of the head's 'token' file")
        else:
            token = temp_root.lookup_token(self.temp_dir, address) or ""
            if not token:
                raise ManagerError(f"no token for {address}: it was not started on this machine, so give "
                                   f"token_file (the path of a copy of the 'token' file in its head's session "
                                   f"folder)")
        try:
            config = tls_mod.from_paths(tls_ca, tls_cert, tls_key)
        except tls_mod.TlsError as exc:
            raise ManagerError(str(exc)) from None
        cluster = Cluster(address=address, kind="added", token=token, tls=config)
        self.state_url(cluster)            # proves address, token and certificates before remembering it
        with self._lock:
            self._added[cluster.id] = cluster
        return cluster

    def remove(self, cid: str) -> None:
        with self._lock:
            if self._added.pop(cid, None) is None:
                raise ManagerError(f"{cid!r} is not a cluster added by address (only those can be removed; "
                                   f"a local cluster leaves the list when it stops)", 404)
            self._urls.pop(cid, None)

    # ------------------------------------------------------------------ the state API
    def state_url(self, cluster: Cluster) -> str:
        with self._lock:
            url = self._urls.get(cluster.id)
        if url:
            return url
        port = _kv_dashboard_port(cluster.address, cluster.token, cluster.tls)
        if port is None:
            raise ManagerError(f"the cluster at {cluster.address} does not serve the state API (its head runs an "
                               f"older strato)", 502)
        host = cluster.address.rsplit(":", 1)[0]
        url = f"{'https' if cluster.tls else 'http'}://{host}:{port}"
        with self._lock:
            self._urls[cluster.id] = url
        return url

    def client(self, cid: str):
        """A strato.util.state.StateClient for cluster `cid` (its `get(path, params)` as the widgets' Feed uses)."""
        from strato.util.state import StateClient
        cluster = self.get(cid)
        context = None
        if cluster.tls is not None:
            context = cluster.tls.client_context()
            if cluster.tls.server_name:
                context.check_hostname = False
        return StateClient(self.state_url(cluster), cluster.token, self.http_timeout, ssl_context=context)

    def state(self, cid: str, path: str, params: list | None = None):
        """GET one of STATE_PATHS of cluster `cid`; ManagerError(502) when the head cannot be reached."""
        from strato.util.state import StateApiError
        path = path.strip("/")
        if path not in STATE_PATHS:
            raise ManagerError(f"{path!r} is not a state API path; one of: {', '.join(sorted(STATE_PATHS))}", 404)
        try:
            return self.client(cid).get("/" + path, params)
        except StateApiError as exc:
            with self._lock:
                self._urls.pop(cid, None)          # the head may have moved (restarted): read the KV again
            status = 404 if "HTTP 404" in str(exc) else 502
            raise ManagerError(str(exc), status) from None
        except ValueError as exc:
            raise ManagerError(str(exc)) from None

    def summary(self, cid: str) -> dict:
        """What the sidebar draws for one cluster: nodes and task counts, actors, tuning runs (None: no Tune),
        and the pids of its live drivers (the handler turns those into kernel ids)."""
        jobs = self.state(cid, "api/v0/jobs", [("limit", "1000")])["result"]
        out = {"cluster": self.state(cid, "api/strato/cluster"),
               "actors": self.state(cid, "api/v0/actors", [("limit", "200")])["result"],
               "drivers": sorted({j["driver_pid"] for j in jobs if j["status"] == "RUNNING" and j["driver_pid"]})}
        try:
            runs = self.state(cid, TUNE_RUNS_PATH)
            out["tune_runs"] = runs.get("result", runs) if isinstance(runs, dict) else runs
        except ManagerError as exc:
            if exc.status != 404:
                raise
            out["tune_runs"] = None
        return out

    # ------------------------------------------------------------------ start and stop
    def start(self, num_cpus: float | None = None, num_gpus: float | None = None) -> Cluster:
        """Start a detached local cluster (`strato start --head`); returns it once its record is written."""
        cmd = [sys.executable, "-m", "strato", "start", "--head"]
        for flag, value in (("--num-cpus", num_cpus), ("--num-gpus", num_gpus)):
            if value is not None:
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ManagerError(f"{flag[2:].replace('-', '_')} must be a number >= 0, got {value!r}")
                cmd += [flag, str(value)]
        if self.temp_dir:
            cmd += ["--temp-dir", self.temp_dir]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=START_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ManagerError(f"`strato start --head` did not finish in {START_TIMEOUT_S:.0f} s", 500) from None
        match = re.search(r"cluster started at (\S+) ", proc.stdout)
        if proc.returncode != 0 or not match:
            raise ManagerError(f"`strato start --head` failed: {(proc.stderr or proc.stdout).strip()[-2000:]}", 500)
        return self.get(cluster_id(match.group(1)))

    def stop(self, cid: str) -> int:
        """Stop a detached cluster started on this machine; returns how many processes were ended."""
        cluster = self.get(cid)
        if cluster.kind != "detached":
            owner = f"process {cluster.pid}'s" if cluster.kind == "embedded" else "a remote"
            raise ManagerError(f"{cluster.address} is {owner} cluster, not one started with `strato start`: "
                               + ("stop it where it runs (strato.shutdown() or restart that kernel)"
                                  if cluster.kind == "embedded" else "stop it on its head node (`strato stop`)"),
                               409)
        victims = node_mod.end_process_trees(_daemons_of(cluster.session_dir, cluster.address), STOP_GRACE_S)
        with self._lock:
            self._urls.pop(cid, None)
        with contextlib.suppress(OSError, StratoError):      # the records are pruned at the next read anyway
            temp_root.prune_registry(self.temp_dir)
        return len(victims)


# ---------------------------------------------------------------------- helpers
def _is_detached(pid) -> bool:
    try:
        return "--detached" in psutil.Process(int(pid)).cmdline()
    except (psutil.Error, TypeError, ValueError):
        return False


def _session_tls(session_dir: str):
    from strato.runtime.node import session_tls
    try:
        return session_tls(session_dir)
    except (OSError, ValueError, KeyError):
        return None


def _daemons_of(session_dir: str, address: str) -> list[psutil.Process]:
    """This user's detached daemons of one cluster: those of its head's session, and raylets that joined it."""
    from strato.cli import session_of_daemon
    me, out = os.getuid(), []
    real = os.path.realpath(session_dir)
    for p in psutil.process_iter(["pid", "uids", "cmdline"]):
        try:
            cmd = p.info["cmdline"] or []
            if p.info["uids"] is None or p.info["uids"].real != me:
                continue
            session = session_of_daemon(cmd)
            if session is None:
                continue
            joined = "--gcs" in cmd and cmd.index("--gcs") + 1 < len(cmd) and cmd[cmd.index("--gcs") + 1] == address
            if (session and os.path.realpath(session) == real) or joined:
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def _kv_dashboard_port(address: str, token: str, config) -> int | None:
    """The state endpoint's port from the GCS KV: one synchronous, authenticated gRPC call."""
    import grpc

    from strato.runtime import rpc
    from strato.runtime.protocol import gcs_pb2
    request = gcs_pb2.KVGetRequest(namespace=DASHBOARD_KV_NAMESPACE, key=DASHBOARD_KV_KEY)
    body = request.SerializeToString()
    service = gcs_pb2.DESCRIPTOR.services_by_name["GcsService"].full_name
    if config is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, config.grpc_channel_credentials(),
                                      options=config.grpc_channel_options())
    try:
        call = channel.unary_unary(f"/{service}/KVGet", request_serializer=None,
                                   response_deserializer=gcs_pb2.KVGetReply.FromString)
        md = ((rpc.AUTH_KEY, rpc.call_credential(rpc.call_key(token), "KVGet", body)),)
        try:
            reply = call(body, metadata=md, timeout=5)
        except grpc.RpcError as err:
            code = err.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise ManagerError(f"the cluster at {address} refused the token (is the token file that "
                                   f"cluster's?)", 403) from None
            raise ManagerError(f"cannot reach the cluster at {address} ({code.name}); is it running? "
                               f"(`strato status --address {address}`)"
                               + ("" if config else "; if it uses TLS, give its CA, certificate and key"), 502) from None
        return int(reply.value.decode()) if reply.found else None
    finally:
        channel.close()


def wait_gone(manager: ClusterManager, cid: str, timeout: float = 10.0) -> bool:
    """Whether cluster `cid` left the manager's list within `timeout` s (tests and the stop handler)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cid not in {c.id for c in manager.clusters()}:
            return True
        time.sleep(0.1)
    return False
