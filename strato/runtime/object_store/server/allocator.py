"""First-fit allocator over one arena of bytes (pure logic: no IO).

The arena is a single shared-memory file mapped once per process; this
class only hands out page-aligned [offset, offset + size) ranges of it.
First fit by lowest address on purpose: a region freed by the last put is
the first one the next put gets, so its pages are already backed by tmpfs
and already mapped in the writer (rewriting mapped pages runs at memcpy
speed; touching fresh ones costs a page fault each).
"""
from __future__ import annotations

import bisect

from strato.exceptions import InvariantError

PAGE = 4096


def align_up(n: int, to: int = PAGE) -> int:
    return (n + to - 1) // to * to


class OutOfMemory(Exception):
    """No free range is large enough (the caller evicts or spills and retries)."""


class Allocator:
    def __init__(self, capacity: int, page: int = PAGE):
        self.page = page
        self.capacity = capacity // page * page
        self._starts: list[int] = [0] if self.capacity else []   # free ranges, sorted by start
        self._sizes: dict[int, int] = {0: self.capacity} if self.capacity else {}
        self.used = 0

    def alloc(self, size: int) -> tuple[int, int]:
        """Reserve at least `size` bytes; returns (offset, reserved size)."""
        need = align_up(max(size, 1), self.page)
        for start in self._starts:
            avail = self._sizes[start]
            if avail >= need:
                self._take(start, avail, need)
                self.used += need
                return start, need
        raise OutOfMemory(need)

    def fits(self, size: int) -> bool:
        need = align_up(max(size, 1), self.page)
        return any(s >= need for s in self._sizes.values())

    def largest_free(self) -> int:
        return max(self._sizes.values(), default=0)

    def free(self, offset: int, size: int) -> None:
        if offset % self.page or size % self.page or offset + size > self.capacity:
            raise ValueError(f"bad range [{offset}, {offset + size})")
        i = bisect.bisect_left(self._starts, offset)
        if i < len(self._starts) and self._starts[i] < offset + size:
            raise ValueError(f"double free of [{offset}, {offset + size})")
        if i > 0:
            prev = self._starts[i - 1]
            if prev + self._sizes[prev] > offset:
                raise ValueError(f"double free of [{offset}, {offset + size})")
        self.used -= size
        # Coalesce with the following and the preceding free range.
        if i < len(self._starts) and self._starts[i] == offset + size:
            nxt = self._starts.pop(i)
            size += self._sizes.pop(nxt)
        if i > 0:
            prev = self._starts[i - 1]
            if prev + self._sizes[prev] == offset:
                self._sizes[prev] += size
                return
        self._starts.insert(i, offset)
        self._sizes[offset] = size

    def _take(self, start: int, avail: int, need: int) -> None:
        i = bisect.bisect_left(self._starts, start)
        del self._starts[i]
        del self._sizes[start]
        if avail > need:
            self._starts.insert(i, start + need)
            self._sizes[start + need] = avail - need

    def free_ranges(self) -> list[tuple[int, int]]:
        return [(s, self._sizes[s]) for s in self._starts]

    def validate(self) -> None:
        """Free ranges are page-aligned, apart, inside the arena, and add up with `used` to the capacity.

        Raises InvariantError naming the rule broken.
        """
        total = 0
        prev_end = -1
        for s in self._starts:
            size = self._sizes[s]
            if not (size > 0 and s % self.page == 0 and size % self.page == 0):
                raise InvariantError(f"free range ({s}, {size}) is empty or not page-aligned")
            if s <= prev_end:
                raise InvariantError(f"free range at {s} overlaps or touches the one before without being merged")
            prev_end = s + size
            total += size
        if prev_end > self.capacity:
            raise InvariantError(f"free ranges end at {prev_end}, past the arena's {self.capacity} bytes")
        if total + self.used != self.capacity:
            raise InvariantError(f"free {total} + used {self.used} bytes != capacity {self.capacity}")
