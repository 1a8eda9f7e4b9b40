"""`%cluster` and `%%remote`: the magics `%load_ext strato` registers.

    %cluster connect [ADDRESS]   strato.init() (embedded cluster) or join a running one
    %%remote [--num-cpus N ...]  the cell --capture.py--> names to ship, names to bring back
                                 --cell_runner.run_cell as a task (or SessionNamespace.run
                                   on a named actor, or N tasks with rank/world_size;
                                   cell_runner.py runs in workers: runtime/worker/)
                                 --strato.get--> assign names, show the last value
                                 (remote_job.RemoteCellJob holds one run's refs and state)

Everything here goes through the public API (`strato.*`, `strato.util.output`).
A cell's submissions are tagged with the cell (routing.py) so their output
lands under it; remote errors are shown by `show_task_error`, pointing at
the cell's own lines.
"""
from __future__ import annotations

import builtins
import importlib.util
import inspect
import io
import os
import sys
import uuid

import cloudpickle
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

import strato
from strato import exceptions
from strato.kernel import args as margs
from strato.kernel import capture, routing, tracebacks
from strato.kernel.remote_job import RemoteCellJob
from strato.runtime import tokens
from strato.runtime.worker import cell_runner
from strato.util import output

#: Values at least this big (numpy arrays, pandas frames, Arrow tables) go through the object store.
LARGE_VALUE_BYTES = 1 << 20
_IN_THE_NOTEBOOK = "in the notebook and in the kernel's input history"
#: What the live dashboard draws with (the "notebook" extra), imported only when it is shown.
_DASHBOARD_PACKAGES = ("ipywidgets", "bokeh", "jupyter_bokeh")


def _same_endpoint(a: str, b: str) -> bool:
    """Whether two "host:port" name the same listening socket (localhost:6380 and 127.0.0.1:6380)."""
    import socket
    try:
        (host_a, port_a), (host_b, port_b) = a.rsplit(":", 1), b.rsplit(":", 1)
        if port_a != port_b:
            return False
        ips = [{info[4][0] for info in socket.getaddrinfo(h.strip("[]"), int(p), type=socket.SOCK_STREAM)}
               for h, p in ((host_a, port_a), (host_b, port_b))]
    except (OSError, ValueError):
        return False
    return bool(ips[0] & ips[1])


def _wants_help(line: str) -> bool:
    return any(tok in ("-h", "--help") for tok in line.split())


def _usage(message: str) -> UsageError:
    return UsageError(message.splitlines()[0])


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n} B"


def _nbytes(value) -> int:
    module = type(value).__module__ or ""
    if not module.startswith(("numpy", "pandas", "pyarrow")):
        return 0
    size = getattr(value, "nbytes", None)
    if isinstance(size, int):
        return size
    usage = getattr(value, "memory_usage", None)
    try:
        total = usage(deep=False)
        return int(total.sum()) if hasattr(total, "sum") else int(total)
    except Exception:
        return 0


@magics_class
class StratoMagics(Magics):
    def __init__(self, shell):
        super().__init__(shell)
        self.router = routing.OutputRouter(shell)
        self.embedded = False          # did %cluster start the cluster (it stops with the kernel)
        self.address: str | None = None
        self.sessions: dict[str, dict] = {}
        self._remote_fn = None
        self._session_cls = None
        self.cell_number = 0             # In[n] of the cell running now (set by pre_run_cell)

    # ================================================================ hooks
    def pre_run_cell(self, info=None) -> None:
        """Tag what this cell submits with the cell, and remember where its output goes."""
        parent = self.shell.get_parent() if hasattr(self.shell, "get_parent") else None
        msg_id = ((parent or {}).get("header") or {}).get("msg_id") or uuid.uuid4().hex
        # IPython counts the cell before pre_run_cell: this cell is In[count - 1].
        stored = getattr(info, "store_history", True)
        self.cell_number = self.shell.execution_count - (1 if stored else 0)
        tag = routing.cell_tag(self.cell_number, msg_id)
        if parent:
            self.router.remember(tag, parent)
        output.set_submission_tag(tag)

    def post_run_cell(self, result=None) -> None:
        output.set_submission_tag(None)

    def current_tag(self):
        return output.current_tag()

    # ================================================================ %cluster
    @line_magic
    def cluster(self, line: str):
        """Connect this kernel to a Strato cluster, and look at it.

        %cluster connect [--num-cpus N] [--num-gpus N] [--object-store-memory SIZE]
            Start an embedded cluster in this kernel (as strato.init()); it stops with the kernel.
            --num-cpus N              CPUs it offers (default: this machine's)
            --num-gpus N              GPUs it offers (default: none)
            --object-store-memory S   bytes of shared memory for objects, e.g. 2GB, 512MiB
                                      (default: 30% of RAM; at least 75 MiB)
        %cluster connect HOST:PORT | auto [--token-file PATH | --token TOKEN]
            Join a running cluster (`strato start --head` prints its address; 'auto': the one
            started on this machine). The token comes from --token-file, else the STRATO_TOKEN
            environment variable, else the head's token file when the head runs on this machine;
            --token works too but leaves the token in the notebook (it warns). When already
            connected elsewhere, the new cluster is checked first (reachable, token at hand): if
            it is not, nothing changes.
        %cluster start           the same as `%cluster connect` with no address
        %cluster stop            disconnect; an embedded cluster stops
        %cluster status          nodes, resources used / total, tasks by state (the default)
        %cluster nodes           one line per node
        %cluster dashboard       live views: cluster, tasks, object store, progress
        %cluster logs [--task ID|NAME | --actor NAME] [--tail N]
            output of remote code run from this kernel (last N lines, default 50)
        %cluster --help          this text

        Running `%cluster connect` again is harmless.
        """
        if _wants_help(line):
            print(inspect.cleandoc(type(self).cluster.__doc__))
            return None
        try:
            a = margs.parse_cluster(line)
        except margs.MagicArgumentError as exc:
            raise _usage(str(exc)) from None
        handler = getattr(self, f"_cluster_{a.command}")
        return handler(a)

    def _cluster_start(self, a):
        return self._cluster_connect(a)

    def _cluster_connect(self, a) -> None:
        switching_from = None
        if strato.is_initialized():
            current = strato.get_runtime_context().gcs_address
            wanted = a.address
            if wanted in (None, current) or (wanted == "auto" and not self.embedded) or _same_endpoint(wanted, current):
                print(f"Already connected to the Strato cluster at {current}.")
                self._print_summary()
                return
            switching_from = current
        kwargs = {}
        if a.address is None:
            for key in ("num_cpus", "num_gpus", "object_store_memory"):
                if getattr(a, key) is not None:
                    kwargs[key] = getattr(a, key)
        else:
            kwargs["address"] = a.address
            try:
                choice = tokens.explicit_token(a.token, a.token_file, {}, where=_IN_THE_NOTEBOOK)
            except ValueError as exc:
                raise _usage(f"%cluster connect: {exc}") from None
            for warning in choice.warnings:
                print(f"%cluster connect: {warning}", file=sys.stderr)
            if choice.token:
                kwargs["_token"] = choice.token     # else strato.init reads STRATO_TOKEN, then this machine's
        if switching_from is not None:
            # Check the new cluster first: the current one (an embedded cluster's objects) is only let
            # go once the new one is known to be there and to have a token.
            self._check_target(a.address, kwargs.get("_token"), switching_from)
            print(f"Disconnecting from {switching_from} to connect to {a.address}.")
            self._disconnect()
        try:
            info = strato.init(**kwargs)   # its daemons run in their own session: interrupts don't reach them
        except (exceptions.StratoError, ValueError, TypeError, OSError) as exc:
            raise _usage(f"%cluster connect: {exc}") from None
        self.embedded = a.address is None
        self.address = info.address if hasattr(info, "address") else info["address"]
        host = self.address.rsplit(":", 1)[0]
        self.router.local_ip = "127.0.0.1" if host in ("127.0.0.1", "localhost") else None
        output.set_output_handler(self.router.handle)
        self._print_summary()

    def _check_target(self, address: str, token: str | None, current: str) -> None:
        """Refuse (UsageError, still connected to `current`) unless a cluster answers at `address` and
        a token for it is at hand."""
        from strato import api
        from strato.runtime import temp_root
        kept = f" Still connected to {current}."
        try:
            if address == "auto":
                found = temp_root.current_cluster(None)
                if found is None:
                    raise _usage(f"%cluster connect auto: no running cluster was started on this machine.{kept}")
                address = found["address"]
            api._check_reachable(address)
        except (exceptions.StratoError, ValueError, OSError) as exc:
            raise _usage(f"%cluster connect: {exc}{kept}") from None
        token = token or (os.environ.get(tokens.TOKEN_ENV) or "").strip() or temp_root.lookup_token(None, address)
        if not token:
            raise _usage(f"%cluster connect: no token for the cluster at {address}: pass --token-file PATH or set "
                         f"{tokens.TOKEN_ENV}.{kept}")

    def ensure_connected(self) -> None:
        if not strato.is_initialized():
            self._cluster_connect(margs.ClusterArgs("connect"))
        else:
            output.set_output_handler(self.router.handle)

    def _print_summary(self) -> None:
        address = strato.get_runtime_context().gcs_address
        alive = [n for n in strato.nodes() if n.get("Alive")]
        res = strato.cluster_resources()
        kind = "embedded: stops with this kernel" if self.embedded else "joined"
        parts = [f"nodes: {len(alive)}", f"CPUs: {res.get('CPU', 0):g}"]
        if res.get("GPU"):
            parts.append(f"GPUs: {res['GPU']:g}")
        if res.get("object_store_memory"):
            parts.append(f"object store: {_fmt_bytes(res['object_store_memory'])}")
        print(f"Strato cluster at {address} ({kind})")
        print("  " + "   ".join(parts))
        print("  %cluster status: resources and tasks   %cluster dashboard: live view   %cluster stop")

    def _disconnect(self) -> None:
        self.sessions.clear()
        strato.shutdown()
        self.embedded = False
        self.address = None

    def _cluster_stop(self, a) -> None:
        if not strato.is_initialized():
            print("Not connected to a Strato cluster.")
            return
        address, embedded = strato.get_runtime_context().gcs_address, self.embedded
        self._disconnect()
        print(f"Stopped the embedded cluster at {address}." if embedded else f"Disconnected from {address}.")

    def _require(self, what: str) -> None:
        if not strato.is_initialized():
            raise _usage(f"%cluster {what}: not connected; run %cluster connect first")

    def _cluster_status(self, a) -> None:
        self._require("status")
        nodes = strato.nodes()
        alive = [n for n in nodes if n.get("Alive")]
        print(f"Strato cluster at {strato.get_runtime_context().gcs_address}: {len(alive)} node(s) alive, "
              f"{len(nodes) - len(alive)} dead")
        total, avail = strato.cluster_resources(), strato.available_resources()
        print("Resources (used / total):")
        for key in sorted(total):
            if key.startswith("node:"):
                continue
            used = total[key] - avail.get(key, 0.0)
            if key in ("memory", "object_store_memory"):
                print(f"  {key}: {_fmt_bytes(used)} / {_fmt_bytes(total[key])}")
            else:
                print(f"  {key}: {used:g} / {total[key]:g}")
        counts = self._tasks_by_state()
        if counts is None:
            print("Tasks by state: not available from this cluster yet.")
        else:
            print("Tasks by state: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
        if self.sessions:
            print("Sessions (%%remote --session): " + ", ".join(sorted(self.sessions)))

    @staticmethod
    def _tasks_by_state():
        try:
            from strato.util import state
        except ImportError:
            return None
        try:   # every task the head knows of (list_tasks would stop at its default limit)
            counts: dict = {}
            for entry in state.summarize_tasks()["cluster"]["summary"].values():
                for key, n in entry["state_counts"].items():
                    counts[key] = counts.get(key, 0) + n
            return counts
        except Exception:
            return None

    def _cluster_nodes(self, a) -> None:
        self._require("nodes")
        print(f"{'node id':14} {'address':22} {'state':6} resources")
        for n in strato.nodes():
            res = ", ".join(f"{k} {v:g}" for k, v in sorted(n.get("Resources", {}).items())
                            if not k.startswith("node:") and k not in ("memory", "object_store_memory"))
            state = "ALIVE" if n.get("Alive") else "DEAD"
            head = " (head)" if n.get("IsHead") else ""
            print(f"{n['NodeID'][:12]:14} {n['NodeManagerAddress'] + ':' + str(n['NodeManagerPort']):22} "
                  f"{state:6} {res}{head}")

    def _cluster_dashboard(self, a):
        self._require("dashboard")
        # strato.widgets imports only the standard library; ipywidgets and Bokeh (the "notebook"
        # extra) are imported when the dashboard is shown, so check for them here.
        from strato import widgets
        missing = [m for m in _DASHBOARD_PACKAGES if importlib.util.find_spec(m) is None]
        if missing and widgets.in_notebook():
            print(f"%cluster dashboard needs {', '.join(missing)}: pip install 'strato[notebook]'. "
                  f"Meanwhile %cluster status shows nodes, resources and tasks.", file=sys.stderr)
            return None
        return widgets.dashboard()

    def _cluster_logs(self, a) -> None:
        records = self.router.logs(task=a.task, actor=a.actor, tail=a.tail)
        if not records:
            what = f"task {a.task}" if a.task else f"actor {a.actor}" if a.actor else "remote code"
            print(f"No output from {what} in this kernel yet.")
            return
        for r in records:
            label = routing.label_for(r, None) or f"({r.get('task_name')} pid={r.get('pid')}, ip={r.get('node_ip')}) "
            stream = sys.stderr if r.get("stream") == "stderr" else sys.stdout
            for line in r["text"].splitlines():
                stream.write(f"{label}{line}\n")

    # ================================================================ %%remote
    @cell_magic
    def remote(self, line: str, cell: str):
        """Run this cell on the cluster, as a task.

        %%remote [--num-cpus N] [--num-gpus N] [--resources JSON] [--node ID] [--session NAME]
                 [--parallel N] [--no-block -o NAME]

        Names the cell reads are sent along (cloudpickle; numpy/pandas/Arrow values of 1 MiB or
        more through the object store); names it assigns come back; its last expression is
        shown; its prints appear under the cell. Interrupting the kernel cancels it.
            --num-cpus N       CPUs the task holds (default 1)
            --num-gpus N       GPUs the task holds (default 0)
            --resources JSON   custom resources, e.g. '{"widget": 1}'
            --node ID          run on this node (a node id prefix or its IP)
            --session NAME     keep the cell's namespace in a named actor across cells (values
                               that cannot be pickled stay there)
            --parallel N       run it on N workers with `rank` and `world_size` set; assigned
                               names come back as lists by rank
            --no-block         return at once with a live status line ...
            -o/--output NAME   ... and bind a handle to NAME: NAME.get() brings the names back
            --help             this text
        """
        if _wants_help(line):
            print(inspect.cleandoc(type(self).remote.__doc__))
            return None
        try:
            a = margs.parse_remote(line)
        except margs.MagicArgumentError as exc:
            raise _usage(str(exc)) from None
        try:
            names = capture.analyze(cell)
        except SyntaxError as exc:
            raise _usage(f"%%remote: syntax error in the cell, line {(exc.lineno or 0) + 1}: {exc.msg}") from None
        self.ensure_connected()
        n = self.cell_number
        session = self._session(a) if a.session else None
        extra = {"rank", "world_size"} if a.parallel else set()
        inputs, big_names, big_refs = self._pack_inputs(names, session, extra)
        options = a.task_options()
        if a.node:
            options["scheduling_strategy"] = self._node_strategy(a.node)
        payload = {"source": cell, "filename": tracebacks.CELL_FILENAME.format(n), "line_offset": 1,
                   "inputs": inputs, "big_names": big_names, "assigns": names.assigns, "deletes": names.deletes,
                   "last_expr": names.last_expr and not cell.rstrip().endswith(";")}
        job = RemoteCellJob(self, n, payload, a, session)
        job.submit(options, big_refs)
        if a.output:
            self.shell.user_ns[a.output] = job
        if a.no_block:
            job.show_status()
            return None
        return job.finish()

    # ---------------------------------------------------------------- inputs
    def _pack_inputs(self, names: capture.CellNames, session: dict | None, extra: set):
        user_ns = self.shell.user_ns
        hidden = getattr(self.shell, "user_ns_hidden", {})
        known_remote = set(session["names"]) if session else set()
        for name in names.required:
            if name in user_ns or name in extra or name in known_remote or hasattr(builtins, name):
                continue
            raise _usage(f"%%remote: name {name!r} is not defined: the cell reads it, and neither the notebook "
                         f"nor the cell defines it")
        inputs, big_names, big_refs = {}, [], []
        for name in names.reads:
            if name not in user_ns or name in extra:
                continue
            value = user_ns[name]
            if name in hidden and hidden[name] is value:
                continue                        # In, Out, get_ipython ...: the kernel's own
            if session and name in session["synced"] and session["synced"][name] is value:
                continue                        # the session holds this very value already
            if _nbytes(value) >= LARGE_VALUE_BYTES:
                try:
                    big_refs.append(strato.put(value))
                except Exception as exc:
                    raise _usage(f"%%remote: cannot send {name!r} ({type(value).__name__}) to the cluster: "
                                 f"{exc}") from None
                big_names.append(name)
                continue
            if isinstance(value, io.IOBase):
                raise _usage(f"%%remote: cannot send {name!r} (an open {type(value).__name__}) to the cluster: "
                             f"open files stay in the notebook. Open it inside the cell instead")
            try:
                inputs[name] = cloudpickle.dumps(value, protocol=5)
            except Exception as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise _usage(f"%%remote: cannot send {name!r} ({type(value).__name__}) to the cluster: {reason}. "
                             f"Create it inside the cell instead"
                             + ("" if session else ", or keep it on the cluster with --session NAME")) from None
        return inputs, big_names, big_refs

    def _node_strategy(self, node: str):
        from strato.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        alive = [n for n in strato.nodes() if n.get("Alive")]
        matches = [n for n in alive if n["NodeID"].startswith(node.lower())] or [
            n for n in alive if n.get("NodeManagerAddress") == node]
        if len(matches) != 1:
            known = ", ".join(f"{n['NodeID'][:12]} ({n['NodeManagerAddress']})" for n in alive)
            what = "matches no live node" if not matches else "matches several nodes"
            raise _usage(f"%%remote --node {node}: {what}; nodes: {known}")
        return NodeAffinitySchedulingStrategy(matches[0]["NodeID"], soft=False)

    # ---------------------------------------------------------------- sessions
    def _session(self, a) -> dict:
        state = self.sessions.get(a.session)
        if state is not None:
            return state
        if self._session_cls is None:
            try:
                self._session_cls = strato.remote(cell_runner.SessionNamespace)
            except NotImplementedError as exc:
                raise _usage(f"%%remote --session: {exc}") from None
        opts = {"name": f"strato-session-{a.session}", "get_if_exists": True, "max_concurrency": 1}
        opts.update(a.task_options())
        if a.node:
            opts["scheduling_strategy"] = self._node_strategy(a.node)
        try:
            handle = self._session_cls.options(**opts).remote()
            remote_names = strato.get(handle.names.remote(), timeout=60)
        except Exception as exc:
            raise _usage(f"%%remote --session {a.session}: could not start the session actor: {exc}") from None
        state = {"name": a.session, "handle": handle, "names": set(remote_names), "synced": {}}
        self.sessions[a.session] = state
        return state

    def remote_function(self):
        if self._remote_fn is None:
            self._remote_fn = strato.remote(cell_runner.run_cell)
        return self._remote_fn

    # ---------------------------------------------------------------- results
    def apply_results(self, job: "RemoteCellJob", results: list[dict]):
        """Bring assigned names into the notebook; return the value to show."""
        user_ns = self.shell.user_ns
        session = job.session
        notes = []
        if job.args.parallel:
            names = []
            for r in results:
                for name in list(r["values"]) + list(r["skipped"]):
                    if name not in names:
                        names.append(name)
            for name in names:
                user_ns[name] = [self._load(name, r["values"][name], notes) if name in r["values"] else None
                                 for r in results]
            skipped = sorted({f"{k} ({v})" for r in results for k, v in r["skipped"].items()})
        else:
            r = results[0]
            for name, blob in r["values"].items():
                user_ns[name] = self._load(name, blob, notes)
            for name in r["deleted"]:
                user_ns.pop(name, None)
            skipped = [f"{k} ({v})" for k, v in r["skipped"].items()]
            if session is not None:
                session["names"] = set(r["names"])
                for name in r["values"]:
                    session["synced"][name] = user_ns.get(name)
                for name in r["skipped"]:
                    session["synced"][name] = user_ns.get(name)
        if skipped:
            where = f"; kept in session {session['name']!r}" if session else ""
            notes.append(f"%%remote: not brought back (cannot be pickled): {', '.join(skipped)}{where}")
        values = []
        for r in results:
            if r["result_skipped"]:
                notes.append(f"%%remote: the cell's value cannot be shown here ({r['result_skipped']})")
            values.append(self._load("the cell's value", r["result"], notes) if r["result"] is not None else None)
        for note in notes:
            print(note, file=sys.stderr)
        if job.args.parallel:
            return values if any(v is not None for v in values) else None
        return values[0]

    @staticmethod
    def _load(name, blob, notes):
        try:
            return cloudpickle.loads(blob)
        except Exception as exc:
            notes.append(f"%%remote: {name} could not be loaded in the notebook: {exc}")
            return None

    # ================================================================ errors
    def show_task_error(self, shell, etype, value, tb, tb_offset=None):
        """IPython custom exception handler for TaskError: the remote traceback, cell lines first."""
        stb = render_task_error(shell, value, tb)
        cause = getattr(value, "cause", None)
        shown_type = type(cause) if isinstance(cause, BaseException) else etype
        shell._showtraceback(shown_type, cause if cause is not None else value, stb)
        return None


def render_task_error(shell, value, tb) -> list[str]:
    """The traceback lines of a TaskError: the notebook's calling lines, then the remote frames."""
    import linecache

    def cell_label(filename):
        fmt = getattr(getattr(shell, "compile", None), "format_code_name", None)
        label = fmt(filename) if fmt else None
        return f"{label[0]} {label[1]}" if label else None

    def locate(filename, lineno, func):
        if filename == "<dynamic-code>":
            filename = _find_cell_file(shell, func, lineno, cell_label)
        label = cell_label(filename) if filename else None
        return (label, linecache.getline(filename, lineno)) if label else None

    local = []
    if not getattr(value, "_strato_remote_cell", False):
        while tb is not None:
            code = tb.tb_frame.f_code
            label = cell_label(code.co_filename)
            if label:
                local.append(f"  {label}, line {tb.tb_lineno}" + (
                    f", in {code.co_name}" if code.co_name != "<module>" else ""))
                source = linecache.getline(code.co_filename, tb.tb_lineno).strip()
                if source:
                    local.append(f"    {source}")
            tb = tb.tb_next
    where = f" (pid={value.pid}, ip={value.ip})" if getattr(value, "pid", None) else ""
    header = f"raised on the cluster by {getattr(value, 'function_name', '?')}{where}"
    return tracebacks.render(getattr(value, "traceback_str", "") or str(value), locate=locate, header=header,
                             local_frames=local)


def _codes_of(value, depth: int = 0):
    """Code objects of a notebook value: a function, a remote function, a class or actor class."""
    target = getattr(value, "__wrapped__", None) or getattr(value, "_function", None) or getattr(
        value, "_cls", None) or value
    if isinstance(target, type) and depth == 0:
        for attr in vars(target).values():
            yield from _codes_of(attr, 1)
        return
    target = getattr(target, "__func__", target)
    code = getattr(target, "__code__", None)
    stack = [code] if code is not None else []
    while stack:
        code = stack.pop()
        yield code
        stack.extend(c for c in code.co_consts if hasattr(c, "co_code"))


def _find_cell_file(shell, func: str | None, lineno: int, cell_label) -> str | None:
    """The cell file of the notebook function called `func` whose lines include `lineno` (newest cell wins)."""
    best = None
    for value in list(getattr(shell, "user_ns", {}).values()):
        try:
            codes = list(_codes_of(value))
        except Exception:
            continue
        for code in codes:
            if code.co_name != func or not cell_label(code.co_filename):
                continue
            lines = [ln for _, _, ln in code.co_lines() if ln is not None]
            if lines and min(lines + [code.co_firstlineno]) <= lineno <= max(lines):
                best = code.co_filename
    return best
