"""The `strato` command: start, join, inspect and stop clusters.

    strato start --head [--port P] [--num-cpus N] [--num-gpus N] [--resources JSON]
    strato start --address HOST:PORT [--num-cpus N] ...     add this machine as a node
    strato status [--address HOST:PORT]                      nodes, resources used / total
    strato stop                                              stop this user's detached strato daemons

Daemons listen on 127.0.0.1 unless --node-ip-address says otherwise. The head
writes the cluster token (mode 0600) into its session folder under the temp
root (--temp-dir, default $TMPDIR/strato-<uid>); `start --address`, `status`
and `strato.init(address=...)` on the same machine read it from there, or
take it with --token.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

import psutil

from strato import exceptions
from strato.runtime import node as node_mod
from strato.runtime.config import SystemConfig


def _json_arg(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"strato: {what} must be JSON, e.g. '{{\"widget\": 2}}' ({exc})")
    if not isinstance(value, dict):
        raise SystemExit(f"strato: {what} must be a JSON object, got {text}")
    return value


def cmd_start(args) -> int:
    config = SystemConfig.from_dict(_json_arg(args.system_config, "--system-config"))
    resources = _json_arg(args.resources, "--resources")
    if args.head == bool(args.address):
        raise SystemExit("strato start: give either --head (start a new cluster) or --address HOST:PORT "
                         "(join one).")
    ip = args.node_ip_address
    if args.head:
        info = node_mod.start_head(temp_root=args.temp_dir, host=ip, port=args.port, num_cpus=args.num_cpus,
                                   num_gpus=args.num_gpus, resources=resources, config=config, detached=True,
                                   object_store_memory=args.object_store_memory)
        print(f"Strato cluster started at {info['address']} (session {info['session_dir']}).")
        print(f"  Connect from Python:   strato.init(address='{info['address']}')  or  address='auto'")
        print(f"  Add a node:            strato start --address {info['address']}")
        print(f"  Token file (0600):     {os.path.join(info['session_dir'], 'token')}")
        print("  Stop:                  strato stop")
        return 0
    token = args.token or node_mod.lookup_token(args.temp_dir, args.address)
    if token is None:
        raise SystemExit(f"strato start: no token for {args.address}; pass --token (the contents of the head's "
                         f"'token' file).")
    session_dir = node_mod.new_session(args.temp_dir)
    node_mod.write_token(session_dir, token)
    daemon = node_mod.start_raylet(session_dir, token, args.address, ip, num_cpus=args.num_cpus,
                                   num_gpus=args.num_gpus, resources=resources, config=config, head=False,
                                   detached=True, port=args.port, object_store_memory=args.object_store_memory)
    try:
        node_mod.finish_raylet(daemon)
    except exceptions.StratoError as exc:
        raise SystemExit(f"strato start: {exc}")
    print(f"Node {daemon.node_id.hex()} joined the cluster at {args.address}.")
    return 0


async def _status(address: str, token: str) -> list:
    from strato.runtime.protocol import gcs_pb2
    from strato.runtime.rpc import GcsClient
    client = GcsClient(address, token)
    try:
        return list((await client.call("GetAllNodes", gcs_pb2.Empty(), timeout=5)).nodes)
    finally:
        await client.close()


def _fmt(v: float, key: str) -> str:
    if key in ("memory", "object_store_memory"):
        return f"{v / 2**30:.1f}GiB"
    return f"{v:g}"


def cmd_status(args) -> int:
    address = args.address
    if not address:
        current = node_mod.current_cluster(args.temp_dir)
        if current is None:
            print("No running cluster started on this machine (start one with `strato start --head`).")
            return 1
        address = current["address"]
    token = args.token or node_mod.lookup_token(args.temp_dir, address)
    if token is None:
        raise SystemExit(f"strato status: no token for {address}; pass --token.")
    try:
        nodes = asyncio.run(_status(address, token))
    except exceptions.StratoError as exc:
        print(f"strato status: {exc}")
        return 1
    alive = [n for n in nodes if n.alive]
    print(f"Cluster {address}: {len(alive)} node(s) alive, {len(nodes) - len(alive)} dead")
    totals: dict = {}
    avail: dict = {}
    for n in nodes:
        state = "ALIVE" if n.alive else f"DEAD ({n.death_reason})"
        print(f"  node {n.node_id.hex()[:12]}  {n.address}:{n.raylet_port}  {'head ' if n.is_head else ''}{state}")
        if n.alive:
            for k, v in n.resources_total.items():
                totals[k] = totals.get(k, 0.0) + v
                avail[k] = avail.get(k, 0.0) + n.resources_available.get(k, 0.0)
    print("Resources (used / total):")
    for k in sorted(totals):
        if k.startswith("node:"):
            continue
        print(f"  {k}: {_fmt(totals[k] - avail[k], k)} / {_fmt(totals[k], k)}")
    return 0


def _our_daemons(temp_dir: str | None = None) -> list[psutil.Process]:
    """This user's detached daemons; with temp_dir, only those whose session lives under it."""
    me = os.getuid()
    root = os.path.realpath(temp_dir) + os.sep if temp_dir else None
    out = []
    for p in psutil.process_iter(["pid", "uids", "cmdline"]):
        try:
            cmd = p.info["cmdline"] or []
            if p.info["uids"] is None or p.info["uids"].real != me or p.pid == os.getpid():
                continue
            if "--detached" in cmd and any(m in cmd for m in ("strato.runtime.gcs", "strato.runtime.raylet")):
                if root is not None:
                    session = cmd[cmd.index("--session-dir") + 1] if "--session-dir" in cmd else ""
                    if not os.path.realpath(session).startswith(root):
                        continue
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def cmd_stop(args) -> int:
    daemons = _our_daemons(args.temp_dir)
    victims = []
    for p in daemons:
        try:
            victims += [p] + p.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    for p in victims:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    gone, alive = psutil.wait_procs(victims, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    node_mod.forget_current(args.temp_dir)
    print(f"Stopped {len(daemons)} strato daemon(s) ({len(victims)} process(es) in all).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="strato", description="Strato clusters: start, join, inspect, stop.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="start a head node (--head) or join a cluster (--address)")
    s.add_argument("--head", action="store_true")
    s.add_argument("--address", default=None, help="HOST:PORT of the head's GCS, to join")
    s.add_argument("--port", type=int, default=0, help="GCS port for --head (default: a free one)")
    s.add_argument("--num-cpus", type=float, default=None)
    s.add_argument("--num-gpus", type=float, default=None)
    s.add_argument("--resources", default="{}", help='custom resources as JSON, e.g. \'{"widget": 2}\'')
    s.add_argument("--object-store-memory", type=int, default=None,
                   help="bytes of shared memory for the node's object store (default: 30%% of RAM)")
    s.add_argument("--node-ip-address", default="127.0.0.1", help="address the daemons listen on")
    s.add_argument("--token", default=None, help="cluster token (joining from another machine)")
    s.add_argument("--system-config", default="{}", help="JSON of tunables (see strato.runtime.config)")
    s.add_argument("--temp-dir", default=None)
    s.set_defaults(fn=cmd_start)
    st = sub.add_parser("status", help="nodes and resources of a running cluster")
    st.add_argument("--address", default=None)
    st.add_argument("--token", default=None)
    st.add_argument("--temp-dir", default=None)
    st.set_defaults(fn=cmd_status)
    sp = sub.add_parser("stop", help="stop this user's detached strato daemons and their workers")
    sp.add_argument("--temp-dir", default=None, help="only the clusters whose sessions live under this folder")
    sp.set_defaults(fn=cmd_stop)
    k = sub.add_parser("kernel", help="Jupyter kernel: `strato kernel install`")
    ksub = k.add_subparsers(dest="kernel_command", required=True)
    ki = ksub.add_parser("install", help='install the "Python 3 (strato)" kernelspec (magics preloaded)')
    ki.add_argument("--user", action="store_true", help="for the current user (~/.local/share/jupyter)")
    ki.add_argument("--sys-prefix", action="store_true", help="into this Python's prefix (default in a venv)")
    ki.add_argument("--prefix", default=None, help="into PREFIX/share/jupyter/kernels")
    ki.add_argument("--name", default="strato", help="kernelspec name (default: strato)")
    ki.add_argument("--display-name", default="Python 3 (strato)")
    ki.set_defaults(fn=cmd_kernel_install)
    return p


def cmd_kernel_install(args) -> int:
    from strato.kernel.kernelspec import main as install_main
    return install_main(args)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
