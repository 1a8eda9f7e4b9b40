"""Shared fixtures for Strato's test suite.

What lives here:

* a default per-test timeout, so that a hang fails the test instead of
  blocking CI forever;
* the ``cluster`` fixture: one embedded cluster (``strato.init(num_cpus=2)``)
  per test module, torn down with ``strato.shutdown()`` when the module ends.
  A module can ask for other ``init`` arguments by defining a module-level
  ``CLUSTER_KWARGS`` dict;
* leak checks: after every module and after the whole session, no process
  started by this test session may still be running and no new entry whose
  name contains "strato" may be left in /dev/shm;
* helpers to drive the ``strato`` command line against a private temp dir.

How leaks are detected: this file puts a unique marker into the environment
of the pytest process at import time. Every process the tests start -- the
driver's own children, detached daemons started by ``strato start``, workers
-- inherits it, so a scan of all processes for the marker finds exactly the
processes this session started (and nothing of another engineer's cluster
running on the same machine). Leftovers are reported as a failure and then
killed by pid so that one leak does not cascade into every later module.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

from strato._testing import free_port, live_children, wait_for

# ---------------------------------------------------------------------------
# Timeouts
# ---------------------------------------------------------------------------

#: Seconds a test may run before pytest-timeout fails it (unless the test
#: carries its own ``@pytest.mark.timeout``).
DEFAULT_TEST_TIMEOUT_S = 120

#: How long processes and /dev/shm entries get to disappear after a shutdown.
LEAK_GRACE_S = 15.0


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT_S))


# ---------------------------------------------------------------------------
# Process / shared-memory bookkeeping
# ---------------------------------------------------------------------------

SESSION_MARKER_VAR = "STRATO_TEST_SESSION_MARKER"
SESSION_MARKER = uuid.uuid4().hex
os.environ[SESSION_MARKER_VAR] = SESSION_MARKER

DEV_SHM = Path("/dev/shm")


def strato_shm_entries() -> set[str]:
    """Names of entries in /dev/shm whose name contains "strato"."""
    try:
        return {p.name for p in DEV_SHM.iterdir() if "strato" in p.name.lower()}
    except FileNotFoundError:
        return set()


#: Pids of every process this session is known to have started (clusters,
#: workers, daemons). Used to tell our /dev/shm entries from those of other
#: strato clusters running on the same machine at the same time.
OUR_PIDS: set[int] = {os.getpid()}


def remember(procs) -> None:
    OUR_PIDS.update(p.pid for p in procs)


PID_MAX = 1 << 22   # Linux's upper bound for pid_max


def shm_entry_is_ours(name: str) -> bool:
    """Whether a /dev/shm entry may belong to this session.

    Entries normally carry the pid of the process that made them. An entry is
    ours if it names one of our pids; it is someone else's if it names a live
    process that is not ours; an entry naming no live process is counted as
    ours (we cannot tell, and a leak must not go unnoticed).
    """
    # Only numbers that can be pids: a node id in hex may happen to be all digits.
    numbers = {n for n in map(int, re.findall(r"\d+", name)) if n < PID_MAX}
    if numbers & OUR_PIDS:
        return True
    return not any(n > 1 and n not in OUR_PIDS and psutil.pid_exists(n) for n in numbers)


def processes_with_env(var: str, value: str) -> list[psutil.Process]:
    """Live processes (other than this one) whose environment has var=value."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(var) == value and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def session_processes() -> list[psutil.Process]:
    """Processes started (directly or not) by this test session."""
    return processes_with_env(SESSION_MARKER_VAR, SESSION_MARKER)


def describe(procs) -> str:
    lines = []
    for p in procs:
        try:
            lines.append(f"  pid={p.pid} cmd={' '.join(p.cmdline())[:200]!r}")
        except psutil.Error:
            lines.append(f"  pid={p.pid} (gone)")
    return "\n".join(lines)


def kill_by_pid(procs) -> None:
    """SIGKILL the given processes (only ever called on processes we started)."""
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs([p for p in procs], timeout=5)


def terminate_gracefully(procs, timeout: float = 10) -> None:
    """SIGTERM the given processes (ours), then SIGKILL whatever is left."""
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    kill_by_pid(alive)


class LeakChecker:
    """Remembers the /dev/shm baseline and reports what a phase left behind."""

    def __init__(self):
        self.shm_baseline = strato_shm_entries()

    def check(self, what: str, grace: float = LEAK_GRACE_S) -> list[str]:
        """Return a list of problems (empty when clean); cleans up after itself."""
        problems = []
        remember(live_children())
        remember(session_processes())

        def new_shm():
            return {n for n in strato_shm_entries() - self.shm_baseline if shm_entry_is_ours(n)}

        def clean():
            return not live_children() and not session_processes() and not new_shm()

        wait_for(clean, grace, interval=0.25)

        children = live_children()
        if children:
            problems.append(f"{what}: child processes of the test process are still running:\n"
                            + describe(children))
        others = [p for p in session_processes() if p.pid not in {c.pid for c in children}]
        if others:
            problems.append(f"{what}: processes started by the tests are still running:\n"
                            + describe(others))
        kill_by_pid(children + others)

        left = new_shm()
        if left:
            problems.append(f"{what}: /dev/shm entries left behind: {sorted(left)}")
        # Do not report the same entries (or other clusters' entries) again later.
        self.shm_baseline |= strato_shm_entries()
        return problems


_LEAKS = LeakChecker()


def _shutdown_if_initialized() -> bool:
    """Shut strato down if a test left it running. Returns True if it had to."""
    strato = sys.modules.get("strato")
    if strato is None:
        return False
    try:
        if strato.is_initialized():
            strato.shutdown()
            return True
    except Exception:  # a broken runtime must not hide the leak report
        pass
    return False


@pytest.fixture(scope="session", autouse=True)
def _session_leak_check():
    yield
    problems = []
    if _shutdown_if_initialized():
        problems.append("the session ended with strato still initialized")
    problems += _LEAKS.check("end of session")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _remember_our_processes():
    """Note the pids of the processes each test runs with (see OUR_PIDS)."""
    remember(live_children())
    yield
    remember(live_children())
    remember(session_processes())


@pytest.fixture(scope="module", autouse=True)
def _module_leak_check(request):
    yield
    problems = []
    if _shutdown_if_initialized():
        problems.append(f"{request.module.__name__} ended with strato still initialized "
                        "(a test did not shut its cluster down)")
    problems += _LEAKS.check(f"after module {request.module.__name__}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------
# Clusters
# ---------------------------------------------------------------------------

DEFAULT_CLUSTER_KWARGS = {"num_cpus": 2}


@pytest.fixture(scope="module")
def cluster(request):
    """An embedded cluster shared by the tests of one module.

    ``strato.init(**CLUSTER_KWARGS)`` where CLUSTER_KWARGS is taken from the
    test module when it defines one, else ``{"num_cpus": 2}``.
    """
    import strato

    kwargs = getattr(request.module, "CLUSTER_KWARGS", DEFAULT_CLUSTER_KWARGS)
    strato.init(**kwargs)
    try:
        yield strato
    finally:
        strato.shutdown()


@pytest.fixture
def fresh_strato():
    """For tests that call ``strato.init`` themselves: guarantees a shutdown."""
    import strato

    assert not strato.is_initialized(), "a previous test left strato initialized"
    try:
        yield strato
    finally:
        strato.shutdown()


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def repo_root() -> str:
    """The directory that contains the ``strato`` package under test."""
    import strato

    return str(Path(strato.__file__).resolve().parent.parent)


def subprocess_env(**extra) -> dict:
    """Environment for subprocesses: can import the strato under test."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root(), env.get("PYTHONPATH")) if p)
    return env


def strato_console_script() -> str:
    """Path of the ``strato`` console script installed next to this Python."""
    return str(Path(sys.executable).parent / "strato")


class CliCluster:
    """Drives ``python -m strato`` against a private temp dir.

    Every process started through this helper carries its own environment
    marker, so ``leftover_processes()`` finds exactly the daemons that
    ``strato start`` left running, wherever they were reparented.
    """

    MARKER_VAR = "STRATO_TEST_CLI_MARKER"

    def __init__(self, temp_dir: str):
        self.temp_dir = temp_dir
        self.marker = uuid.uuid4().hex
        self.env = subprocess_env(**{self.MARKER_VAR: self.marker})
        self.address: str | None = None
        self.port: int | None = None

    def run(self, *args, check: bool = True, timeout: float = 90, use_console_script: bool = False):
        cmd = [strato_console_script()] if use_console_script else [sys.executable, "-m", "strato"]
        cmd += [*args, "--temp-dir", self.temp_dir]
        proc = subprocess.run(cmd, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{cmd} exited with {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def start_head(self, num_cpus: int = 2, resources: dict | None = None, extra_args=(), **run_kwargs) -> str:
        self.port = free_port()
        args = ["start", "--head", "--port", str(self.port), "--num-cpus", str(num_cpus), *extra_args]
        if resources:
            args += ["--resources", json.dumps(resources)]
        proc = self.run(*args, **run_kwargs)
        out = proc.stdout + proc.stderr
        match = re.search(r"([\w.\-]+):%d\b" % self.port, out)
        assert match, f"`strato start --head` did not print an address with port {self.port}:\n{out}"
        self.address = match.group(0)
        return self.address

    def add_node(self, num_cpus: int = 1, resources: dict | None = None):
        assert self.address, "start the head first"
        args = ["start", "--address", self.address, "--num-cpus", str(num_cpus)]
        if resources:
            args += ["--resources", json.dumps(resources)]
        return self.run(*args)

    def stop(self):
        return self.run("stop", check=False)

    def leftover_processes(self) -> list[psutil.Process]:
        procs = processes_with_env(self.MARKER_VAR, self.marker)
        remember(procs)
        return procs


@pytest.fixture
def cli_cluster():
    """A CliCluster with a short private temp dir; everything it started is stopped afterwards.

    The temp dir is short (``/tmp/st-XXXX``) because Unix socket paths are
    limited to ~107 characters and the runtime may put sockets there.
    """
    temp_dir = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    cli = CliCluster(temp_dir)
    try:
        yield cli
    finally:
        # Not `strato stop`: a test may have left the temp dir unusable for
        # it, or started daemons under other temp dirs. Terminate exactly the
        # processes this test started (found by their marker), by pid.
        terminate_gracefully(cli.leftover_processes())
        leftovers = cli.leftover_processes()
        kill_by_pid(leftovers)
        shutil.rmtree(temp_dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Small helpers for tests
# ---------------------------------------------------------------------------

def max_overlap(intervals) -> int:
    """Largest number of (start, end) intervals that are open at one instant."""
    events = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    # Ends sort before starts at the same instant: touching is not overlapping.
    events.sort(key=lambda e: (e[0], e[1]))
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


@pytest.fixture
def overlap():
    return max_overlap


@pytest.fixture
def poll():
    """`strato._testing.wait_for`: poll(predicate, timeout) returns the predicate's last value."""
    return wait_for


@pytest.fixture
def child_env():
    """Environment for driver scripts run as subprocesses."""
    return subprocess_env()
