"""Remote functions and actor classes: exported once through the GCS KV, loaded once per process.

    export(fn)  ->  cloudpickle once; id = sha1 of the pickle; KVPut("fn", id) unless this
                    process already exported or loaded that id
    load(id)    ->  KVGet, extend sys.path as the exporter's, unpickle (refs captured in the
                    definition are counted as this process's: serialization.load_definition)
"""
from __future__ import annotations

import hashlib
import sys

import cloudpickle

from strato import exceptions
from strato.runtime import rpc, serialization
from strato.runtime.protocol import gcs_pb2

FN_NAMESPACE = "fn"


class FunctionTable:
    def __init__(self, cw):
        self.cw = cw                    # for its GCS client, run_sync and ref counting of captured refs
        self._exported: set[bytes] = set()
        self._loaded: dict[bytes, object] = {}

    def export(self, fn, pickled: bytes | None = None) -> bytes:
        name = getattr(fn, "__qualname__", str(fn))
        if pickled is None:
            try:
                pickled = cloudpickle.dumps(fn, protocol=5)
            except Exception as exc:
                raise exceptions.SerializationError(
                    f"Could not serialize {name!r}: {type(exc).__name__}: {exc}. A remote function must not "
                    f"capture open files, locks or sockets from its surroundings; create them inside the "
                    f"function.") from exc
        fid = hashlib.sha1(pickled).digest()[:16]
        if fid in self._exported:
            return fid
        if len(pickled) > rpc.MAX_FUNCTION_BYTES:
            raise ValueError(
                f"{name!r} pickles to {len(pickled) / 2**20:.0f} MiB, over the {rpc.MAX_FUNCTION_BYTES >> 20} MiB "
                f"a remote function or class may take: it captures large data from its surroundings. Put the "
                f"data in the object store (ref = strato.put(data)) and pass the ref as an argument instead.")
        record = cloudpickle.dumps({"pickled": pickled, "name": name, "sys_path": [p for p in sys.path if p]})
        req = gcs_pb2.KVPutRequest(namespace=FN_NAMESPACE, key=fid, value=record, overwrite=False)
        self.cw.run_sync(self.cw.gcs.call("KVPut", req))
        self._exported.add(fid)
        return fid

    def load(self, fid: bytes):
        fn = self._loaded.get(fid)
        if fn is None:
            reply = self.cw.run_sync(self.cw.gcs.call("KVGet", gcs_pb2.KVGetRequest(namespace=FN_NAMESPACE,
                                                                                   key=fid)))
            if not reply.found:
                raise exceptions.StratoError(f"function {fid.hex()} was never exported to this cluster")
            record = cloudpickle.loads(reply.value)
            for path in record["sys_path"]:
                if path not in sys.path:
                    sys.path.append(path)
            fn = serialization.load_definition(record["pickled"], self.cw, cloudpickle.loads)
            self._loaded[fid] = fn
            self._exported.add(fid)
        return fn
