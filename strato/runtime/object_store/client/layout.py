"""How a large value is laid out in one shared-memory region, and the marker that names it.

    offset 0   header: magic "STRO", buffer count, stream length, then
               (offset, length) of every out-of-band buffer
    ...        the pickle stream (protocol 5)
    ...        each out-of-band buffer (numpy arrays, Arrow buffers), 64-byte aligned

The value is pickled once with out-of-band buffers (PEP 574): the stream
holds everything but the large buffers, which are copied straight from the
caller's memory into the region. Reading hands pickle memoryviews of the
mapped region, so numpy arrays and Arrow tables come back as read-only
views of the shared memory, not copies.

A value that lives in a store travels everywhere else -- task replies, the
owner's memory store, arguments inlined into task specs -- as a *marker*:
a few bytes naming the node whose store holds the primary copy. Pickle
streams start with b"\\x80", markers with b"\\x00SHM", so one byte tells
them apart.
"""
from __future__ import annotations

import dataclasses
import pickle
import struct

import cloudpickle

from strato.runtime import serialization

MAGIC = b"STRO"
ALIGN = 64
_HEAD = struct.Struct("<4sIQ")          # magic, buffer count, stream length
_BUF = struct.Struct("<QQ")             # offset, length
MARKER_PREFIX = b"\x00SHM"
_MARKER = struct.Struct("<16sQ")        # node id, size; then the raylet address (utf-8)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclasses.dataclass
class Layout:
    stream: bytes
    buffers: list                        # contiguous 1-D byte memoryviews
    offsets: list
    size: int
    contained: list                      # ObjectRefs found inside the value

    @property
    def header_size(self) -> int:
        return _HEAD.size + _BUF.size * len(self.buffers)


def dumps_oob(value, what: str = "value") -> tuple[bytes, list, list]:
    """Pickle with out-of-band buffers: (stream, [raw buffers], contained refs)."""
    buffers: list = []
    try:
        stream, refs = serialization.serialize(value, what, buffer_callback=buffers.append)
    except TypeError as exc:
        if "buffer_callback" not in str(exc):
            raise
        stream, refs = _serialize_fallback(value, what, buffers)
    return stream, [b.raw() for b in buffers], refs


def _serialize_fallback(value, what, buffers):  # pragma: no cover - until serialization takes buffer_callback
    refs: list = []
    local = serialization._local
    outer = getattr(local, "refs", None)
    local.refs = refs
    try:
        stream = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    except Exception as exc:
        raise serialization.SerializationError(f"Could not serialize the {what}: {type(exc).__name__}: {exc}") \
            from exc
    finally:
        local.refs = outer
    return stream, refs


def make_layout(stream: bytes, buffers: list, contained: list | None = None) -> Layout:
    pos = _align(_HEAD.size + _BUF.size * len(buffers) + len(stream))
    offsets = []
    for b in buffers:
        offsets.append(pos)
        pos = _align(pos + b.nbytes)
    return Layout(stream, buffers, offsets, pos if buffers else _HEAD.size + len(stream), contained or [])


def serialize_large(value, what: str = "value") -> Layout:
    stream, buffers, refs = dumps_oob(value, what)
    return make_layout(stream, buffers, refs)


def payload_size(stream: bytes, buffers: list) -> int:
    return len(stream) + sum(b.nbytes for b in buffers)


PARALLEL_COPY_BYTES = 32 << 20
_copier = None


def _copy(dst: memoryview, src) -> None:
    """memcpy; buffers over 32 MiB are copied by two threads (numpy releases the GIL)."""
    n = src.nbytes
    if n < PARALLEL_COPY_BYTES:
        dst[:n] = src
        return
    import concurrent.futures

    import numpy as np
    global _copier
    if _copier is None:
        _copier = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="strato-copy")
    d = np.frombuffer(dst, dtype=np.uint8, count=n)
    s = np.frombuffer(src, dtype=np.uint8, count=n)
    half = n // 2 // 4096 * 4096
    other = _copier.submit(np.copyto, d[half:], s[half:])
    np.copyto(d[:half], s[:half])
    other.result()


def write_layout(layout: Layout, dst: memoryview) -> None:
    """Copy the layout into `dst` (a writable byte view of at least layout.size bytes)."""
    n = len(layout.buffers)
    _HEAD.pack_into(dst, 0, MAGIC, n, len(layout.stream))
    pos = _HEAD.size
    for off, b in zip(layout.offsets, layout.buffers):
        _BUF.pack_into(dst, pos, off, b.nbytes)
        pos += _BUF.size
    dst[pos:pos + len(layout.stream)] = layout.stream
    for off, b in zip(layout.offsets, layout.buffers):
        _copy(dst[off:off + b.nbytes], b)


def read_layout(src: memoryview) -> tuple[memoryview, list]:
    """(stream, [buffers]) as views of `src`; nothing is copied."""
    magic, n, stream_len = _HEAD.unpack_from(src, 0)
    if magic != MAGIC:
        raise ValueError("not a strato object layout (corrupt or overwritten shared memory)")
    pos = _HEAD.size
    buffers = []
    for _ in range(n):
        off, length = _BUF.unpack_from(src, pos)
        buffers.append(src[off:off + length])
        pos += _BUF.size
    return src[pos:pos + stream_len], buffers


def loads_layout(src: memoryview, worker=None):
    stream, buffers = read_layout(src)
    with serialization.deserialization_context(worker):
        return pickle.loads(stream, buffers=buffers)


# ------------------------------------------------------------ markers
@dataclasses.dataclass(frozen=True)
class Marker:
    node_id: bytes
    size: int
    raylet_address: str


def encode_marker(node_id: bytes, size: int, raylet_address: str) -> bytes:
    return MARKER_PREFIX + _MARKER.pack(node_id.ljust(16, b"\0")[:16], size) + raylet_address.encode()


def is_marker(data) -> bool:
    return data[:4] == MARKER_PREFIX


def decode_marker(data: bytes) -> Marker | None:
    if data[:4] != MARKER_PREFIX:
        return None
    node_id, size = _MARKER.unpack_from(data, 4)
    return Marker(node_id, size, bytes(data[4 + _MARKER.size:]).decode())
