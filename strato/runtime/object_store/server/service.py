"""The raylet's object-store RPCs: info for local clients, pulls and frees between raylets.

Kept here so the raylet's servicer only forwards: GetObjectStoreInfo tells
a core worker where the socket and the arena are (and, on plain-TCP
clusters, the port of the TransferServer other raylets pull raw bytes from,
transfer.py); PullObject streams a local object to another raylet in 5 MiB
chunks over gRPC (the path on TLS clusters); FreeObjects drops copies when
their owner freed the object.
"""
from __future__ import annotations

import logging

import grpc

from strato import exceptions
from strato.runtime import tls
from strato.runtime.object_store.server.store_server import StoreServer, default_capacity
from strato.runtime.object_store.server.transfer import TransferServer, serve_chunks
from strato.runtime.protocol import raylet_pb2
from strato.runtime.rpc import RayletClient

logger = logging.getLogger("strato.object_store")


class ObjectStoreService:
    def __init__(self, *, node_id: bytes, session_dir: str, token: str, capacity: int | None = None,
                 full_timeout_s: float = 30.0):
        self.token = token
        self._raylets: dict[str, RayletClient] = {}
        self.store = StoreServer(node_id=node_id, capacity=int(capacity or default_capacity()),
                                 session_dir=session_dir, token=token, full_timeout_s=full_timeout_s,
                                 open_pull_stream=self._pull_stream, send_free=self._send_free,
                                 open_direct=self._direct_source)
        self.transfer: TransferServer | None = None
        self._data_ports: dict[str, int] = {}       # source raylet address -> its TransferServer port (0: none)

    @property
    def capacity(self) -> int:
        return self.store.capacity

    async def start(self, raylet_address: str) -> None:
        self.store.raylet_address = raylet_address
        await self.store.start()
        if tls.current() is None:          # plain TCP: pulls read raw bytes from a port of their own
            self.transfer = TransferServer(self.store, self.token, raylet_address.rpartition(":")[0])
            await self.transfer.start()

    async def stop(self) -> None:
        if self.transfer is not None:
            await self.transfer.stop()
        await self.store.stop()
        for client in self._raylets.values():
            try:
                await client.close()
            except Exception:
                pass

    def cleanup(self) -> None:
        self.store.cleanup()

    def _raylet(self, address: str) -> RayletClient:
        client = self._raylets.get(address)
        if client is None:
            client = self._raylets[address] = RayletClient(address, self.token)
        return client

    # ------------------------------------------------------------ outgoing
    async def _direct_source(self, address: str) -> tuple[str, int] | None:
        """(host, data port) of the raylet at `address` for a raw pull (transfer.py), or None: use gRPC."""
        if self.transfer is None:
            return None                     # a TLS cluster: bytes between nodes stay encrypted
        port = self._data_ports.get(address)
        if port is None:
            try:
                reply = await self._raylet(address).call("GetObjectStoreInfo",
                                                         raylet_pb2.GetObjectStoreInfoRequest(), timeout=10)
                port = self._data_ports[address] = reply.data_port
            except Exception as exc:
                logger.debug("no data port from %s (%s): pulling over gRPC", address, exc)
                return None
        return (address.rpartition(":")[0], port) if port else None

    async def _pull_stream(self, address: str, oid: bytes):
        req = raylet_pb2.PullObjectRequest(object_id=oid, requester=self.store.raylet_address)
        try:
            async for chunk in self._raylet(address).stream("PullObject", req):
                yield chunk.total_size, chunk.owner, chunk.call_site, chunk.offset, chunk.data
        except grpc.aio.AioRpcError as err:
            raise exceptions.ObjectLostError(
                f"Could not fetch object {oid.hex()} from the node at {address}: {err.code().name}: "
                f"{err.details()}. The node may have died, or the object was freed.") from None

    async def _send_free(self, address: str, oids: list[bytes]) -> None:
        try:
            await self._raylet(address).call("FreeObjects", raylet_pb2.FreeObjectsRequest(object_ids=oids),
                                             timeout=10)
        except Exception as exc:
            logger.debug("freeing %d object(s) at %s failed: %s", len(oids), address, exc)

    # ------------------------------------------------------------ RPC bodies
    def info_reply(self) -> raylet_pb2.GetObjectStoreInfoReply:
        return raylet_pb2.GetObjectStoreInfoReply(socket_path=self.store.socket_path,
                                                  arena_path=self.store.arena_path, capacity=self.store.capacity,
                                                  data_port=self.transfer.port if self.transfer else 0)

    async def pull(self, request, context):
        try:
            async for total, owner, call_site, pos, data in serve_chunks(self.store, request.object_id,
                                                                         request.requester):
                yield raylet_pb2.ObjectChunk(total_size=total, offset=pos, data=data, owner=owner,
                                             call_site=call_site)
        except exceptions.ObjectLostError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))

    def free(self, request) -> raylet_pb2.FreeObjectsReply:
        self.store.free([(oid, "") for oid in request.object_ids])
        return raylet_pb2.FreeObjectsReply()

    def stats_proto(self) -> raylet_pb2.ObjectStoreStats:
        st = self.store.stats()
        return raylet_pb2.ObjectStoreStats(
            capacity=st["capacity"], used=st["used"], primary_bytes=st["primary_bytes"],
            secondary_bytes=st["secondary_bytes"], spilled_bytes=st["spilled_bytes"],
            num_objects=st["num_objects"], num_spilled=st["num_spilled"], arena_path=st["arena"],
            spill_dir=st["spill_dir"], counters={k: int(v) for k, v in st["counters"].items()},
            largest=[raylet_pb2.StoredObjectInfo(object_id=bytes.fromhex(o["object_id"]), size=o["size"],
                                                 state=o["state"], call_site=o["call_site"], owner=o["owner"])
                     for o in st["largest"]])
