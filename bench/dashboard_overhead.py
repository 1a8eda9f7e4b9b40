"""What a live dashboard costs: task throughput in a real kernel with and without `%cluster dashboard`.

    .venv/bin/python bench/dashboard_overhead.py                 # 4 rounds of 3 s each way, prints a table
    .venv/bin/python bench/dashboard_overhead.py --write         # also updates its section of bench/RESULTS.md
    .venv/bin/python bench/dashboard_overhead.py --rounds 6 --duration 5 --interval 0.25

One kernel (ipykernel through jupyter_client, as JupyterLab runs it), one
embedded cluster (`%cluster connect --num-cpus 2`). Each round measures
`get([f.remote() for _ in range(1000)])` throughput (tasks/s, as the
`tasks_batched` workload) once with no dashboard and once with a dashboard
displayed and updating (its feed polling the head, its views sending comm
messages); the order alternates between rounds so that drift on a shared
machine falls on both sides. A "with" window starts once the dashboard's feed
has ticked twice: opening a dashboard first folds the backlog of events the
head kept (up to 100,000), a one-time cost left out of the steady state
measured here. The overhead is 1 - median(with) / median(without).
The comm messages counted during the "with" windows show the dashboard was live.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH, "RESULTS.md")
START, END = "<!-- dashboard_overhead:start -->", "<!-- dashboard_overhead:end -->"

SETUP = """
%load_ext strato
%cluster connect --num-cpus 2
import json, time
import strato
from strato import widgets

@strato.remote
def f():
    return None

import os, psutil

def cpu_seconds():
    # CPU seconds so far of this kernel and its cluster's processes, by role
    me = psutil.Process(os.getpid())
    out = {"kernel": 0.0, "gcs": 0.0, "raylet": 0.0, "workers": 0.0}
    for p in [me] + me.children(recursive=True):
        try:
            cmd, t = " ".join(p.cmdline()), p.cpu_times()
        except psutil.Error:
            continue
        role = ("kernel" if p.pid == me.pid else "gcs" if "runtime.gcs" in cmd
                else "raylet" if "runtime.raylet" in cmd else "workers")
        out[role] += t.user + t.system
    return out

def measure(duration):
    # tasks/s of batches of 1,000 no-op tasks; last_cpu: the cores each role used meanwhile
    global last_cpu
    strato.get([f.remote() for _ in range(200)])
    c0 = cpu_seconds()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < duration:
        strato.get([f.remote() for _ in range(1000)])
        n += 1000
    dt = time.perf_counter() - t0
    c1 = cpu_seconds()
    last_cpu = {k: round((c1[k] - c0[k]) / dt, 3) for k in c1}
    return n / dt

measure(1.0)   # warm up: workers started, leases held
"""


class KernelRun:
    """A kernel whose iopub messages a thread keeps reading (and counting)."""

    def __init__(self):
        from jupyter_client import KernelManager
        self.spec_dir = tempfile.mkdtemp(prefix="strato-bench-kernel-")
        spec = os.path.join(self.spec_dir, "kernels", "bench")
        os.makedirs(spec)
        with open(os.path.join(spec, "kernel.json"), "w") as fh:
            json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                       "display_name": "bench", "language": "python"}, fh)
        os.environ["JUPYTER_PATH"] = self.spec_dir
        self.km = KernelManager(kernel_name="bench")
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.comm_msgs = 0
        self.stdout: dict[str, str] = {}
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except Exception:
                continue
            if msg["msg_type"] == "comm_msg":
                self.comm_msgs += 1
            elif msg["msg_type"] == "stream":
                pid = msg["parent_header"].get("msg_id", "")
                self.stdout[pid] = self.stdout.get(pid, "") + msg["content"]["text"]
            elif msg["msg_type"] == "error":
                print("kernel error:", "\n".join(msg["content"]["traceback"]), file=sys.stderr)

    def run(self, code: str, timeout: float = 300) -> str:
        msg_id = self.kc.execute(code)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"cell failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")
        time.sleep(0.3)                       # let the stream output arrive
        return self.stdout.get(msg_id, "")

    def close(self):
        try:
            self.run("%cluster stop", timeout=60)
        except Exception:
            pass
        self._stop.set()
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    p.add_argument("--interval", type=float, default=0.5, help="dashboard update interval (0.25 = the 4/s cap)")
    p.add_argument("--write", action="store_true", help=f"update the dashboard section of {RESULTS}")
    args = p.parse_args(argv)

    k = KernelRun()
    off, on, comms, ticks = [], [], [], []
    cpu = {"off": {}, "on": {}}
    try:
        k.run(SETUP)
        for i in range(args.rounds):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                if mode == "off":
                    rate = float(k.run(f"print(measure({args.duration}))").split()[-1])
                    off.append(rate)
                else:
                    before = k.comm_msgs
                    out = k.run(f"d = widgets.dashboard(interval={args.interval}); display(d)\n"
                                f"while d.feed.ticks < 2:      # steady state: the first fold caught up\n"
                                f"    time.sleep(0.05)\n"
                                f"t0 = d.feed.ticks\nrate = measure({args.duration})\n"
                                f"print(d.feed.ticks - t0, rate)\nd.close()")
                    n_ticks, rate = out.split()[-2:]
                    on.append(float(rate))
                    ticks.append(int(n_ticks))
                    comms.append(k.comm_msgs - before)
                for role, cores in json.loads(k.run("print(json.dumps(last_cpu))").strip().splitlines()[-1]).items():
                    cpu[mode].setdefault(role, []).append(cores)
                print(f"round {i + 1} {mode:3}: {rate if mode == 'off' else on[-1]:,.0f} tasks/s", flush=True)
    finally:
        k.close()

    m_off, m_on = statistics.median(off), statistics.median(on)
    overhead = 1.0 - m_on / m_off
    summary = {"without": m_off, "with": m_on, "overhead": overhead, "runs_without": off, "runs_with": on,
               "feed_ticks": ticks, "comm_msgs": comms, "interval": args.interval, "duration": args.duration,
               "cpu_cores": {m: {r: round(statistics.median(v), 3) for r, v in c.items()} for m, c in cpu.items()}}
    print(json.dumps(summary))
    print(f"tasks_batched in a kernel: {m_off:,.0f} tasks/s without a dashboard, {m_on:,.0f} with one "
          f"-> overhead {overhead * 100:.1f}% (target < 5%)")
    if args.write:
        write_section(summary)
    return 0


def write_section(s: dict) -> None:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join([
        START,
        "## Live dashboard overhead (`bench/dashboard_overhead.py`)",
        "",
        f"- Date: {when}; one kernel (ipykernel via jupyter_client), `%cluster connect --num-cpus 2`; "
        f"{len(s['runs_without'])} alternating rounds of {s['duration']:g} s each way; dashboard update interval "
        f"{s['interval']:g} s.",
        "",
        "| workload | without dashboard | with a live dashboard | overhead | target |",
        "|---|---|---|---|---|",
        f"| `tasks_batched` in a kernel | {s['without']:,.0f} tasks/s | {s['with']:,.0f} tasks/s | "
        f"{s['overhead'] * 100:.1f}% | < 5% |",
        "",
        f"Runs without: {', '.join(f'{r:,.0f}' for r in s['runs_without'])} tasks/s; with: "
        f"{', '.join(f'{r:,.0f}' for r in s['runs_with'])} tasks/s. While measuring with it, the dashboard's "
        f"feed ticked {', '.join(map(str, s['feed_ticks']))} times and the kernel sent "
        f"{', '.join(map(str, s['comm_msgs']))} comm messages.",
        "",
        "CPU while measuring (cores, median over the rounds) without: "
        + ", ".join(f"{r} {v:.2f}" for r, v in s["cpu_cores"]["off"].items()) + "; with: "
        + ", ".join(f"{r} {v:.2f}" for r, v in s["cpu_cores"]["on"].items()) + ".",
        END,
    ])
    text = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    if START in text and END in text:
        text = text[:text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(RESULTS, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    sys.exit(main())
