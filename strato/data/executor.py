"""The streaming executor: runs a dataset's stages over its blocks, holding only a bounded amount.

    inputs ─▶ stage 0 (tasks: read + fused maps) ─▶ stage 1 (actor pool) ─▶ ... ─▶ reorder ─▶ consumer
              └────────── blocks in the store, held ≤ budget (policy.launches) ──────────┘

`execute(source, ops, ctx)` is a generator of (block ref, BlockMetadata) in
the dataset's order. It runs in the consumer's thread and only while the
consumer pulls: each turn it asks the policy which stages start a task,
hands finished blocks downstream (each block goes through every stage, one
task per block per stage), yields the next block in order if it is ready,
and otherwise waits (strato.wait) for a task to finish. A task's result is
two objects, the block and its metadata; the driver fetches only the
metadata. A user function's error is raised from the metadata's `get`, as
the task error strato raises, which is an instance of the user's exception.

Segments (plan.py) chain: an all-to-all operator takes every block of the
segment before it; a limit takes blocks until it has its rows and closes the
segment before it, which drops its running tasks. Actor pools are started
when their segment starts (blocks are read while they come up; each takes
blocks once its constructor has run, and a constructor's error is raised
then) and killed when the segment ends, however it ends.
"""
from __future__ import annotations

import heapq
import logging
import time

import strato
from strato.data import block as B
from strato.data import policy
from strato.data import transforms as T
from strato.data.datasource import ReadTask
from strato.data.plan import (
    ActorStage,
    AllToAllOp,
    LimitOp,
    Segment,
    Source,
    TaskStage,
    segments,
)
from strato.exceptions import ActorDiedError, TaskError

log = logging.getLogger(__name__)

DEFAULT_EST_BYTES = 8 << 20
WAIT_S = 0.1


def _node_id() -> str:
    return strato.get_runtime_context().get_node_id()


@strato.remote
def _run_task(item, transforms, index):
    table = item.read() if isinstance(item, ReadTask) else item
    table = T.apply(transforms, table, index)
    return table, B.BlockMetadata.of(table, _node_id())


@strato.remote
class _MapWorker:
    """One actor of a map_batches pool: builds the user's class once, then maps blocks."""

    def __init__(self, transform, pool):
        instance = pool.cls(*pool.ctor_args, **pool.ctor_kwargs)
        self.transform = transform.bind(instance)
        self.node = _node_id()

    def ready(self):
        return True

    @strato.method(num_returns=2)
    def process(self, table, index):
        out = self.transform(table)
        return out, B.BlockMetadata.of(out, self.node)


class StageStats:
    def __init__(self, name: str, total: int | None):
        self.name = name
        self.total = total
        self.done = 0
        self.rows = 0
        self.bytes = 0
        self.in_bytes = 0
        self.start = time.monotonic()
        self.end: float | None = None

    def summary(self) -> str:
        wall = (self.end or time.monotonic()) - self.start
        return (f"{self.name}: {self.done} tasks, {self.rows} rows, {self.bytes / 2**20:.1f} MiB "
                f"out, {wall:.2f} s")


class _StageRun:
    def __init__(self, stage, stats: StageStats):
        self.stage = stage
        self.stats = stats
        self.queue: list = []            # heap of (seq, item, in_bytes)
        self.running: dict = {}          # meta ref -> (seq, block ref, in_bytes, est_out, actor index)
        self.actors: list = []
        self.loads: list[int] = []
        self.ready: list[bool] = []
        self.starting: dict = {}         # an actor's ready() ref -> its index, until it answers
        self.per_actor = 1
        self.last_actor = -1
        self.slots = 1
        self.max_slots = 1
        self._out = 0
        self._in = 0

    def est_output(self, in_bytes: int | None) -> int:
        if self.stats.done and self._in and in_bytes:
            return int(in_bytes * self._out / self._in)
        if self.stats.done:
            return int(self._out / self.stats.done)
        return int(in_bytes) if in_bytes else DEFAULT_EST_BYTES

    def finished(self, in_bytes: int | None, out_bytes: int) -> None:
        self._out += out_bytes
        self._in += in_bytes or 0


def _stage_cpus(stage) -> float:
    cpus = stage.remote_args.get("num_cpus")
    return 1.0 if cpus is None else float(cpus)


class SegmentRun:
    """One segment's stages streaming over `inputs` (an iterator of ReadTasks or (ref, meta))."""

    def __init__(self, seg: Segment, inputs, stats: list[StageStats], budget: int, ctx, progress):
        self.seg = seg
        self.inputs = iter(inputs)
        self.exhausted = False
        self.budget = budget
        self.ctx = ctx
        self.progress = progress
        self.runs = [_StageRun(s, st) for s, st in zip(seg.stages, stats)]
        self.next_in = 0
        self.next_out = 0
        self.reorder: dict = {}
        self.held = 0

    # ------------------------------------------------------------------ actors
    def _start_pools(self) -> None:
        cpus = strato.cluster_resources().get("CPU", 1.0)
        for run in self.runs:
            if not isinstance(run.stage, ActorStage):
                run.slots = run.max_slots = policy.task_slots(cpus, _stage_cpus(run.stage), run.stage.concurrency)
                continue
            others = [r.stage for r in self.runs if r is not run]
            reserved = max([_stage_cpus(s) for s in others if isinstance(s, TaskStage)], default=0.0)
            reserved += sum(_stage_cpus(s) * s.pool.max_size for s in others if isinstance(s, ActorStage))
            pool = run.stage.pool
            size, note = policy.actor_pool_size(pool.min_size, pool.max_size, cpus,
                                                _stage_cpus(run.stage), reserved)
            if note:
                log.warning(note)
            opts = {k: v for k, v in run.stage.remote_args.items()
                    if k in ("num_cpus", "num_gpus", "resources", "memory", "scheduling_strategy")}
            opts.setdefault("num_cpus", 1)
            run.actors = [_MapWorker.options(**opts).remote(run.stage.transform, pool) for _ in range(size)]
            run.loads = [0] * size
            run.ready = [False] * size
            run.per_actor = pool.max_tasks_in_flight_per_actor
            run.max_slots = size * run.per_actor
            run.slots = 0                      # grows as actors come up; reads start meanwhile
            run.starting = {a.ready.remote(): i for i, a in enumerate(run.actors)}

    def _actor_ready(self, ref) -> bool:
        """If `ref` is an actor's ready() reply: count the actor in (its constructor's error raises here)."""
        for run in self.runs:
            if ref in run.starting:
                i = run.starting.pop(ref)
                try:
                    strato.get(ref)
                except ActorDiedError as exc:         # its constructor raised: raise that, as its own type
                    cause = getattr(exc, "creation_error", None)
                    if isinstance(cause, TaskError):
                        raise cause.as_instanceof_cause() from exc
                    raise
                run.ready[i] = True
                run.slots += run.per_actor
                return True
        return False

    def _stop_pools(self) -> None:
        for run in self.runs:
            for actor in run.actors:
                try:
                    strato.kill(actor)
                except Exception as exc:       # noqa: BLE001 - already gone, or the cluster is: nothing to stop
                    log.debug("could not kill a map_batches actor: %s", exc)
            run.actors = []

    # ------------------------------------------------------------------ scheduling
    def _pull_input(self) -> bool:
        if self.exhausted:
            return False
        try:
            item = next(self.inputs)
        except StopIteration:
            self.exhausted = True
            return False
        if isinstance(item, ReadTask):
            heapq.heappush(self.runs[0].queue, (self.next_in, item, item.size_bytes))
        else:
            ref, meta = item
            heapq.heappush(self.runs[0].queue, (self.next_in, ref, meta.size_bytes))
        self.next_in += 1
        return True

    def _launch(self, i: int) -> None:
        run = self.runs[i]
        if i == 0 and not run.queue and not self._pull_input():
            return
        seq, item, in_bytes = heapq.heappop(run.queue)
        est = run.est_output(in_bytes)
        if isinstance(run.stage, ActorStage):
            loads = [n if ok else 1 << 30 for n, ok in zip(run.loads, run.ready)]
            a = policy.least_loaded(loads, run.last_actor)
            run.last_actor = a
            run.loads[a] += 1
            block_ref, meta_ref = run.actors[a].process.remote(item, seq)
        else:
            opts = dict(run.stage.remote_args)
            block_ref, meta_ref = _run_task.options(num_returns=2, **opts).remote(item, run.stage.transforms, seq)
            a = None
        run.running[meta_ref] = (seq, block_ref, in_bytes, est, a)

    def _complete(self, meta_ref) -> None:
        for i, run in enumerate(self.runs):
            if meta_ref in run.running:
                break
        seq, block_ref, in_bytes, _, a = run.running.pop(meta_ref)
        if a is not None:
            run.loads[a] -= 1
        meta = strato.get(meta_ref)          # raises the user's error
        if i > 0:
            self.held -= in_bytes or 0
        self.held += meta.size_bytes
        run.finished(in_bytes, meta.size_bytes)
        st = run.stats
        st.done += 1
        st.rows += meta.num_rows
        st.bytes += meta.size_bytes
        if self.exhausted and not run.queue and not run.running and \
                all(not r.running and not r.queue for r in self.runs[:i]):
            st.end = time.monotonic()
        self.progress.update(st)
        if i + 1 < len(self.runs):
            heapq.heappush(self.runs[i + 1].queue, (seq, block_ref, meta.size_bytes))
        else:
            self.reorder[seq] = (block_ref, meta)

    def _loads(self) -> list[policy.StageLoad]:
        out = []
        growth = [r._out / r._in if r._in else 1.0 for r in self.runs]
        for i, run in enumerate(self.runs):
            queued = len(run.queue) + (1 if i == 0 and not self.exhausted else 0)
            nxt = run.queue[0][2] if run.queue else None
            est = policy.footprint(run.est_output(nxt), growth[i + 1:])
            out.append(policy.StageLoad(queued, len(run.running), run.slots, est, 2 * run.max_slots))
        return out

    def _running_est(self) -> int:
        return sum(v[3] for run in self.runs for v in run.running.values())

    def _idle(self) -> bool:
        return self.exhausted and not self.reorder and all(not r.queue and not r.running for r in self.runs)

    # ------------------------------------------------------------------ the loop
    def __iter__(self):
        if not self.runs:
            yield from self.inputs
            return
        try:
            self._start_pools()
            for st in (r.stats for r in self.runs):
                st.start = time.monotonic()
            while True:
                while len(self.runs[0].queue) < self.runs[0].slots and self._pull_input():
                    pass
                for i in policy.launches(self._loads(), self.held + self._running_est(), self.budget):
                    self._launch(i)
                while self.next_out in self.reorder:
                    ref, meta = self.reorder.pop(self.next_out)
                    self.next_out += 1
                    self.held -= meta.size_bytes
                    yield ref, meta
                if self._idle():
                    break
                refs = [r for run in self.runs for r in (*run.running, *run.starting)]
                if not refs:
                    if not self.exhausted and not any(r.queue for r in self.runs):
                        self._pull_input()       # the first stage had no room the policy would grant
                    continue
                ready, _ = strato.wait(refs, num_returns=1, timeout=WAIT_S)
                if ready:
                    ready, _ = strato.wait(refs, num_returns=len(refs), timeout=0)
                    for ref in ready:
                        if not self._actor_ready(ref):
                            self._complete(ref)
            now = time.monotonic()
            for r in self.runs:
                r.stats.end = r.stats.end or now
        finally:
            self._stop_pools()
            for run in self.runs:
                run.running.clear()
                run.queue.clear()
            self.reorder.clear()


def _limit(blocks, n: int):
    """The first n rows of a stream of blocks; closes the stream once it has them."""
    got = 0
    try:
        if n <= 0:
            return
        for ref, meta in blocks:
            if got + meta.num_rows <= n:
                got += meta.num_rows
                yield ref, meta
            else:
                table = strato.get(ref).slice(0, n - got)
                got = n
                yield strato.put(table), B.BlockMetadata.of(table, meta.node_id)
            if got >= n:
                return
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()


class AllToAllContext:
    """What an all-to-all operator gets: the cluster's CPUs, for its number of tasks in flight."""

    def __init__(self, stats: StageStats, progress):
        self.stats = stats
        self.progress = progress

    def task_done(self, rows: int = 0, size: int = 0) -> None:
        self.stats.done += 1
        self.stats.rows += rows
        self.stats.bytes += size
        self.progress.update(self.stats)


def plan_stats(source: Source, ops: tuple) -> tuple[list[Segment], list[list[StageStats]]]:
    segs = segments(source, ops)
    stats = []
    total = source.num_items()
    for seg in segs:
        if isinstance(seg.head, LimitOp):
            total = None
        seg_stats = []
        if isinstance(seg.head, AllToAllOp):
            seg_stats.append(StageStats(seg.head.name, total))
        for stage in seg.stages:
            seg_stats.append(StageStats(stage.name, total))
        stats.append(seg_stats)
    return segs, stats


def execute(source: Source, ops: tuple, ctx, progress, stats_out: list | None = None):
    """Generator of (block ref, BlockMetadata) for the dataset `source` + `ops`, in order."""
    segs, stats = plan_stats(source, ops)
    flat = [s for seg in stats for s in seg]
    if stats_out is not None:
        stats_out[:] = flat
    budget = ctx.budget_bytes()
    progress.start(flat)
    try:
        stream = iter(source.read_tasks or source.blocks)
        for seg, seg_stats in zip(segs, stats):
            if isinstance(seg.head, AllToAllOp):
                a2a = seg_stats[0]
                blocks = list(stream)
                a2a.total = seg.head.num_blocks or len(blocks)
                out = seg.head.fn(blocks, AllToAllContext(a2a, progress))
                a2a.end = time.monotonic()
                stream = iter(out)
                seg_stats = seg_stats[1:]
                for s in seg_stats:
                    s.total = len(out)
            elif isinstance(seg.head, LimitOp):
                stream = _limit(stream, seg.head.n)
            stream = iter(SegmentRun(seg, stream, seg_stats, budget, ctx, progress))
        yield from stream
        progress.finish(ok=True)
    except GeneratorExit:              # the consumer stopped early (take, limit, schema)
        progress.finish(ok=True)
        raise
    except BaseException:
        progress.finish(ok=False)
        raise
