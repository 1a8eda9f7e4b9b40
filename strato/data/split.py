"""Splitting a materialized dataset into n shards (Dataset.split, and streaming_split with equal=True).

    split_rows(row_counts, n, equal)              which slices of which blocks each shard gets
    locality_order(block_nodes, shard_nodes, ...) which blocks each shard should take, nodes first
    hint_nodes(hints)                             locality_hints (actors or node ids) -> node ids
    LocalityHandout                               streaming_split: who gets each streamed block

Shards are contiguous row ranges in the dataset's order (shard i holds the
rows before shard i+1's), sized like numpy.array_split; with equal=True each
holds total // n rows and the remainder is dropped (as Ray does). A block
that lies wholly in one shard is shared as is (no copy); a block that
straddles a boundary is cut by a small slice task next to it.

With locality_hints (one actor per shard), blocks are first given to the
shards whose actor runs on the block's node, up to each shard's row target,
and the rest fill the shards still short; shards are then no longer
contiguous ranges, only balanced.

streaming_split(equal=False) hands blocks out as they are made. With
locality_hints a block made on another reader's node is held back for that
reader (at most `hold` blocks at a time) while the asking reader pulls the
next one; a reader takes held blocks of its own node first, and once the
stream has ended, whatever is left.
"""
from __future__ import annotations

from collections import deque

import numpy as np

import strato
from strato.data import block as B


def split_rows(row_counts: list[int], n: int, equal: bool) -> list[list[tuple[int, int, int]]]:
    """For each of n shards, its (block index, start, length) slices, in dataset order."""
    total = sum(row_counts)
    if equal:
        per = total // n
        bounds = [i * per for i in range(n + 1)]
    else:
        # np.array_split sizes: the first total % n shards get one more row
        q, r = divmod(total, n)
        bounds = [i * q + min(i, r) for i in range(n + 1)]
    return slices_between(row_counts, bounds)


def slices_between(row_counts: list[int], bounds) -> list[list[tuple[int, int, int]]]:
    """For each row range [bounds[i], bounds[i+1]), the (block index, start, length) slices of the blocks
    (of `row_counts` rows each, in order) that cover it (split and repartition cut rows this way)."""
    starts = np.concatenate([[0], np.cumsum(row_counts)]).astype(int)
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        pieces = []
        for b, (s, c) in enumerate(zip(starts[:-1], row_counts)):
            a, z = max(lo, s), min(hi, s + c)
            if z > a:
                pieces.append((b, int(a - s), int(z - a)))
        out.append(pieces)
    return out


def locality_order(row_counts: list[int], block_nodes: list, shard_nodes: list, equal: bool
                   ) -> list[list[tuple[int, int, int]]]:
    """Shards as (block, start, length) slices, giving each shard blocks from its own node first."""
    n = len(shard_nodes)
    total = sum(row_counts)
    if equal:
        targets = [total // n] * n
    else:
        q, r = divmod(total, n)
        targets = [q + (1 if i < r else 0) for i in range(n)]
    left = dict(enumerate(row_counts))          # block -> rows not yet given
    offset = {b: 0 for b in left}
    shards: list[list] = [[] for _ in range(n)]
    need = list(targets)

    def give(i, b):
        take = min(need[i], left[b])
        if take <= 0:
            return
        shards[i].append((b, offset[b], take))
        offset[b] += take
        left[b] -= take
        need[i] -= take

    for i, node in enumerate(shard_nodes):       # own node's whole blocks first
        for b, bnode in enumerate(block_nodes):
            if node is not None and bnode == node and left[b] and left[b] <= need[i]:
                give(i, b)
    for i in range(n):                           # then fill from anywhere
        for b in range(len(row_counts)):
            if need[i] <= 0:
                break
            if left[b]:
                give(i, b)
    return shards


@strato.remote(num_returns=2)
def _slice(table, start, length):
    out = table.slice(start, length)
    return out, B.BlockMetadata.of(out, strato.get_runtime_context().get_node_id())


def cut(blocks: list[tuple], shards: list[list[tuple[int, int, int]]]) -> list[list[tuple]]:
    """The (ref, meta) blocks of each shard: whole blocks shared, partial ones sliced by tasks."""
    out = []
    pending = []
    for pieces in shards:
        shard = []
        for b, start, length in pieces:
            ref, meta = blocks[b]
            if start == 0 and length == meta.num_rows:
                shard.append((ref, meta))
            else:
                r, m = _slice.remote(ref, start, length)
                shard.append((r, m))
                pending.append(m)
        out.append(shard)
    metas = dict(zip(pending, strato.get(pending))) if pending else {}
    return [[(r, metas.get(m, m)) for r, m in shard] for shard in out]


def actor_nodes(actors: list) -> list:
    """The node id (hex) each actor runs on, or None when the state API does not say."""
    try:
        from strato.util.state import list_actors
        rows = {a["actor_id"]: a.get("node_id") for a in list_actors(limit=10_000)}
    except Exception:      # noqa: BLE001 - no state API (e.g. an old cluster): no locality, still correct
        return [None] * len(actors)
    out = []
    for a in actors:
        aid = getattr(a, "_actor_id", None)
        out.append(rows.get(aid.hex() if isinstance(aid, bytes) else aid))
    return out


def hint_nodes(hints: list) -> list:
    """Node ids (hex) from locality_hints: node id strings as given (Ray's streaming_split), actors
    where the state API says they run (Ray's split)."""
    actors = [h for h in hints if not isinstance(h, str)]
    nodes = iter(actor_nodes(actors)) if actors else iter(())
    return [h if isinstance(h, str) else next(nodes) for h in hints]


class LocalityHandout:
    """Which streamed block each of streaming_split's readers gets (pure; the coordinator actor owns one).

    `reader_nodes[i]` is reader i's node (None: no preference). A block made on the asking reader's node,
    or on no other active reader's, goes to it at once; one made on another active reader's node is held
    for that reader while fewer than `hold` are held, else given away too.
    """

    def __init__(self, reader_nodes: list, hold: int):
        self.nodes = list(reader_nodes)
        self.hold = hold
        self.held: deque = deque()              # (item, node), oldest first

    def take_for(self, index: int):
        """A held block made on reader `index`'s node, or None."""
        node = self.nodes[index]
        if node is None:
            return None
        for i, (item, made_on) in enumerate(self.held):
            if made_on == node:
                del self.held[i]
                return item
        return None

    def take_any(self):
        """The oldest held block (the stream has ended), or None."""
        return self.held.popleft()[0] if self.held else None

    def offer(self, index: int, item, made_on, active):
        """Reader `index` pulled `item` (made on node `made_on`): the item if it gets it now, else None (held)."""
        if made_on is None or made_on == self.nodes[index] or len(self.held) >= self.hold:
            return item
        if any(self.nodes[j] == made_on for j in active if j != index):
            self.held.append((item, made_on))
            return None
        return item
