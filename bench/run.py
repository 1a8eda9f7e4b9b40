"""Run every workload in bench/workloads.py for strato and Ray and compare.

Each measurement runs in a fresh subprocess (strato with the repo's .venv,
Ray with bench/.ray-venv), libraries alternate, every measurement is repeated
(3 times by default) and the median is reported.  Prints a table and writes
bench/RESULTS.md.

    python bench/run.py                      # everything, both libraries
    python bench/run.py --libs ray           # only Ray (e.g. to test the harness)
    python bench/run.py --only tasks_batched,get_small --repeat 5
    python bench/run.py --baseline HEAD~3    # also strato as of that commit (a git worktree), same run

Only the standard library is needed to run this file.
"""

import argparse
import datetime as _dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORKLOADS_PY = os.path.join(BENCH, "workloads.py")

sys.path.insert(0, BENCH)
import workloads as _wl  # noqa: E402  (stdlib-only at import time)

LIB_LABEL = {"strato": "strato", "ray": "Ray"}
DEFAULT_PYTHON = {
    "strato": os.path.join(REPO, ".venv", "bin", "python"),
    "ray": os.path.join(BENCH, ".ray-venv", "bin", "python"),
}
MARKER = "STRATO_BENCH_RUN"  # env var tagging every process a run starts
BLOCK_START = "<!-- bench/run.py:start -->"  # run.py's part of RESULTS.md
BLOCK_END = "<!-- bench/run.py:end -->"
PYCACHE_PREFIX = os.path.join(os.environ.get("TMPDIR", "/tmp"), "strato-bench-pycache")


# --------------------------------------------------------------------------
# process handling
# --------------------------------------------------------------------------

def _pids_with_marker(token):
    """PIDs of live processes whose environment carries our run token (they
    descend from a bench subprocess, even if they left its process group)."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(name))
    return found


def _kill_everything(proc, token):
    """Kill the subprocess's process group, then any straggler still tagged
    with this measurement's token. Only touches processes this run started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(3):
        pids = [p for p in _pids_with_marker(token) if p != os.getpid()]
        if not pids:
            return 0
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.2)
    return len(_pids_with_marker(token))


def _pytest_running():
    """True if some pytest process is running (benchmarks would be skewed)."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ")
        except OSError:
            continue
        if b"pytest" in cmd and b"bench/run.py" not in cmd:
            return True
    return False


def wait_until_idle(max_wait, log):
    if max_wait <= 0 or not _pytest_running():
        return True
    log("  pytest is running; waiting for it to finish before measuring ...")
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        time.sleep(10)
        if not _pytest_running():
            return True
    log("  still busy after waiting; measuring anyway (noted in results)")
    return False


def measure_when_idle(lib, workload, args, log, busy_notes, label, retries=3):
    """run_measurement, but only while no pytest runs; a measurement that a
    pytest run overlapped (seen running when it ends) is done again."""
    for attempt in range(retries + 1):
        idle = wait_until_idle(args.idle_wait, log)
        r = run_measurement(lib, workload, args, args.python[lib])
        if args.idle_wait <= 0:
            return r
        if idle and not _pytest_running():
            return r
        if attempt < retries:
            log(f"  {label}: pytest ran during the measurement; measuring again")
    busy_notes.append(f"{label} was measured while pytest was running")
    return r


def run_measurement(lib, workload, args, python):
    """Run one workload once in a fresh process; return the parsed dict."""
    token = uuid.uuid4().hex
    env = dict(os.environ)
    env[MARKER] = token
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Byte-code caching as an installed package would have it (pip compiles
    # Ray at install time), for both libraries alike, but written outside the
    # source tree: this shell may export PYTHONDONTWRITEBYTECODE=1, which would
    # make every strato import recompile its sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE_PREFIX
    if lib in ("strato", "base"):
        # "base": the same workloads, importing strato from the baseline commit's worktree
        root = args.baseline_root if lib == "base" else REPO
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cwd = root
    else:
        cwd = BENCH
    cmd = [
        python, WORKLOADS_PY, "--lib", "strato" if lib == "base" else lib, "--workload", workload,
        "--duration", str(args.duration), "--warmup", str(args.warmup),
    ]
    base = {"lib": lib, "workload": workload, "value": None, "error": None}
    if not os.path.exists(python):
        hint = " (run bench/setup_ray_env.sh)" if lib == "ray" else ""
        return {**base, "error": f"interpreter not found: {python}{hint}"}

    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_everything(proc, token)
        out, err = proc.communicate()
    finally:
        leftover = _kill_everything(proc, token)
    wall = time.monotonic() - t0
    out = out.decode(errors="replace")
    err = err.decode(errors="replace")

    result = None
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                cand = json.loads(line)
            except ValueError:
                continue
            if cand.get("workload") == workload:
                result = cand
                break
    if result is None:
        result = dict(base)
        tail = "\n".join((err or out).strip().splitlines()[-15:])
        if timed_out:
            result["error"] = f"timed out after {args.timeout:.0f}s (process group killed)"
        else:
            result["error"] = f"exit code {proc.returncode}, no result line"
        if tail:
            result["traceback"] = tail
    elif timed_out and result.get("error") is None:
        result["error"] = f"hung at shutdown; killed after {args.timeout:.0f}s"
    if leftover:
        result.setdefault("notes", []).append(f"{leftover} processes could not be killed")
    result["wall"] = wall
    return result


# --------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------

def fmt_value(v, unit):
    if v is None:
        return "error"
    if unit == "s":
        return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"
    if v >= 100:
        return f"{v:,.0f} {unit}"
    return f"{v:.1f} {unit}"


def advantage(meta, strato, ray):
    """How many times better strato is than Ray (>1 = strato better)."""
    if strato is None or ray is None or strato <= 0 or ray <= 0:
        return None
    return strato / ray if meta["higher_is_better"] else ray / strato


def target_text(meta):
    t = meta.get("target")
    if t is None:
        return "side by side"
    if meta["higher_is_better"]:
        return f"strato >= {t:g}x Ray's rate"
    return f"strato >= {t:g}x sooner"


def verdict(meta, adv):
    t = meta.get("target")
    if t is None or adv is None:
        return "" if t is None else "n/a"
    return "met" if adv >= t else "NOT met"


def summarize(metas, libs, runs):
    rows = []
    for meta in metas:
        name = meta["name"]
        med = {}
        for lib in libs:
            vals = [r["value"] for r in runs.get((name, lib), []) if r.get("error") is None
                    and r.get("value") is not None]
            med[lib] = statistics.median(vals) if vals else None
        adv = advantage(meta, med.get("strato"), med.get("ray"))
        rows.append({"meta": meta, "median": med, "advantage": adv,
                     "vs_base": advantage(meta, med.get("strato"), med.get("base"))})
    return rows


def render_table(rows, libs, markdown):
    head = ["workload"] + [LIB_LABEL[lib] for lib in libs]
    both = "strato" in libs and "ray" in libs
    base = "base" in libs and "strato" in libs
    if base:
        head += [f"strato vs {LIB_LABEL['base']}"]
    if both:
        head += ["strato vs Ray", "target", "target met"]
    body = []
    for row in rows:
        meta = row["meta"]
        cells = [f"`{meta['name']}`" if markdown else meta["name"]]
        cells += [fmt_value(row["median"][lib], meta["unit"]) for lib in libs]
        if base:
            cells.append("n/a" if row["vs_base"] is None else f"{row['vs_base']:.3f}x")
        if both:
            adv = row["advantage"]
            cells += ["n/a" if adv is None else f"{adv:.2f}x", target_text(meta),
                      verdict(meta, adv)]
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(c) + " |" for c in body]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*c) for c in body]
    return "\n".join(lines)


def _meminfo_gib():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_results_md(path, rows, libs, runs, args, started, busy_notes):
    versions, pythons = {}, {}
    for (_, lib), rs in runs.items():
        for r in rs:
            if r.get("version"):
                versions[lib] = r["version"]
            if r.get("python"):
                pythons[lib] = r["python"]
    mem = _meminfo_gib()
    L = [BLOCK_START]
    L.append("# Strato vs Ray benchmark results")
    L.append("")
    L.append("## Main comparison")
    L.append("")
    L.append("Generated by `bench/run.py` (see `bench/README.md`); this part of the file "
             "is rewritten on every run, the sections after it are kept.")
    L.append("")
    L.append(f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}")
    L.append(f"- Machine: {os.cpu_count()} cores ({_cpu_model()}), "
             f"{mem:.1f} GiB RAM, {platform.system()} {platform.release()}"
             if mem else f"- Machine: {os.cpu_count()} cores ({_cpu_model()})")
    for lib in libs:
        L.append(f"- {LIB_LABEL[lib]}: version {versions.get(lib, 'unknown')}, "
                 f"Python {pythons.get(lib, 'unknown')} "
                 f"(`{os.path.relpath(args.python[lib], REPO)}`)")
    L.append(f"- Method: each measurement in a fresh process, libraries alternating, "
             f"{args.repeat} repetitions, median shown"
             f"{' (after one discarded warm-up run per library)' if args.prime else ''}; throughput workloads run "
             f"{args.duration:g} s after a {args.warmup:g} s warmup; "
             f"`init(num_cpus=2)` (Ray also gets `include_dashboard=False`, "
             f"usage stats and auth tokens off).")
    L.append("")
    L.append(render_table(rows, libs, markdown=True))
    L.append("")
    if "base" in libs:
        L.append(f"\"strato vs {LIB_LABEL['base']}\" compares this tree with the same workloads run on "
                 f"strato as of `{args.baseline}` (a worktree at the commit, measured alternately in this "
                 f"same run; >1 means this tree is better).")
        L.append("")
    if "strato" in libs and "ray" in libs:
        L.append("\"strato vs Ray\" is how many times better strato is (>1 means strato "
                 "is better: sooner for times, faster for rates). Targets from the issue: "
                 "first result at least 5x sooner than Ray, batched tasks at least 2x "
                 "Ray's rate; the other workloads are shown side by side.")
        L.append("")
    L.append("### Workloads")
    L.append("")
    for row in rows:
        m = row["meta"]
        L.append(f"- `{m['name']}` ({m['unit']}): {m['description']}")
    L.append("")
    L.append("### All runs")
    L.append("")
    L.append("| workload | library | values |")
    L.append("|---|---|---|")
    for row in rows:
        m = row["meta"]
        for lib in libs:
            vals = []
            for r in runs.get((m["name"], lib), []):
                vals.append("error" if r.get("error") else fmt_value(r["value"], m["unit"]))
            L.append(f"| `{m['name']}` | {LIB_LABEL[lib]} | {', '.join(vals) or '-'} |")
    errors = [(k, r) for k, rs in runs.items() for r in rs if r.get("error")]
    if errors or busy_notes:
        L.append("")
        L.append("### Problems")
        L.append("")
        for note in busy_notes:
            L.append(f"- {note}")
        seen = set()
        for (name, lib), r in errors:
            key = (name, lib, r["error"])
            if key in seen:
                continue
            seen.add(key)
            L.append(f"- `{name}` / {LIB_LABEL[lib]}: {r['error']}")
            tb = (r.get("traceback") or "").strip()
            if tb:
                tail = "\n".join(tb.splitlines()[-8:])
                L.append("")
                L.append("  ```")
                L.extend("  " + x for x in tail.splitlines())
                L.append("  ```")
    L.append(BLOCK_END)
    replace_block(path, "\n".join(L))


def replace_block(path, block):
    """Put ``block`` (which starts with BLOCK_START and ends with BLOCK_END)
    into the file at ``path``, replacing the previous block and keeping any
    other text there (sections other scripts or people add)."""
    text = ""
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
    i, j = text.find(BLOCK_START), text.find(BLOCK_END)
    if i != -1 and j > i:
        new = text[:i] + block + text[j + len(BLOCK_END):]
    elif text.strip():
        new = block + "\n\n" + text.lstrip("\n")
    else:
        new = block + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(new)
    os.replace(tmp, path)


def baseline_worktree(rev):
    """A detached git worktree of `rev` (made once per commit, reused after)."""
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise SystemExit(f"--baseline {rev}: not a commit of this repository ({commit.stderr.strip()})")
    sha = commit.stdout.strip()
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"strato-bench-base-{sha[:12]}")
    if not os.path.isdir(os.path.join(path, "strato")):
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", "--force", path, sha],
                       check=True, capture_output=True)
    return path


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description="Benchmark strato against Ray.")
    p.add_argument("--only", default="",
                   help="comma-separated workload names (default: all)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per (workload, library); the median is reported")
    p.add_argument("--libs", default="strato,ray",
                   help="comma-separated libraries to run (strato,ray)")
    p.add_argument("--duration", type=float, default=3.0,
                   help="timed seconds per throughput workload")
    p.add_argument("--warmup", type=float, default=0.5, help="warmup seconds")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before a measurement's process group is killed")
    p.add_argument("--strato-python", default=DEFAULT_PYTHON["strato"])
    p.add_argument("--ray-python", default=DEFAULT_PYTHON["ray"])
    p.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"),
                   help="markdown report path")
    p.add_argument("--no-write", action="store_true", help="do not write the report")
    p.add_argument("--json", default="", help="also dump raw runs as JSON here")
    p.add_argument("--idle-wait", type=float, default=900.0,
                   help="max seconds to wait for running pytest processes before "
                        "each measurement (0 = don't check)")
    p.add_argument("--no-prime", dest="prime", action="store_false",
                   help="skip the discarded warm-up run per library")
    p.add_argument("--baseline", default="", metavar="REV",
                   help="also measure strato as of git revision REV (checked out as a worktree under "
                        "$TMPDIR), alternating with the others; adds a 'strato vs strato@REV' column")
    args = p.parse_args(argv)
    args.python = {"strato": args.strato_python, "ray": args.ray_python, "base": args.strato_python}
    if args.baseline:
        args.baseline_root = baseline_worktree(args.baseline)
        LIB_LABEL["base"] = f"strato@{args.baseline}"
        args.libs += ",base"

    libs = [x.strip() for x in args.libs.split(",") if x.strip()]
    for lib in libs:
        if lib not in LIB_LABEL:
            p.error(f"unknown library {lib!r}")
    libs = [lib for lib in ("base", "strato", "ray") if lib in libs]  # stable column order
    metas = [w.meta() for w in _wl.WORKLOADS.values()]
    if args.only:
        wanted = [x.strip() for x in args.only.split(",") if x.strip()]
        unknown = [w for w in wanted if w not in _wl.WORKLOADS]
        if unknown:
            p.error(f"unknown workload(s) {unknown}; have {sorted(_wl.WORKLOADS)}")
        metas = [m for m in metas if m["name"] in wanted]

    def log(msg):
        print(msg, flush=True)

    started = _dt.datetime.now(_dt.timezone.utc)
    runs, busy_notes = {}, []
    if args.prime:
        # One discarded first_result run per library: fills the byte-code
        # cache and the OS page cache so that repetition 1 is not an outlier.
        for lib in libs:
            wait_until_idle(args.idle_wait, log)
            r = run_measurement(lib, "first_result", args, args.python[lib])
            shown = ("ERROR " + r["error"].splitlines()[0][:150]) if r.get("error") \
                else fmt_value(r["value"], "s")
            log(f"[prime] first_result       {lib:<7} (discarded): {shown}")
    total = len(metas) * len(libs) * args.repeat
    i = 0
    for rep in range(args.repeat):
        for wi, meta in enumerate(metas):
            # alternate which library goes first, so neither always runs on a
            # machine freshly cooled down (or heated up) by the other
            order = libs if (rep + wi) % 2 == 0 else list(reversed(libs))
            for lib in order:
                i += 1
                r = measure_when_idle(lib, meta["name"], args, log, busy_notes,
                                      f"{meta['name']}/{lib} run {rep + 1}")
                runs.setdefault((meta["name"], lib), []).append(r)
                shown = ("ERROR " + r["error"].splitlines()[0][:150]) if r.get("error") \
                    else fmt_value(r["value"], meta["unit"])
                log(f"[{i}/{total}] {meta['name']:<18} {lib:<7} rep {rep + 1}: "
                    f"{shown}  ({r['wall']:.1f}s wall)")

    rows = summarize(metas, libs, runs)
    print()
    print(render_table(rows, libs, markdown=False))
    if not args.no_write:
        write_results_md(args.out, rows, libs, runs, args, started, busy_notes)
        print(f"\nwrote {args.out}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([{"workload": k[0], "lib": k[1], "runs": v} for k, v in runs.items()],
                      fh, indent=1)
    failed = sum(1 for rs in runs.values() for r in rs if r.get("error"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
