"""The `strato` command: start, join, inspect and stop clusters.

    strato start --head [--port P] [--num-cpus N] [--num-gpus N] [--resources JSON]
                 [--node-ip-address IP] [--tls-generate | --tls-ca CA --tls-cert C --tls-key K]
                 [--gcs-storage sqlite | memory | sqlite:///PATH | redis://HOST:PORT]
    strato start --address HOST:PORT [--token-file F] ...   add this machine as a node
    strato status [--address HOST:PORT] [--token-file F]     nodes, resources used / total
    strato restart-gcs [--session-dir DIR]                   start a detached head's GCS again (same address,
                                                             same storage: the cluster carries on)
    strato stop [--temp-dir DIR]                             stop the detached daemons of this temp root
    strato stop --all                                        stop every detached strato daemon of this user

Daemons listen on 127.0.0.1 unless --node-ip-address says otherwise. The head
writes the cluster token (mode 0600) into its session folder under the temp
root (--temp-dir, default $TMPDIR/strato-<uid>, which must be a folder of
this user with mode 0700); `start --address`, `status` and
`strato.init(address=...)` on the same machine read it from there. From
elsewhere, give it with --token-file or the STRATO_TOKEN environment variable
(--token works too, but shows in `ps` and shell history: it warns).
`strato stop` ends only the daemons whose sessions live under the temp root.

Across hosts, use TLS: `--tls-generate` on the head (a self-signed CA in
the session's tls/ folder) or your own --tls-ca/--tls-cert/--tls-key, and
the same three files on every joining node (or STRATO_TLS_CA/_CERT/_KEY);
on the head's machine they are found like the token. Listening beyond
loopback without TLS warns; on 0.0.0.0 it is refused unless
--allow-insecure-network (runtime/tls.py: bind_policy).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import warnings

import psutil

from strato import exceptions
from strato.runtime import node as node_mod
from strato.runtime import temp_root, tls, tokens
from strato.runtime.config import SystemConfig

_COMMAND_LINE = ("on the command line, where every user of this machine can read it (`ps`), and into your "
                 "shell's history")


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
    if args.tls_generate and not args.head:
        raise SystemExit("strato start: only the head generates a cluster CA (--tls-generate); a joining node takes "
                         "the head's files: --tls-ca ca.crt --tls-cert node.crt --tls-key node.key")
    given_tls = _tls_from_flags(args, "strato start")
    if args.gcs_storage and not args.head:
        raise SystemExit("strato start: --gcs-storage is for the head (--head), where the GCS runs.")
    if args.head and (args.token or args.token_file):
        raise SystemExit("strato start: --token and --token-file are for joining a cluster (--address); the head "
                         "makes a new token and writes it to its session folder.")
    if args.head:
        try:
            with _warnings_to_stderr("strato start"):
                info = node_mod.start_head(temp_root=args.temp_dir, host=ip, port=args.port, num_cpus=args.num_cpus,
                                           num_gpus=args.num_gpus, resources=resources, config=config,
                                           detached=True, object_store_memory=args.object_store_memory,
                                           tls=given_tls, tls_generate=args.tls_generate,
                                           allow_insecure_network=args.allow_insecure_network,
                                           gcs_storage=args.gcs_storage or "sqlite")
        except (exceptions.StratoError, ValueError) as exc:
            raise SystemExit(f"strato start: {exc}")
        print(f"Strato cluster started at {info['address']} (session {info['session_dir']}).")
        if info["tls"] is not None:
            t = info["tls"]
            print(f"  TLS (mutual):          CA {t.ca}; certificate {t.cert}, key {t.key}")
            print("    joining from another machine: --tls-ca, --tls-cert and --tls-key with copies of these")
        print(f"  Connect from Python:   strato.init(address='{info['address']}')  or  address='auto'")
        print(f"  GCS storage:           {_storage_line(info)}")
        token_file = os.path.join(info['session_dir'], 'token')
        temp_dir = f" --temp-dir {args.temp_dir}" if args.temp_dir else ""
        print(f"  Add a node:            strato start --address {info['address']}{temp_dir}")
        print("    from another machine, with a copy of the token file: --token-file PATH")
        print(f"  Token file (0600):     {token_file}")
        print(f"  Stop:                  strato stop{temp_dir}")
        return 0
    token = _client_token(args, args.address, "strato start")
    cluster_tls = _client_tls(args, given_tls, args.address, "strato start")
    try:
        with _warnings_to_stderr("strato start"):
            node_mod.check_bind(ip, cluster_tls is not None, args.allow_insecure_network)
        session_dir = temp_root.new_session(args.temp_dir)
    except (exceptions.StratoError, ValueError) as exc:
        raise SystemExit(f"strato start: {exc}")
    temp_root.write_token(session_dir, token)
    daemon = node_mod.start_raylet(session_dir, token, args.address, ip, num_cpus=args.num_cpus,
                                   num_gpus=args.num_gpus, resources=resources, config=config, head=False,
                                   detached=True, port=args.port, object_store_memory=args.object_store_memory,
                                   tls=cluster_tls)
    try:
        node_mod.finish_raylet(daemon)
    except exceptions.StratoError as exc:
        raise SystemExit(f"strato start: {exc}")
    print(f"Node {daemon.node_id.hex()} joined the cluster at {args.address}.")
    return 0


def cmd_restart_gcs(args) -> int:
    try:
        session = args.session_dir or node_mod.newest_detached_head(args.temp_dir)
        head = node_mod.restart_detached_gcs(os.path.abspath(session), args.temp_dir)
    except (exceptions.StratoError, ValueError, OSError) as exc:
        raise SystemExit(f"strato restart-gcs: {exc}")
    print(f"GCS restarted at {head['address']} (pid {head['gcs'].proc.pid}); storage: {_storage_line(head)}.")
    return 0


def _storage_line(info: dict) -> str:
    from strato.runtime.gcs import storage
    url = info["gcs_storage"]
    if url == "sqlite":
        return f"{os.path.join(info['session_dir'], storage.SQLITE_FILE)} (SQLite, 0600)"
    return storage.redact(url) + ("  (lost if the GCS exits)" if url == "memory" else "")


def _tls_from_flags(args, prog: str) -> tls.TlsConfig | None:
    try:
        return tls.from_paths(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    except tls.TlsError as exc:
        raise SystemExit(f"{prog}: {exc}")


def _client_tls(args, given: tls.TlsConfig | None, address: str, prog: str) -> tls.TlsConfig | None:
    """Certificates to reach `address` with: the flags, STRATO_TLS_*, then those of a cluster started here."""
    try:
        return given or tls.from_env() or node_mod.lookup_tls(args.temp_dir, address)
    except (tls.TlsError, exceptions.StratoError) as exc:
        raise SystemExit(f"{prog}: {exc}")


@contextlib.contextmanager
def _warnings_to_stderr(prog: str):
    """Show the network policy's warnings as one plain line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tls.InsecureNetworkWarning)
        try:
            yield
        finally:
            for w in caught:
                print(f"{prog}: WARNING: {w.message}", file=sys.stderr)


def _client_token(args, address: str, prog: str) -> str:
    """The token to join `address` with: --token, --token-file, $STRATO_TOKEN, then the local registry."""
    try:
        choice = tokens.explicit_token(args.token, args.token_file, os.environ, where=_COMMAND_LINE)
        for warning in choice.warnings:
            print(f"{prog}: {warning}", file=sys.stderr)
        token = choice.token or temp_root.lookup_token(args.temp_dir, address)
    except (ValueError, exceptions.StratoError) as exc:
        raise SystemExit(f"{prog}: {exc}")
    if token is None:
        raise SystemExit(f"{prog}: no token for {address}: pass --token-file PATH (a copy of the 'token' file in "
                         f"the head node's session folder) or set {tokens.TOKEN_ENV}.")
    return token


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
        try:
            current = temp_root.current_cluster(args.temp_dir)
        except exceptions.StratoError as exc:
            raise SystemExit(f"strato status: {exc}")
        if current is None:
            print("No running cluster started on this machine (start one with `strato start --head`, or "
                  "give --address HOST:PORT).")
            return 1
        address = current["address"]
    token = _client_token(args, address, "strato status")
    tls.install(_client_tls(args, _tls_from_flags(args, "strato status"), address, "strato status"))
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


DAEMON_MODULES = ("strato.runtime.gcs", "strato.runtime.raylet")


def session_of_daemon(cmdline: list[str]) -> str | None:
    """The --session-dir of a detached strato daemon's command line; None for any other command line."""
    if "--detached" not in cmdline or not any(m in cmdline for m in DAEMON_MODULES):
        return None
    i = cmdline.index("--session-dir") if "--session-dir" in cmdline else -1
    return cmdline[i + 1] if 0 <= i < len(cmdline) - 1 else ""


def is_under(path: str, root: str) -> bool:
    """Whether `path` lies inside the folder `root` (both compared as real absolute paths)."""
    return os.path.realpath(path).startswith(os.path.realpath(root).rstrip(os.sep) + os.sep)


def _our_daemons() -> list[tuple[psutil.Process, str]]:
    """This user's detached strato daemons, each with its session folder."""
    me = os.getuid()
    out = []
    for p in psutil.process_iter(["pid", "uids", "cmdline"]):
        try:
            if p.info["uids"] is None or p.info["uids"].real != me or p.pid == os.getpid():
                continue
            session = session_of_daemon(p.info["cmdline"] or [])
            if session is not None:
                out.append((p, session))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def cmd_stop(args) -> int:
    found = _our_daemons()
    root = None if args.all else temp_root.resolve_root(args.temp_dir)
    daemons = [(p, s) for p, s in found if root is None or (s and is_under(s, root))]
    victims = node_mod.end_process_trees([p for p, _ in daemons])
    roots = {os.path.dirname(s) for _, s in daemons if s} | ({root} if root else set())
    for r in roots:
        try:
            temp_root.prune_registry(r)      # their records now name dead processes
        except (OSError, exceptions.StratoError):
            pass
    where = "of every temp root" if root is None else f"under {root}"
    print(f"Stopped {len(daemons)} strato daemon(s) {where} ({len(victims)} process(es) in all).")
    others = len(found) - len(daemons)
    if others:
        print(f"{others} other strato daemon(s) of yours run under other temp roots; `strato stop --temp-dir DIR` "
              f"stops those of DIR, `strato stop --all` stops every one.")
    return 0


_TEMP_DIR_HELP = "folder for sessions, tokens and cluster records (default: $TMPDIR/strato-<uid>; mode 0700)"


def _token_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token-file", default=None, metavar="PATH",
                   help=f"file holding the cluster token (a copy of the head's 'token' file); or set "
                        f"{tokens.TOKEN_ENV}. Not needed on the head's own machine")
    p.add_argument("--token", default=None,
                   help="the cluster token itself (shows in `ps` and shell history: prefer --token-file)")


def _tls_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-ca", default=None, metavar="PEM", help="the cluster's CA certificate (TLS on every link)")
    p.add_argument("--tls-cert", default=None, metavar="PEM", help="this node's certificate, signed by that CA")
    p.add_argument("--tls-key", default=None, metavar="PEM", help="this node's private key")
    p.add_argument("--tls-server-name", default=None, metavar="NAME",
                   help="the name every node certificate carries (default: 'strato-cluster' if the certificate "
                        "names it, else the address dialled)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="strato", description="Strato clusters: start, join, inspect, stop. `strato COMMAND --help` describes "
        "each command; in Python, strato.init(address=...) connects to a cluster these commands started.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="start a head node (--head) or join a cluster (--address)",
                       description="Start this machine's node daemons, detached: with --head, a new cluster's "
                       "GCS and a raylet (prints the address to join and connect to); with --address, a raylet "
                       "that joins the cluster there. `strato stop` stops them.")
    s.add_argument("--head", action="store_true", help="start a new cluster here (its GCS and a raylet)")
    s.add_argument("--address", default=None, help="HOST:PORT of the head's GCS, to join")
    s.add_argument("--port", type=int, default=0, help="GCS port for --head (default: a free one)")
    s.add_argument("--num-cpus", type=float, default=None, help="CPUs this node offers (default: the machine's)")
    s.add_argument("--num-gpus", type=float, default=None, help="GPUs this node offers (default: 0)")
    s.add_argument("--resources", default="{}", help='custom resources as JSON, e.g. \'{"widget": 2}\'')
    s.add_argument("--object-store-memory", type=int, default=None,
                   help="bytes of shared memory for the node's object store (default: 30%% of RAM)")
    s.add_argument("--node-ip-address", default="127.0.0.1",
                   help="address the daemons listen on; beyond loopback, use TLS (see --tls-generate)")
    _token_arguments(s)
    _tls_arguments(s)
    s.add_argument("--tls-generate", action="store_true",
                   help="head only: make a self-signed cluster CA and node certificate in the session's tls/ "
                        "folder and use TLS on every link (give its ca.crt, node.crt, node.key to joining nodes)")
    s.add_argument("--allow-insecure-network", action="store_true",
                   help="allow --node-ip-address 0.0.0.0 without TLS (only on a network you trust)")
    s.add_argument("--system-config", default="{}", help="JSON of tunables (see strato.runtime.config)")
    s.add_argument("--gcs-storage", default=None, metavar="URL",
                   help="where the GCS keeps its tables, so that a restarted GCS takes the cluster back: 'sqlite' "
                        "(default: gcs_store.sqlite in the session folder), 'sqlite:///PATH', "
                        "'redis://HOST:PORT[/DB][?namespace=NAME]' (password in STRATO_REDIS_PASSWORD), or "
                        "'memory'")
    s.add_argument("--temp-dir", default=None, help=_TEMP_DIR_HELP)
    s.set_defaults(fn=cmd_start)
    st = sub.add_parser("status", help="nodes and resources of a running cluster",
                        description="Print the nodes of a running cluster with their resources in use and in "
                        "total. Exit status 1 when no cluster is found.")
    st.add_argument("--address", default=None, help="HOST:PORT of the GCS (default: the last `start --head` here)")
    _token_arguments(st)
    _tls_arguments(st)
    st.add_argument("--temp-dir", default=None, help=_TEMP_DIR_HELP)
    st.set_defaults(fn=cmd_status)
    rg = sub.add_parser("restart-gcs", help="start the GCS of a detached head again (after it died, or to replace "
                        "it): same address and storage, so the cluster carries on",
                        description="Kill the GCS of a head that `strato start --head` started (if it still runs) "
                        "and start it again on the same address with the same storage, from its session folder's "
                        "gcs.json. Raylets and drivers reconnect; needs durable storage (the default, sqlite).")
    rg.add_argument("--session-dir", default=None, metavar="DIR",
                    help="the head's session folder (default: the last `strato start --head` under the temp root)")
    rg.add_argument("--temp-dir", default=None, help=_TEMP_DIR_HELP)
    rg.set_defaults(fn=cmd_restart_gcs)
    sp = sub.add_parser("stop", help="stop the detached strato daemons (and their workers) of a temp root",
                        description="Stop the daemons `strato start` left running (GCS, raylets and their "
                        "workers) of the clusters under one temp folder, or of this user (--all). Embedded "
                        "clusters (strato.init() with no address) stop with their driver instead.")
    scope = sp.add_mutually_exclusive_group()
    scope.add_argument("--temp-dir", default=None,
                       help="stop the clusters whose sessions live under this folder (default: $TMPDIR/strato-<uid>)")
    scope.add_argument("--all", action="store_true", help="stop every detached strato daemon of this user")
    sp.set_defaults(fn=cmd_stop)
    k = sub.add_parser("kernel", help="Jupyter kernel: `strato kernel install`",
                       description="Manage the Jupyter kernel that loads Strato's magics (%cluster, %%remote).")
    ksub = k.add_subparsers(dest="kernel_command", required=True)
    ki = ksub.add_parser("install", help='install the "Python 3 (strato)" kernelspec (magics preloaded)',
                         description='Install a kernelspec running this Python with `%load_ext strato` done. '
                         'Where: --user, --sys-prefix or --prefix (default: this virtualenv, else --user).')
    ki.add_argument("--user", action="store_true", help="for the current user (~/.local/share/jupyter)")
    ki.add_argument("--sys-prefix", action="store_true", help="into this Python's prefix (default in a venv)")
    ki.add_argument("--prefix", default=None, help="into PREFIX/share/jupyter/kernels")
    ki.add_argument("--name", default="strato", help="kernelspec name (default: strato)")
    ki.add_argument("--display-name", default="Python 3 (strato)",
                    help="the name Jupyter shows (default: 'Python 3 (strato)')")
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
