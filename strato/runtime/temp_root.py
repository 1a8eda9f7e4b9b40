"""The temp root: session folders, the token files and the records that let clients find a cluster.

    <temp root>/                     default $TMPDIR/strato-<uid>: a folder of this user, mode 0700, not a link
      session_<time>_<pid>_<hex>/    one per node started here; it and logs/ sockets/ spill/ are 0700
        token                        the cluster token, mode 0600
      clusters/<host>_<port>.json    one per cluster whose head runs here (embedded or `strato start --head`):
                                     {"address", "session_dir", "pid", "started"} -- pid and start time of its GCS
      current.json                   the last head started by `strato start --head` (address="auto")

Why so careful: /tmp is shared by every user. Another user can create
/tmp/strato-<uid> first, to read the tokens kept in it, or plant a symbolic
link where a record will be written, so that the write goes through the link
into a file of the victim's choosing. Hence:

* `ensure_root` refuses a root that another user owns, that is a symbolic
  link, or whose mode is not 0700 (`UnsafeTempDirError`, naming the fix), and
  creates a missing one with mode 0700 whatever the umask;
* `write_private_file` writes a fresh temp file in the same folder
  (O_CREAT|O_EXCL|O_NOFOLLOW) and renames it over the final name: a link
  planted there is replaced, never followed; `read_private_file` opens with
  O_NOFOLLOW and reads only regular files of this user;
* a record whose GCS is gone (or whose pid now belongs to another process) is
  deleted whenever records are read and when a new cluster registers.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time

from strato.exceptions import UnsafeTempDirError

KEEP_SESSIONS = 20
SESSION_SUBDIRS = ("logs", "sockets", "spill")
MAX_RECORD_BYTES = 64 * 1024
GCS_MODULE = "strato.runtime.gcs"
_FIX_ELSEWHERE = ("or use another folder: `--temp-dir DIR` on strato start/status/stop, "
                  "strato.init(_temp_dir=DIR) in Python")


def default_temp_root() -> str:
    return os.path.join(tempfile.gettempdir(), f"strato-{os.getuid()}")


def resolve_root(temp_root: str | None) -> str:
    """The absolute path of the temp root (absolute, so that `strato stop` can match session paths)."""
    return os.path.abspath(temp_root or default_temp_root())


# ------------------------------------------------------------------ checks
def temp_root_problem(path: str, st: os.stat_result, uid: int, *, link_target: str = "",
                      owner_name: str = "") -> str | None:
    """What makes `path` (lstat result `st`) unfit as this user's (`uid`) temp root; None when it is fit."""
    if stat.S_ISLNK(st.st_mode):
        return (f"The temp folder {path} is a symbolic link (to {link_target or '?'}): a link in a shared temp "
                f"folder can send Strato's files, cluster tokens included, where another user chose. Remove it "
                f"(`rm {path}`) {_FIX_ELSEWHERE}.")
    if not stat.S_ISDIR(st.st_mode):
        return f"The temp folder {path} exists but is not a folder. Remove it (`rm {path}`) {_FIX_ELSEWHERE}."
    if st.st_uid != uid:
        owner = f"user {owner_name} (uid {st.st_uid})" if owner_name else f"uid {st.st_uid}"
        return (f"The temp folder {path} belongs to {owner}, not to you (uid {uid}): whoever made it can read "
                f"the cluster tokens Strato would keep there. Have it removed (`sudo rm -r {path}`) "
                f"{_FIX_ELSEWHERE}.")
    mode = stat.S_IMODE(st.st_mode)
    if mode != 0o700:
        return (f"The temp folder {path} has mode {mode:04o}; Strato keeps cluster tokens there, so it must be "
                f"private to you (mode 0700). Run `chmod 700 {path}` {_FIX_ELSEWHERE}.")
    return None


def _check_dir(path: str) -> None:
    st = os.lstat(path)
    target = owner = ""
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            target = os.readlink(path)
    elif st.st_uid != os.getuid():
        try:
            import pwd
            owner = pwd.getpwuid(st.st_uid).pw_name
        except (ImportError, KeyError):
            pass
    problem = temp_root_problem(path, st, os.getuid(), link_target=target, owner_name=owner)
    if problem:
        raise UnsafeTempDirError(problem)


def ensure_root(temp_root: str | None) -> str:
    """The temp root, created (0700) when missing; raises UnsafeTempDirError when it is not private."""
    root = resolve_root(temp_root)
    parent = os.path.dirname(root)
    if not os.path.isdir(parent):
        os.makedirs(parent, exist_ok=True)
    try:
        os.mkdir(root, 0o700)
        os.chmod(root, 0o700)          # mkdir's mode is masked by the umask
    except FileExistsError:
        pass
    _check_dir(root)
    return root


def existing_root(temp_root: str | None) -> str | None:
    """The temp root if it exists (checked as ensure_root does), else None; never creates it."""
    root = resolve_root(temp_root)
    if not os.path.lexists(root):
        return None
    _check_dir(root)
    return root


def _private_dir(path: str, *, exist_ok: bool) -> str:
    """A folder of this user with mode 0700 inside a checked root (made, or checked and chmod-ed)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not exist_ok:
            raise
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise UnsafeTempDirError(f"{path} is not a folder of yours (a link or another user's file was put "
                                 f"there). Remove it (`rm -r {path}`) {_FIX_ELSEWHERE}.")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


# ------------------------------------------------------------------ files
def write_private_file(path: str, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace `path` with `data`: a new temp file in the same folder, then os.replace.

    The temp file is opened O_CREAT|O_EXCL|O_NOFOLLOW, so nothing planted under
    any name is ever written through; a link at `path` itself is replaced.
    """
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)        # the umask may have taken bits away
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_private_file(path: str, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The bytes of a regular file of this user at `path` (not through a link); OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            raise PermissionError(f"{path} is not a regular file of yours")
        if st.st_size > limit:
            raise OSError(f"{path} is larger than {limit} bytes")
        chunks = []
        while chunk := os.read(fd, limit + 1):
            chunks.append(chunk)
        return b"".join(chunks)[:limit]
    finally:
        os.close(fd)


# ------------------------------------------------------------------ sessions
def new_session(temp_root: str | None) -> str:
    """A new session folder (0700, with its logs/ sockets/ spill/ subfolders 0700) under a checked root."""
    root = ensure_root(temp_root)
    _private_dir(os.path.join(root, "clusters"), exist_ok=True)     # checked before any daemon starts
    name = time.strftime("session_%Y-%m-%d_%H-%M-%S") + f"_{os.getpid()}_{secrets.token_hex(2)}"
    path = _private_dir(os.path.join(root, name), exist_ok=False)
    for sub in SESSION_SUBDIRS:
        _private_dir(os.path.join(path, sub), exist_ok=False)
    _prune_sessions(root)
    return path


def _prune_sessions(root: str) -> None:
    """Keep the newest KEEP_SESSIONS session folders, and every one a live cluster's record names."""
    in_use = {os.path.basename(r["session_dir"]) for r in live_clusters(root)}
    sessions = sorted(d for d in os.listdir(root) if d.startswith("session_"))
    for old in sessions[:-KEEP_SESSIONS]:
        if old not in in_use:
            shutil.rmtree(os.path.join(root, old), ignore_errors=True)


def write_token(session_dir: str, token: str) -> str:
    path = os.path.join(session_dir, "token")
    write_private_file(path, token.encode() + b"\n", 0o600)
    return path


def read_token(session_dir: str) -> str | None:
    try:
        token = read_private_file(os.path.join(session_dir, "token")).decode().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


# ------------------------------------------------------------------ the registry
def record_name(address: str) -> str:
    """The file name of a cluster's record: `host_port.json`, nothing but [A-Za-z0-9._-]."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", address) + ".json"


def gcs_is_running(record: dict) -> bool:
    """Whether the record's GCS still runs: its pid is alive, ours, a GCS, started when the record says."""
    import psutil
    try:
        proc = psutil.Process(int(record["pid"]))
        return (proc.status() != psutil.STATUS_ZOMBIE and proc.uids().real == os.getuid()
                and abs(proc.create_time() - float(record["started"])) < 1.0
                and GCS_MODULE in proc.cmdline())
    except (KeyError, TypeError, ValueError, psutil.Error):
        return False


def _load_live(path: str, root: str) -> dict | None:
    """The record at `path` if its cluster runs; a dead, malformed or foreign record is deleted."""
    try:
        record = json.loads(read_private_file(path))
        ok = (isinstance(record, dict) and isinstance(record.get("session_dir"), str)
              and os.path.dirname(os.path.realpath(record["session_dir"])) == os.path.realpath(root)
              and gcs_is_running(record))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        ok = False
    if not ok:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return record


def register_cluster(temp_root: str | None, address: str, session_dir: str, current: bool,
                     gcs_pid: int) -> None:
    """Record a cluster whose head runs here (and make it current.json's when `current`)."""
    import psutil
    root = ensure_root(temp_root)
    folder = _private_dir(os.path.join(root, "clusters"), exist_ok=True)
    prune_registry(root)
    try:
        started = psutil.Process(gcs_pid).create_time()
    except psutil.Error:               # it died already: the record will read as dead
        started = 0.0
    record = json.dumps({"address": address, "session_dir": session_dir, "pid": gcs_pid,
                         "started": started}).encode()
    write_private_file(os.path.join(folder, record_name(address)), record)
    if current:
        write_private_file(os.path.join(root, "current.json"), record)


def prune_registry(temp_root: str | None) -> None:
    """Delete the records of clusters that no longer run (under a checked, existing root)."""
    current_cluster(temp_root)


def live_clusters(temp_root: str | None) -> list[dict]:
    """The records of the clusters whose heads run here under this root (dead ones are deleted)."""
    root = existing_root(temp_root)
    folder = os.path.join(root, "clusters") if root else ""
    if not root or not os.path.isdir(folder) or os.path.islink(folder):
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json") and not name.startswith("."):
            record = _load_live(os.path.join(folder, name), root)
            if record is not None:
                found.append(record)
    return found


def current_cluster(temp_root: str | None) -> dict | None:
    """The running cluster last started by `strato start --head` under this root, or None.

    Like every lookup, it first deletes the records of clusters that no longer run.
    """
    root = existing_root(temp_root)
    if root is None:
        return None
    live_clusters(root)
    return _load_live(os.path.join(root, "current.json"), root)


def lookup_token(temp_root: str | None, address: str) -> str | None:
    """The token of a running cluster whose head was started here, read from its session folder."""
    if existing_root(temp_root) is None:
        return None
    current_cluster(temp_root)                       # prunes the whole registry
    live = {r.get("address"): r for r in live_clusters(temp_root)}
    host, _, port = address.rpartition(":")
    for addr in [address] + ([f"127.0.0.1:{port}"] if host in ("localhost", "0.0.0.0") else []):
        if addr in live:
            token = read_token(live[addr]["session_dir"])
            if token:
                return token
    return None
