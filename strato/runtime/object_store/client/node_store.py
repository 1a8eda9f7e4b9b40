"""The core worker's handle on its node's store: what goes there, and reading it back.

    put(value) / a task's return value
        pickle once with out-of-band buffers (layout.dumps_oob)
        <= max_inline_bytes  -> the bytes, as before (owner's memory store, inline replies)
        >  max_inline_bytes  -> written once into the local store, sealed, pinned for its
                                owner; the bytes that travel instead are a marker naming
                                the node (layout.encode_marker)
    get of a marker           -> read from the local store; pulled from the node that
                                holds it first when that is another node
    owner's count reaches 0   -> free: the local store drops its copy and tells the
                                primary's node (which tells the nodes holding copies)
"""
from __future__ import annotations

import logging
import os
import pathlib
import sys

from strato import exceptions
from strato.runtime import serialization
from strato.runtime.object_store.client import layout as lay
from strato.runtime.object_store.client.store_client import StoreClient

logger = logging.getLogger(__name__)
_PKG_DIR = str(pathlib.Path(os.path.abspath(__file__)).parents[3])     # strato/ (runtime/object_store/client/ below it)


def user_call_site(skip_prefix: str = _PKG_DIR) -> str:
    """file:line of the innermost frame outside the strato package."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith(skip_prefix):
            return f"{os.path.basename(path)}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return ""


class NodeStore:
    def __init__(self, *, node_id: bytes, raylet_address: str, owner_address: str, max_inline_bytes: int,
                 client: StoreClient | None = None):
        self.node_id = node_id
        self.raylet_address = raylet_address
        self.owner_address = owner_address
        self.max_inline_bytes = max_inline_bytes
        self.client = client

    @classmethod
    def connect(cls, info, *, node_id: bytes, raylet_address: str, owner_address: str, token: str,
                max_inline_bytes: int) -> "NodeStore":
        """`info`: the raylet's GetObjectStoreInfoReply."""
        client = StoreClient(socket_path=info.socket_path, arena_path=info.arena_path, capacity=info.capacity,
                             token=token, client_id=owner_address)
        return cls(node_id=node_id, raylet_address=raylet_address, owner_address=owner_address,
                   max_inline_bytes=max_inline_bytes, client=client)

    @classmethod
    async def from_raylet(cls, raylet, *, node_id: bytes, raylet_address: str, owner_address: str, token: str,
                          max_inline_bytes: int) -> "NodeStore":
        """The node's store, found through its raylet (a core worker's start); without one, large values
        stay in process memory (a warning says so)."""
        from strato.runtime.protocol import raylet_pb2
        try:
            info = await raylet.call("GetObjectStoreInfo", raylet_pb2.GetObjectStoreInfoRequest(), timeout=10)
            return cls.connect(info, node_id=node_id, raylet_address=raylet_address, owner_address=owner_address,
                               token=token, max_inline_bytes=max_inline_bytes)
        except Exception as exc:
            logger.warning("no object store on this node (%s); large values stay in process memory", exc)
            return cls(node_id=node_id, raylet_address=raylet_address, owner_address=owner_address,
                       max_inline_bytes=max_inline_bytes)

    # ------------------------------------------------------------ writing
    def serialize(self, value, what: str, oid: bytes, *, owner: str = "", call_site: str = "",
                  replace: bool = False) -> tuple[bytes, list]:
        """(bytes to keep or send, refs contained in value): the value itself or a marker.
        `replace`: a task's return, which replaces what an earlier attempt left under that id."""
        stream, buffers, refs = lay.dumps_oob(value, what)
        size = lay.payload_size(stream, buffers)
        if size <= self.max_inline_bytes or self.client is None:
            if not buffers:
                return stream, refs
            return serialization.serialize(value, what)     # small arrays: keep them in-band
        layout = lay.make_layout(stream, buffers, refs)
        self.client.put_layout(oid, layout, owner=owner or self.owner_address,
                               call_site=call_site or user_call_site(), replace=replace)
        return lay.encode_marker(self.node_id, layout.size, self.raylet_address), refs

    # ------------------------------------------------------------ reading
    def deserialize(self, oid: bytes, data: bytes, worker):
        """The value behind bytes from the memory store: inline, or read from a store."""
        if data[:4] != lay.MARKER_PREFIX:
            return serialization.deserialize(data, worker)
        marker = lay.decode_marker(data)
        if self.client is None:
            raise exceptions.ObjectLostError(
                f"Object {oid.hex()} lives in a node's shared-memory store, but this process has no connection to "
                f"its node's store (it could not reach it at start, or strato.shutdown() closed it).")
        source = "" if marker.node_id == self.node_id else marker.raylet_address
        return self.client.get(oid, source, worker=worker)

    # ------------------------------------------------------------ freeing
    def free(self, items) -> None:
        """items: (oid, data) of owned objects that went out of scope; markers are freed in the stores."""
        out = []
        for oid, data in items:
            if data is not None and data[:4] == lay.MARKER_PREFIX:
                out.append((oid, lay.decode_marker(data).raylet_address))
        if out and self.client is not None:
            self.client.free(out)

    def stats(self) -> dict:
        return self.client.stats()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
