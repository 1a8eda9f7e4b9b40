"""Starting and supervising a node's processes.

Each node started here gets a session folder under the temp root
(temp_root.py: the folder checks, the token file, the cluster records):

    <temp root>/session_<time>_<pid>_<hex>/
        token                        the cluster token, mode 0600
        gcs.json                     how the head's GCS was started (address, storage, config, pid), 0600
        gcs_store.sqlite             the GCS's tables when its storage is "sqlite" (mode 0600)
        logs/gcs.log raylet-*.log worker-*.log

An embedded cluster (`strato.init()` with no address) is a GCS and a raylet
started as children of the driver with a pipe on their stdin: the token is
its first line, and when the driver goes away the pipe closes and the
daemons exit (watch_parent_pipe), taking their workers with them. Detached
daemons (`strato start`) get the token the same way but ignore the EOF.

The GCS's storage (gcs/storage.py) is given as a URL: "memory" for embedded
clusters unless asked, "sqlite" (a file in the session folder) for `strato
start --head`, or redis://HOST:PORT. It reaches the GCS in its environment
(STRATO_GCS_STORAGE), never on its command line, as a Redis password may be
part of it. With durable storage, restart_gcs starts a new GCS process on
the same address and storage; it takes the cluster back and raylets and
drivers reconnect to it (gcs/recovery.py). A detached head's GCS is
restarted from its session folder's gcs.json (restart_detached_gcs, `strato
restart-gcs`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import secrets
import socket
import subprocess
import sys
import time
import warnings

from strato.exceptions import ClusterConnectionError
from strato.runtime import tls as tls_mod
from strato.runtime.config import SystemConfig
from strato.runtime.temp_root import (live_clusters, new_session, read_private_file, register_cluster, write_private_file,
                                      write_token)

logger = logging.getLogger(__name__)


def new_token() -> str:
    return secrets.token_hex(24)


TLS_RECORD = "tls.json"        # in a session folder: the certificate paths of a cluster started with TLS
GCS_RECORD = "gcs.json"        # in a head's session folder: how its GCS was started (restart_detached_gcs)


def check_bind(host: str, has_tls: bool, allow_insecure_network: bool = False) -> None:
    """Apply tls.bind_policy: raise ValueError when refused, warn when risky."""
    verdict = tls_mod.bind_policy(host, has_tls, allow_insecure_network)
    if not verdict.allowed:
        raise ValueError(verdict.error)
    if verdict.warning:
        warnings.warn(verdict.warning, tls_mod.InsecureNetworkWarning, stacklevel=3)


def session_tls(session_dir: str) -> tls_mod.TlsConfig | None:
    """The TLS settings a cluster's session folder records (None: plain TCP)."""
    try:
        return tls_mod.from_record(json.loads(read_private_file(os.path.join(session_dir, TLS_RECORD))))
    except FileNotFoundError:
        return None


def lookup_tls(temp_root: str | None, address: str) -> tls_mod.TlsConfig | None:
    """The TLS settings of a running cluster whose head was started here under `temp_root`."""
    host, _, port = address.rpartition(":")
    wanted = {address} | ({f"127.0.0.1:{port}"} if host in ("localhost", "0.0.0.0") else set())
    for record in live_clusters(temp_root):
        if record.get("address") in wanted:
            return session_tls(record["session_dir"])
    return None


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ daemons
@dataclasses.dataclass
class Daemon:
    name: str
    proc: subprocess.Popen
    port: int = 0
    node_id: bytes = b""

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # The daemon led its own process group (start_new_session): what is left in it -- processes that
        # tasks started in its workers -- goes with it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _spawn(module: str, args: list[str], token: str, log_path: str, detached: bool,
           tls: tls_mod.TlsConfig | None = None, extra_env: dict | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATO_TLS_")}
    if tls is not None:
        env.update(tls.env())           # certificate paths; the daemon installs them (tls.from_env)
    env.update(extra_env or {})
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args, *(["--detached"] if detached else [])],
            # Own session even when embedded: a Ctrl-C (or Jupyter's interrupt, sent to the kernel's whole
            # process group) must not reach the daemons; they still exit when the starter's pipe closes.
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            close_fds=True, env=env)
    finally:
        log.close()
    proc.stdin.write(token.encode() + b"\n")
    proc.stdin.flush()
    if detached:
        proc.stdin.close()
    return proc


def _await_ready(proc: subprocess.Popen, name: str, log_path: str, timeout: float = 30.0) -> list[str]:
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            break
    sel.close()
    text = line.decode().strip()
    if not text.startswith("READY"):
        tail = ""
        try:
            with open(log_path, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
        except OSError:
            pass
        if proc.poll() is None:
            proc.kill()
        raise ClusterConnectionError(f"The {name} did not start ({text or 'no answer'}). Its log {log_path} "
                                     f"ends with:\n{tail}")
    proc.stdout.close()
    return text.split()[1:]


def start_gcs(session_dir: str, token: str, host: str, port: int, config: SystemConfig,
              detached: bool, tls: tls_mod.TlsConfig | None = None, storage: str = "memory") -> Daemon:
    from strato.runtime.gcs.storage import STORAGE_ENV
    log = os.path.join(session_dir, "logs", "gcs.log")
    proc = _spawn("strato.runtime.gcs", ["--host", host, "--port", str(port), "--session-dir", session_dir,
                                         "--config", config.to_json()], token, log, detached, tls,
                  {STORAGE_ENV: storage})
    return Daemon("GCS", proc)


def finish_gcs(daemon: Daemon, session_dir: str) -> Daemon:
    daemon.port = int(_await_ready(daemon.proc, "GCS", os.path.join(session_dir, "logs", "gcs.log"))[0])
    return daemon


def start_raylet(session_dir: str, token: str, gcs_address: str, node_ip: str, *, num_cpus=None, num_gpus=None,
                 resources: dict | None = None, config: SystemConfig, head: bool, detached: bool,
                 port: int = 0, object_store_memory: int | None = None,
                 tls: tls_mod.TlsConfig | None = None) -> Daemon:
    log = os.path.join(session_dir, "logs", f"raylet-{secrets.token_hex(3)}.log")
    args = ["--gcs", gcs_address, "--node-ip", node_ip, "--port", str(port), "--session-dir", session_dir,
            "--config", config.to_json(), "--resources", json.dumps(resources or {})]
    if num_cpus is not None:
        args += ["--num-cpus", str(num_cpus)]
    if num_gpus is not None:
        args += ["--num-gpus", str(num_gpus)]
    if object_store_memory:
        args += ["--object-store-memory", str(int(object_store_memory))]
    if head:
        args.append("--head")
    proc = _spawn("strato.runtime.raylet", args, token, log, detached, tls)
    daemon = Daemon("raylet", proc)
    daemon.log = log
    return daemon


def finish_raylet(daemon: Daemon) -> Daemon:
    port, node_hex = _await_ready(daemon.proc, "raylet", daemon.log)
    daemon.port, daemon.node_id = int(port), bytes.fromhex(node_hex)
    return daemon


def start_head(*, temp_root: str | None, host: str = "127.0.0.1", port: int = 0, num_cpus=None, num_gpus=None,
               resources: dict | None = None, config: SystemConfig, detached: bool,
               token: str | None = None, object_store_memory: int | None = None,
               tls: tls_mod.TlsConfig | None = None, tls_generate: bool = False,
               allow_insecure_network: bool = False, gcs_storage: str = "memory") -> dict:
    """Start a GCS and a raylet side by side; returns what a driver needs to connect.

    `tls` (certificates given) or `tls_generate` (a self-signed CA in the session's tls/ folder) encrypts
    every TCP link; listening beyond loopback without either warns, and on every interface it is refused
    unless `allow_insecure_network` (tls.bind_policy). `gcs_storage`: where the GCS keeps its tables
    (gcs/storage.py: memory, sqlite, sqlite:///PATH, redis://HOST:PORT)."""
    from strato.runtime.gcs.storage import check_url
    gcs_storage = check_url(gcs_storage)
    check_bind(host, tls is not None or tls_generate, allow_insecure_network)
    session_dir = new_session(temp_root)
    token = token or new_token()
    write_token(session_dir, token)
    if tls_generate and tls is None:
        tls = tls_mod.generate(os.path.join(session_dir, "tls"), [host])
    if tls is not None:
        write_private_file(os.path.join(session_dir, TLS_RECORD), json.dumps(tls.as_record()).encode())
    for attempt in range(3):
        gcs_port = port or free_port(host)
        gcs = start_gcs(session_dir, token, host, gcs_port, config, detached, tls, gcs_storage)
        raylet = start_raylet(session_dir, token, f"{host}:{gcs_port}", host, num_cpus=num_cpus,
                              num_gpus=num_gpus, resources=resources, config=config, head=True, detached=detached,
                              object_store_memory=object_store_memory, tls=tls)
        try:
            finish_gcs(gcs, session_dir)
        except ClusterConnectionError:
            raylet.stop()
            if port or attempt == 2:
                raise
            continue
        try:
            finish_raylet(raylet)
        except ClusterConnectionError:
            gcs.stop()
            raise
        address = f"{host}:{gcs.port}"
        try:
            register_cluster(temp_root, address, session_dir, current=detached, gcs_pid=gcs.proc.pid)
            _write_gcs_record(session_dir, host, gcs.port, gcs_storage, config, gcs.proc.pid, detached)
        except BaseException:
            raylet.stop()
            gcs.stop()
            raise
        return {"gcs": gcs, "raylet": raylet, "address": address, "token": token, "session_dir": session_dir,
                "raylet_address": f"{host}:{raylet.port}", "node_id": raylet.node_id, "tls": tls,
                "gcs_storage": gcs_storage, "config": config, "detached": detached, "temp_root": temp_root}
    raise ClusterConnectionError("could not start the GCS")  # pragma: no cover


def _write_gcs_record(session_dir: str, host: str, port: int, storage: str, config: SystemConfig, pid: int,
                      detached: bool) -> None:
    write_private_file(os.path.join(session_dir, GCS_RECORD), json.dumps({
        "host": host, "port": port, "storage": storage, "config": json.loads(config.to_json()), "pid": pid,
        "detached": detached}).encode())


def kill_gcs(head: dict) -> None:
    """Kill the GCS of a head that start_head started, abruptly (SIGKILL), as a crash would. A detached head's
    GCS (no process handle: restart_detached_gcs) is killed by its recorded pid if that is still this session's
    GCS."""
    daemon = head.get("gcs")
    if daemon is None:
        _kill_recorded_gcs(head["session_dir"], head.get("gcs_pid") or 0)
        return
    proc = daemon.proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdin:
        proc.stdin.close()


def _kill_recorded_gcs(session_dir: str, pid: int) -> None:
    import psutil
    try:
        proc = psutil.Process(pid)
        cmd = proc.cmdline()
    except (psutil.Error, ValueError):
        return                                     # gone already
    if "strato.runtime.gcs" in cmd and session_dir in cmd:    # not a pid reused by something else
        proc.kill()
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            pass


def restart_gcs(head: dict, timeout: float = 30.0) -> Daemon:
    """Start the GCS of a head that start_head started again, on the same address, session and storage
    (killing the running one first, if any). With durable storage the new GCS takes the cluster back, and
    raylets and drivers reconnect to it; with "memory" it starts empty, which a running cluster does not
    survive (ValueError)."""
    if head["gcs_storage"] == "memory":
        raise ValueError("this cluster's GCS keeps its tables in memory: a new GCS would start empty. Start "
                         "the cluster with gcs_storage='sqlite' (or a redis:// URL) to be able to restart it.")
    kill_gcs(head)
    host, port = head["address"].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        gcs = start_gcs(head["session_dir"], head["token"], host, int(port), head["config"], head["detached"],
                        head["tls"], head["gcs_storage"])
        try:
            finish_gcs(gcs, head["session_dir"])
            break
        except ClusterConnectionError as exc:     # the old port not free yet: try again shortly
            if "could not listen" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    head["gcs"] = gcs
    register_cluster(head["temp_root"], head["address"], head["session_dir"], current=head["detached"],
                     gcs_pid=gcs.proc.pid)
    _write_gcs_record(head["session_dir"], host, int(port), head["gcs_storage"], head["config"], gcs.proc.pid,
                      head["detached"])
    return gcs


def restart_detached_gcs(session_dir: str, temp_root: str | None) -> dict:
    """Start the GCS of a head that `strato start --head` started in `session_dir` again, detached, on the
    same address and storage, from the folder's gcs.json (killing the recorded GCS first if it still runs).
    Returns the head's description (address, storage, ...). ValueError when the folder is not such a head's
    or its GCS keeps its tables in memory."""
    from strato.runtime.temp_root import read_token
    try:
        record = json.loads(read_private_file(os.path.join(session_dir, GCS_RECORD)))
    except FileNotFoundError:
        raise ValueError(f"{session_dir} has no {GCS_RECORD}: it is not the session folder of a head started "
                         f"by `strato start --head`") from None
    token = read_token(session_dir)
    if token is None:
        raise ValueError(f"{session_dir} has no readable token file")
    head = {"gcs": None, "gcs_pid": record.get("pid", 0), "address": f"{record['host']}:{record['port']}",
            "token": token, "session_dir": session_dir, "tls": session_tls(session_dir),
            "gcs_storage": record["storage"], "config": SystemConfig.from_dict(record.get("config")),
            "detached": True, "temp_root": temp_root}
    restart_gcs(head)
    return head


def newest_detached_head(temp_root: str | None) -> str:
    """The session folder of the head that `strato start --head` started last under the temp root."""
    from strato.runtime.temp_root import existing_root
    root = existing_root(temp_root)
    heads = []
    for name in sorted(os.listdir(root)) if root else ():
        path = os.path.join(root, name, GCS_RECORD)
        if name.startswith("session_") and os.path.isfile(path):
            try:
                if json.loads(read_private_file(path)).get("detached"):
                    heads.append((os.path.getmtime(path), os.path.join(root, name)))
            except (OSError, ValueError):
                continue
    if not heads:
        raise ValueError(f"no head started by `strato start --head` under {root or temp_root}: give its session "
                         f"folder (--session-dir)")
    return max(heads)[1]


# ----------------------------------------------------- helpers for daemons
def watch_parent_pipe(loop: asyncio.AbstractEventLoop, on_eof) -> None:
    """Call on_eof when stdin (a pipe from the starting process) reaches EOF."""
    def readable():
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            on_eof()
    loop.add_reader(0, readable)


def configure_daemon_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def end_process_trees(procs, grace_s: float = 5.0) -> list:
    """SIGTERM each process and its descendants, SIGKILL what is left after `grace_s`; returns them all.
    (`strato stop` and the server extension's stop end a detached cluster's daemons this way.)"""
    import psutil
    victims = []
    for p in procs:
        try:
            victims += [p] + p.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    for p in victims:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(victims, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_s)
    return victims
