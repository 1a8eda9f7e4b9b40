"""The logical plan (what a Dataset is) and how it becomes stages for the executor.

A Dataset is a `Source` followed by a tuple of operators; transforming a
dataset returns a new one with one more operator, and nothing runs until a
consumer asks (lazy). `segments(source, ops)` turns that into what the
executor runs:

    Source ─ Map ─ Map ─ ActorMap ─ Map ─ AllToAll ─ Map ─ Limit ─ ...
    └─ TaskStage(read+map+map) ─ ActorStage ─ TaskStage ┘  └ segment 2 ┘ ...

* Consecutive task-based maps with the same resource options fuse into one
  TaskStage (one task per block), together with the read when the source is
  read tasks ("ReadParquet->MapBatches(f)", as Ray names fused operators);
  a map's `concurrency=n` (a function's tasks in flight) then bounds the
  fused stage, and two different bounds do not fuse.
* A map_batches on a callable class with `concurrency=` is an ActorStage.
* All-to-all operators (repartition, random_shuffle, groupby) and `limit`
  need every block of what precedes them, so they end a segment; the next
  segment starts from their output blocks.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Source:
    """Read tasks to run, or blocks already in the store ([(ref, BlockMetadata)])."""
    name: str
    read_tasks: tuple = ()
    blocks: tuple = ()

    @property
    def is_read(self) -> bool:
        return bool(self.read_tasks)

    def num_items(self) -> int:
        return len(self.read_tasks) if self.read_tasks else len(self.blocks)


@dataclasses.dataclass(frozen=True)
class ActorPoolSpec:
    """map_batches on a callable class: the class, its arguments, and the pool's bounds."""
    cls: type
    ctor_args: tuple
    ctor_kwargs: dict
    min_size: int
    max_size: int
    max_tasks_in_flight_per_actor: int = 2


@dataclasses.dataclass(frozen=True)
class MapOp:
    name: str
    transform: object                  # block -> block (transforms.py)
    remote_args: tuple = ()            # sorted (option, value) pairs: num_cpus, num_gpus, ...
    pool: ActorPoolSpec | None = None
    concurrency: int | None = None     # a function's tasks in flight at most (map_batches(fn, concurrency=n))


@dataclasses.dataclass(frozen=True)
class AllToAllOp:
    """fn(blocks, ctx) -> blocks, where blocks is [(ref, BlockMetadata)] (alltoall.py)."""
    name: str
    fn: object
    num_blocks: int | None = None      # blocks it outputs, when known before it runs


@dataclasses.dataclass(frozen=True)
class LimitOp:
    n: int

    @property
    def name(self) -> str:
        return f"Limit[{self.n}]"


@dataclasses.dataclass
class TaskStage:
    name: str
    transforms: list
    remote_args: dict
    concurrency: int | None = None


@dataclasses.dataclass
class ActorStage:
    name: str
    transform: object                 # a MapBatches to bind to each actor's instance
    pool: ActorPoolSpec
    remote_args: dict


@dataclasses.dataclass
class Segment:
    """Stages that stream one after another; `head` is a Source or the AllToAllOp/LimitOp whose
    output starts this segment (None for the first segment, which starts from `source`)."""
    head: object
    stages: list
    source: Source | None = None


def segments(source: Source, ops: tuple) -> list[Segment]:
    first = Segment(None, [], source)
    if source.is_read:
        first.stages.append(TaskStage(source.name, [], {}))
    out = [first]
    for op in ops:
        seg = out[-1]
        if isinstance(op, (AllToAllOp, LimitOp)):
            out.append(Segment(op, []))
            continue
        remote_args = dict(op.remote_args)
        if op.pool is not None:
            seg.stages.append(ActorStage(op.name, op.transform, op.pool, remote_args))
            continue
        last = seg.stages[-1] if seg.stages else None
        if isinstance(last, TaskStage) and last.remote_args == remote_args and \
                (op.concurrency is None or last.concurrency in (None, op.concurrency)):
            last.transforms.append(op.transform)
            last.name = f"{last.name}->{op.name}"
            last.concurrency = op.concurrency or last.concurrency
        else:
            seg.stages.append(TaskStage(op.name, [op.transform], remote_args, op.concurrency))
    return out


def describe(source: Source, ops: tuple) -> str:
    """The plan as Ray prints it, last operator first."""
    names = [source.name] + [op.name for op in ops]
    lines = [names[-1]]
    for depth, name in enumerate(reversed(names[:-1]), 1):
        lines.append("   " * (depth - 1) + "+- " + name)
    return "\n".join(lines)
