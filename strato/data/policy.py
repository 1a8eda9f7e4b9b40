"""The streaming executor's decisions, as pure functions over plain numbers (unit-tested alone).

    launches(stages, bytes_in_store, budget)   which stages start a task now
    actor_pool_size(...)                        how many actors a map_batches pool gets
    least_loaded(loads, last)                   which actor takes the next block
    task_slots(cluster_cpus, task_cpus)         tasks of one stage in flight at once

Memory rule. Blocks a running pipeline holds in the object store -- outputs
waiting for the next operator or for the consumer, plus what running tasks
are expected to produce -- must stay within a budget (by default a quarter of
the store, DataContext.max_bytes_in_flight). Only the first operator (the one
that brings new data in, e.g. a read) is held back by the budget. Operators
downstream turn blocks already counted into new ones, and each may always
have one task running, so the pipeline keeps draining; they take more slots
while the budget allows. When nothing at all is running, the first operator
may start one task whatever the budget, so a single block larger than the
budget still goes through. Downstream operators are served first.

Queue rule. An operator may also not run ahead of the next one: its running
tasks plus the blocks waiting for the next operator stay under that
operator's `queue_cap` (twice its slots), so a fast read does not fill the
store with blocks a slow actor pool cannot take yet. And what a block will
grow into downstream counts: `est_output_bytes` is the next task's output
times the growth the later operators have shown so far (`footprint`).

Held in the store: about the budget, plus at most one block per downstream
operator; until each operator's first blocks are seen, its output size is
guessed from its input's, so the first few blocks can overshoot.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class StageLoad:
    """One operator's state as the policy sees it."""
    queued: int               # inputs ready and not yet started
    running: int              # tasks in flight
    slots: int                # most tasks this operator may have in flight
    est_output_bytes: int     # bytes the next task's block is expected to take, downstream growth included
    queue_cap: int = 1 << 30  # most blocks that may wait for this operator (queued + its feeders' running)


def launches(stages: Sequence[StageLoad], bytes_in_store: int, budget: int) -> list[int]:
    """Indexes of the stages that start one task each, in the order to start them (an index
    appears once per task). Stage 0 is the first operator; the last one feeds the consumer."""
    queued = [s.queued for s in stages]
    running = [s.running for s in stages]
    used = bytes_in_store
    out: list[int] = []
    progress = True
    while progress:
        progress = False
        for i in reversed(range(len(stages))):
            s = stages[i]
            if queued[i] <= 0 or running[i] >= s.slots:
                continue
            if i + 1 < len(stages) and running[i] + queued[i + 1] >= stages[i + 1].queue_cap:
                continue
            fits = used + s.est_output_bytes <= budget
            if i == 0:
                allowed = fits or sum(running) == 0
            else:
                allowed = fits or running[i] == 0
            if not allowed:
                continue
            out.append(i)
            queued[i] -= 1
            running[i] += 1
            used += s.est_output_bytes
            progress = True
    return out


def footprint(est_output_bytes: int, growth: Sequence[float]) -> int:
    """What a block becomes after the later operators, given each one's output/input ratio so far."""
    total = float(est_output_bytes)
    for g in growth:
        total *= max(g, 1.0)
    return int(total)


def task_slots(cluster_cpus: float, task_cpus: float, concurrency: int | None = None) -> int:
    """Tasks of one operator in flight: as many as the cluster can run at once (at least one),
    and no more than the user's `concurrency` when given."""
    if task_cpus <= 0:
        slots = max(1, int(2 * cluster_cpus))
    else:
        slots = max(1, int(cluster_cpus // task_cpus))
    return min(slots, concurrency) if concurrency else slots


class PoolTooLarge(ValueError):
    """The cluster cannot hold one actor of the pool next to the tasks that feed it."""


def actor_pool_size(min_size: int, max_size: int, cluster_cpus: float, actor_cpus: float,
                    reserved_cpus: float) -> tuple[int, str | None]:
    """(actors to start, a note when fewer than asked).

    The pool gets at most what is left after `reserved_cpus` (what one task of every other
    operator of the pipeline needs): a pool that took every CPU would wait forever for blocks
    that the read tasks have no CPU to produce. Raises PoolTooLarge when not even one actor fits.
    """
    if actor_cpus <= 0:
        return max_size, None
    fit = math.floor((cluster_cpus - reserved_cpus) / actor_cpus + 1e-9)
    if fit < 1:
        raise PoolTooLarge(
            f"map_batches' actor pool cannot run here: each actor needs {actor_cpus:g} CPU and the tasks "
            f"feeding it need {reserved_cpus:g}, but the cluster has {cluster_cpus:g} CPUs. Give the "
            f"actors fewer CPUs (num_cpus=0.5), or start the cluster with more (strato.init(num_cpus=...)).")
    size = min(max_size, fit)
    if size < min_size:
        return size, (f"map_batches: starting {size} actor(s), not {min_size}: {reserved_cpus:g} of the "
                      f"cluster's {cluster_cpus:g} CPUs stay free for the tasks that feed the pool.")
    return size, None


def least_loaded(loads: Sequence[int], last: int = -1) -> int:
    """The actor with the fewest blocks in flight; among equals, the first after `last` (the
    previous pick), so that an idle pool takes turns."""
    n = len(loads)
    order = [(last + 1 + k) % n for k in range(n)]
    return min(order, key=loads.__getitem__)
