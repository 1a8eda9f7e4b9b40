"""`as_completed` and `map_unordered`: results as they finish (Ray's ray.util helpers).

    for value in as_completed(refs, chunk_size=2): ...          # batches of 2 ready results
    for value in map_unordered(f, items, backpressure_size=8):  # at most 8 tasks in flight

Both wait with `strato.wait` (so a batch keeps submission order within
itself) and `get` each batch, or yield the refs with `yield_obj_refs=True`.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from strato import _context

DEFAULT_CHUNK_SIZE = 10
DEFAULT_BACKPRESSURE_SIZE = 100


def _check_chunk_size(chunk_size, kwargs: dict) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    if "num_returns" in kwargs:
        raise ValueError("Give chunk_size instead of num_returns: it is what each wait() returns at most.")


def _batch(refs: list, chunk_size: int, yield_obj_refs: bool, kwargs: dict) -> tuple[list, list]:
    unknown = sorted(set(kwargs) - {"timeout", "fetch_local"})
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {unknown}; these helpers pass on timeout and fetch_local")
    cw = _context.require_worker("wait")          # strato.util never imports the public API (strato.api)
    found = cw.wait_objects(refs, min(chunk_size, len(refs)), kwargs.get("timeout"), raise_timeout=False)
    ready = [r for r in refs if r._id in found][:chunk_size]
    taken = {r._id for r in ready}
    rest = [r for r in refs if r._id not in taken]
    return (ready if yield_obj_refs else cw.get(ready, None)), rest


def as_completed(refs, *, chunk_size: int = DEFAULT_CHUNK_SIZE, yield_obj_refs: bool = False,
                 **kwargs) -> Iterator[Any]:
    """Yield the results of `refs` (or the refs, `yield_obj_refs=True`) in batches of up to `chunk_size`
    as they become ready. Extra keyword arguments go to strato.wait (timeout, fetch_local)."""
    _check_chunk_size(chunk_size, kwargs)
    refs = list(refs)
    while refs:
        done, refs = _batch(refs, chunk_size, yield_obj_refs, kwargs)
        yield from done


def map_unordered(fn, items: Iterable[Any], *, backpressure_size: int | None = DEFAULT_BACKPRESSURE_SIZE,
                  chunk_size: int = DEFAULT_CHUNK_SIZE, yield_obj_refs: bool = False, **kwargs) -> Iterator[Any]:
    """Run the remote function `fn` on every item and yield results as they finish, with at most
    `backpressure_size` tasks in flight (None: no limit)."""
    from strato.remote_function import RemoteFunction
    if not isinstance(fn, RemoteFunction):
        raise TypeError(f"map_unordered() takes a remote function (@strato.remote), got {type(fn).__name__}")
    _check_chunk_size(chunk_size, kwargs)
    if backpressure_size is not None and (isinstance(backpressure_size, bool) or not isinstance(backpressure_size, int)
                                          or backpressure_size < 1):
        raise ValueError(f"backpressure_size must be None or an int >= 1, got {backpressure_size!r}")
    in_flight: list = []
    for item in items:
        if backpressure_size is not None and len(in_flight) >= backpressure_size:
            done, in_flight = _batch(in_flight, chunk_size, yield_obj_refs, kwargs)
            yield from done
        in_flight.append(fn.remote(item))
    yield from as_completed(in_flight, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs, **kwargs)
