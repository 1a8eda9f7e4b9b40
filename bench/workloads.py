"""Strato vs Ray micro-benchmarks, written once against the Ray Core API.

Run one workload in the current interpreter and print ONE JSON line:

    python bench/workloads.py --lib ray    --workload tasks_batched
    python bench/workloads.py --lib strato --workload first_result
    python bench/workloads.py --list

The library under test is imported lazily (``import ray as lib`` or
``import strato as lib``) so that ``first_result`` can include import time.
Only the standard library is imported at module level: ``run.py`` imports this
file for the workload list with whatever interpreter it runs under.

Adding a workload: write ``def my_thing(ctx): ...`` decorated with
``@workload(...)``. Call ``lib = ctx.start()`` to import + init the library (the
harness always shuts it down afterwards), use ``ctx.rate(op)`` for a
timed throughput loop, and return ``ctx.result(value, n=..., elapsed=...)``.
"""

# The clock starts before anything else, so first_result covers everything the
# process does from here on: imports, init, scheduling and the first get.
import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

LIBS = ("ray", "strato")
NUM_CPUS = 2

# Keep Ray quiet and comparable (set only if the caller has not set them):
# no usage-stats prompt/upload, and no per-cluster auth token (a local
# embedded cluster needs none; with it on, Ray also logs a warning per run).
# The dashboard is switched off through init(include_dashboard=False).
_RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
}


# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------

class Workload:
    def __init__(self, fn, name, unit, higher_is_better, description, target):
        self.fn = fn
        self.name = name
        self.unit = unit
        self.higher_is_better = higher_is_better
        self.description = description
        # Target ratio "strato better than Ray by at least this factor", or None
        # when the numbers are only shown side by side.
        self.target = target

    def meta(self):
        return {
            "name": self.name,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "description": self.description,
            "target": self.target,
        }


WORKLOADS = {}


def workload(name=None, *, unit, higher_is_better=True, description="", target=None):
    def deco(fn):
        wname = name or fn.__name__
        WORKLOADS[wname] = Workload(fn, wname, unit, higher_is_better, description, target)
        return fn

    return deco


# --------------------------------------------------------------------------
# per-run context
# --------------------------------------------------------------------------

class Context:
    def __init__(self, lib_name, duration, warmup, batch_size):
        self.lib_name = lib_name
        self.duration = duration
        self.warmup = warmup
        self.batch_size = batch_size
        self.lib = None
        self.started = False

    # -- library lifecycle -------------------------------------------------
    def import_lib(self):
        if self.lib is None:
            if self.lib_name == "ray":
                for k, v in _RAY_ENV.items():
                    os.environ.setdefault(k, v)
                import ray as lib
            elif self.lib_name == "strato":
                import strato as lib
            else:  # pragma: no cover - argparse restricts choices
                raise ValueError(self.lib_name)
            self.lib = lib
        return self.lib

    def init_kwargs(self):
        kwargs = {"num_cpus": NUM_CPUS}
        if self.lib_name == "ray":
            # Ray-only knobs; strato gets the plain Ray Core call.
            kwargs.update(include_dashboard=False, logging_level=logging.WARNING)
        return kwargs

    def start(self):
        """Import the library and start a fresh embedded cluster."""
        lib = self.import_lib()
        lib.init(**self.init_kwargs())
        self.started = True
        return lib

    def shutdown(self):
        if self.started and self.lib is not None:
            self.started = False
            self.lib.shutdown()

    # -- measuring helpers -------------------------------------------------
    def rate(self, op, *, per_call=1, inner=1, duration=None, warmup=None):
        """Call ``op`` repeatedly: first for ``warmup`` seconds (untimed), then
        for about ``duration`` seconds (timed, at least one call).  ``op`` does
        ``per_call`` units of work per call; the clock is checked every
        ``inner`` calls.  Returns (units per second, units, seconds)."""
        duration = self.duration if duration is None else duration
        warmup = self.warmup if warmup is None else warmup
        clock = time.perf_counter
        end = clock() + warmup
        op()
        while clock() < end:
            op()
        calls = 0
        start = clock()
        end = start + duration
        while True:
            for _ in range(inner):
                op()
            calls += inner
            now = clock()
            if now >= end:
                break
        elapsed = now - start
        units = calls * per_call
        return units / elapsed, units, elapsed

    def result(self, value, **extra):
        return {"value": value, **extra}


def _one():
    return 1


# --------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------

@workload(
    unit="s",
    higher_is_better=False,
    description="Process start (before `import`) to the first `get(f.remote())` "
    "result on a fresh embedded cluster (init(num_cpus=2)).",
    target=5.0,
)
def first_result(ctx):
    lib = ctx.start()
    f = lib.remote(_one)
    value = lib.get(f.remote())
    t = time.perf_counter() - _T0
    if value != 1:
        raise AssertionError(f"unexpected task result {value!r}")
    return ctx.result(t)


@workload(
    unit="tasks/s",
    description="`get(f.remote())` one task at a time (round-trip latency bound).",
)
def tasks_sequential(ctx):
    lib = ctx.start()
    f = lib.remote(_one)
    get = lib.get

    def op():
        get(f.remote())

    rate, n, elapsed = ctx.rate(op)
    return ctx.result(rate, n=n, elapsed=elapsed)


@workload(
    unit="tasks/s",
    description="`get([f.remote() for _ in range(1000)])` repeatedly (throughput).",
    target=2.0,
)
def tasks_batched(ctx):
    lib = ctx.start()
    f = lib.remote(_one)
    get = lib.get
    batch = ctx.batch_size

    def op():
        out = get([f.remote() for _ in range(batch)])
        if len(out) != batch:
            raise AssertionError("short batch result")

    rate, n, elapsed = ctx.rate(op, per_call=batch)
    return ctx.result(rate, n=n, elapsed=elapsed, batch=batch)


@workload(
    unit="gets/s",
    description="`get(ref)` of one 100-byte object put once.",
)
def get_small(ctx):
    lib = ctx.start()
    payload = b"x" * 100
    ref = lib.put(payload)
    get = lib.get
    if get(ref) != payload:
        raise AssertionError("get returned the wrong value")

    def op():
        get(ref)

    rate, n, elapsed = ctx.rate(op, inner=100)
    return ctx.result(rate, n=n, elapsed=elapsed)


@workload(
    unit="puts/s",
    description="`put(b'x' * 100)` repeatedly (refs dropped right away).",
)
def put_small(ctx):
    lib = ctx.start()
    payload = b"x" * 100
    put = lib.put

    def op():
        put(payload)

    rate, n, elapsed = ctx.rate(op, inner=100)
    return ctx.result(rate, n=n, elapsed=elapsed)


LARGE_BYTES = 100 * 1024 * 1024


def _large_array():
    import numpy as np
    return np.random.default_rng(0).integers(0, 255, LARGE_BYTES, dtype=np.uint8)


@workload(
    unit="GB/s",
    description="`put` of a 100 MiB numpy array repeatedly (refs dropped right away); "
    "bytes put per second.",
)
def put_large(ctx):
    lib = ctx.start()
    arr = _large_array()
    put = lib.put

    def op():
        put(arr)

    rate, n, elapsed = ctx.rate(op, per_call=arr.nbytes / 1e9)
    return ctx.result(rate, n=n, elapsed=elapsed)


@workload(
    unit="gets/s",
    description="`get` of a 100 MiB numpy array put once (values dropped right away).",
)
def get_large(ctx):
    lib = ctx.start()
    arr = _large_array()
    ref = lib.put(arr)
    get = lib.get
    if int(get(ref)[12345]) != int(arr[12345]):
        raise AssertionError("get returned the wrong value")

    def op():
        get(ref)

    rate, n, elapsed = ctx.rate(op, inner=10)
    return ctx.result(rate, n=n, elapsed=elapsed)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

# --------------------------------------------------------------------------
# actors (issue 4)
# --------------------------------------------------------------------------

class _Echo:
    def f(self):
        return 1


class _Caller:
    """Calls its own actors in batches; used for n:n."""

    def __init__(self, targets):
        self.targets = targets

    def run(self, lib_name, batch):
        lib = __import__(lib_name)
        refs = [self.targets[i % len(self.targets)].f.remote() for i in range(batch)]
        return len(lib.get(refs))


def _actors(lib, n):
    cls = lib.remote(num_cpus=0)(_Echo)
    actors = [cls.remote() for _ in range(n)]
    lib.get([a.f.remote() for a in actors])
    return actors


@workload(
    unit="calls/s",
    description="`get(a.f.remote())` on one actor, one call at a time (round-trip latency bound).",
    target=2.0,
)
def actor_calls_sequential(ctx):
    lib = ctx.start()
    (a,) = _actors(lib, 1)
    get = lib.get

    def op():
        get(a.f.remote())

    rate, n, elapsed = ctx.rate(op)
    return ctx.result(rate, n=n, elapsed=elapsed)


@workload(
    unit="calls/s",
    description="`get([a.f.remote() for _ in range(1000)])` on one actor (throughput).",
    target=2.0,
)
def actor_calls_batched(ctx):
    lib = ctx.start()
    (a,) = _actors(lib, 1)
    get = lib.get
    batch = ctx.batch_size

    def op():
        get([a.f.remote() for _ in range(batch)])

    rate, n, elapsed = ctx.rate(op, per_call=batch)
    return ctx.result(rate, n=n, elapsed=elapsed, batch=batch)


@workload(
    unit="calls/s",
    description="1:n -- the driver spreads batches of 1,000 calls over 4 actors.",
)
def actor_calls_1_to_n(ctx):
    lib = ctx.start()
    actors = _actors(lib, 4)
    get = lib.get
    batch = ctx.batch_size

    def op():
        get([actors[i % 4].f.remote() for i in range(batch)])

    rate, n, elapsed = ctx.rate(op, per_call=batch)
    return ctx.result(rate, n=n, elapsed=elapsed, batch=batch)


@workload(
    unit="calls/s",
    description="n:n -- 2 caller actors each send batches of 1,000 calls to 2 actors of their own.",
)
def actor_calls_n_to_n(ctx):
    lib = ctx.start()
    caller_cls = lib.remote(num_cpus=0)(_Caller)
    callers = [caller_cls.remote(_actors(lib, 2)) for _ in range(2)]
    get = lib.get
    batch = ctx.batch_size

    def op():
        get([c.run.remote(ctx.lib_name, batch) for c in callers])

    rate, n, elapsed = ctx.rate(op, per_call=batch * len(callers))
    return ctx.result(rate, n=n, elapsed=elapsed, batch=batch)


def _lib_version(ctx):
    lib = ctx.lib
    if lib is None:
        return None
    v = getattr(lib, "__version__", None)
    if v:
        return str(v)
    try:
        from importlib.metadata import version

        return version(ctx.lib_name)
    except Exception:
        return None


def run_one(lib_name, name, duration, warmup, batch_size):
    wl = WORKLOADS[name]
    ctx = Context(lib_name, duration, warmup, batch_size)
    out = {
        "lib": lib_name,
        "workload": name,
        "unit": wl.unit,
        "higher_is_better": wl.higher_is_better,
        "value": None,
        "error": None,
    }
    try:
        out.update(wl.fn(ctx))
    except BaseException as exc:  # report, don't crash without a JSON line
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-4000:]
    finally:
        try:
            ctx.shutdown()
        except Exception as exc:
            if out["error"] is None:
                out["error"] = f"shutdown failed: {type(exc).__name__}: {exc}"
    out["version"] = _lib_version(ctx)
    out["python"] = platform.python_version()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", choices=LIBS)
    p.add_argument("--workload", choices=sorted(WORKLOADS))
    p.add_argument("--duration", type=float, default=3.0,
                   help="timed seconds for throughput workloads (default 3)")
    p.add_argument("--warmup", type=float, default=0.5,
                   help="untimed warmup seconds (default 0.5)")
    p.add_argument("--batch-size", type=int, default=1000,
                   help="tasks per batch in tasks_batched (default 1000)")
    p.add_argument("--list", action="store_true",
                   help="print the workloads as JSON and exit")
    args = p.parse_args(argv)

    if args.list:
        print(json.dumps([w.meta() for w in WORKLOADS.values()]))
        return 0
    if not args.lib or not args.workload:
        p.error("--lib and --workload are required (or use --list)")

    out = run_one(args.lib, args.workload, args.duration, args.warmup, args.batch_size)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0 if out["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
