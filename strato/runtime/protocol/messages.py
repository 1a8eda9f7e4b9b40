"""Every message of the framed hot path (transport.py), as a typed class with named fields.

    core worker (owner / caller)              core worker (leased worker / actor)
      PushTask, ActorCall, CancelTask  ----->  executor
      TaskDone, ActorDone, TaskOutput  <-----
      GeneratorItem                    <-----  an item a generator task yielded (before its *Done)
      GetObject (request) / Reply      <---->  any core worker holding the object
      ObjectLost                       ----->  the owner: a borrower found the object's copy gone
      AddBorrower (request), RemoveBorrower, ReleaseTransit: borrowing, between any two
    GCS actor manager
      CreateActor (request)            ----->  the actor's worker; Reply(("ok",) | ("error", blob, text))
    object store client                       the raylet's StoreServer (unix socket)
      StoreCreate, StoreGet, StoreSeal, StoreDropStale, StoreStats, StoreInfo (requests),
      StoreSealed, StoreAbort, StoreRelease, StoreFree, StoreListen  ----->
      StoreRevoke                      <-----
    every connection
      Hello (client's first frame) / Welcome; Reply to a request; PeerHello: what a server's
      handler is told when a client said hello (never sent)

A receiver dispatches on the class, through one table (`{PushTask: on_push, ...}`),
never by position. Messages are NamedTuples; on the wire each is a plain
`(tag, fields)` pair (`encode` / `decode`), so a frame's pickle names no
class: pickling a class reference makes both sides look the class up by
module and name for every frame, which cost a round trip about 50 us. A
request's first field is its `req_id`, filled in by
`Connection.request(cls, *fields)`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

_new = tuple.__new__
#: make(cls, (fields...)): builds a message without the NamedTuple's Python-level __new__ (the hot path
#: builds two per task); the fields must be complete and in order.
make = tuple.__new__
_CLASSES: list = []                 # tag -> class, in the order of this file (both sides run the same file)
_TAGS: dict = {}                    # class -> tag


_SIZES: dict = {}                   # class -> number of fields


def _wire(cls):
    _TAGS[cls] = len(_CLASSES)
    _CLASSES.append(cls)
    _SIZES[cls] = len(cls._fields)
    return cls


def encode(messages: list) -> list:
    """Typed messages -> what a frame pickles: [(tag, fields)], plain tuples only."""
    if len(messages) == 1:              # most frames on a latency-bound path: no comprehension frame
        msg = messages[0]
        return [(_TAGS[type(msg)], tuple(msg))]
    tags = _TAGS
    return [(tags[type(msg)], tuple(msg)) for msg in messages]


def decode(items: list) -> list:
    """The inverse of encode; an unknown tag or a wrong field count raises (the peer is dropped)."""
    classes, sizes, out = _CLASSES, _SIZES, []
    for tag, fields in items:
        cls = classes[tag]
        if len(fields) != sizes[cls]:
            raise ValueError(f"{cls.__name__} takes {sizes[cls]} fields, got {len(fields)}")
        out.append(_new(cls, fields))
    return out


# ------------------------------------------------------------------ every connection
@_wire
class Hello(NamedTuple):
    info: dict                  # the client's name: worker_id, address, client_id ...


@_wire
class Welcome(NamedTuple):
    info: dict


@_wire
class Reply(NamedTuple):
    req_id: int
    value: Any


class PeerHello(NamedTuple):
    """Handed to a server's handler when a client said hello (local only, never on the wire)."""
    info: dict


# ------------------------------------------------------------------ tasks and actor calls
@_wire
class PushTask(NamedTuple):
    task_id: bytes
    attempt: int
    job_id: bytes
    fid: bytes                  # the exported function's id (GCS KV)
    name: str
    args: bytes                 # serialized (args, kwargs); refs in them resolved via `inlined`
    inlined: dict | None        # object id -> small argument value
    num_returns: int
    owner: str                  # the caller's address: it owns the returns
    parent_task_id: bytes | None
    tag: Any                    # the notebook cell that submitted it
    log_sink: str
    placement_group: tuple | None = None   # (group id, capture child tasks) when it runs in a placement group


@_wire
class ActorCall(NamedTuple):
    task_id: bytes
    attempt: int
    job_id: bytes
    method: str
    name: str
    args: bytes
    inlined: dict | None
    num_returns: int
    caller: str                 # the caller's address: it owns the returns
    seq: int                    # the caller's sequence number (calls of one caller run in order)
    tag: Any
    log_sink: str


@_wire
class CancelTask(NamedTuple):
    task_id: bytes
    force: bool


@_wire
class TaskDone(NamedTuple):
    task_id: bytes
    attempt: int
    status: str                 # "ok" | "error" | "cancelled"
    results: list               # [(bytes, is_error)] per return
    exec_s: float
    nested: list | None         # per return: [(object id, owner)] of refs inside it, or None


@_wire
class ActorDone(NamedTuple):
    task_id: bytes
    attempt: int
    status: str
    results: list
    exec_s: float
    nested: list | None


@_wire
class TaskOutput(NamedTuple):
    records: list               # printed lines, routed to the cell that caused them


@_wire
class CreateActor(NamedTuple):
    req_id: int
    actor_id: bytes
    spec: bytes                 # cloudpickled creation spec
    job_id: bytes


# ------------------------------------------------------------------ objects and borrowing
@_wire
class GetObject(NamedTuple):
    req_id: int
    oid: bytes


@_wire
class ObjectLost(NamedTuple):
    """Borrower -> owner: reading `oid` failed, its copy is gone; `seen` is the value (a store
    marker) that failed, so a report that crossed a rebuild is ignored. One-way."""
    oid: bytes
    seen: bytes


@_wire
class AddBorrower(NamedTuple):
    req_id: int
    borrower: str               # "address/worker_id"
    oids: list


@_wire
class RemoveBorrower(NamedTuple):
    borrower: str
    oids: list


@_wire
class ReleaseTransit(NamedTuple):
    oids: list                  # refs nested in a task's returns that the caller has taken over


# ------------------------------------------------------------------ the node's object store
@_wire
class StoreCreate(NamedTuple):
    req_id: int
    oid: bytes
    size: int
    owner: str
    call_site: str
    primary: bool


@_wire
class StoreGet(NamedTuple):
    req_id: int
    oid: bytes
    source: str                 # a raylet address to pull from, or ""


@_wire
class StoreSeal(NamedTuple):
    req_id: int
    oid: bytes


@_wire
class StoreDropStale(NamedTuple):
    req_id: int
    oid: bytes


@_wire
class StoreStats(NamedTuple):
    req_id: int


@_wire
class StoreInfo(NamedTuple):
    req_id: int


@_wire
class StoreSealed(NamedTuple):
    oid: bytes


@_wire
class StoreAbort(NamedTuple):
    oid: bytes


@_wire
class StoreRelease(NamedTuple):
    offset: int


@_wire
class StoreFree(NamedTuple):
    items: list                 # [(oid, data or "")]


@_wire
class StoreListen(NamedTuple):
    pass


@_wire
class StoreRevoke(NamedTuple):
    offset: int
    oid: bytes


# ------------------------------------------------------------------ generator tasks (core_worker/generators.py)
@_wire
class GeneratorItem(NamedTuple):
    """Worker -> owner: item `index` of a generator task (num_returns STREAMING or DYNAMIC), object id
    (task_id, index + 1); the TaskDone/ActorDone that follows counts the items. One-way."""
    task_id: bytes
    index: int
    data: bytes
    is_error: bool
    nested: list | None         # [refs inside the item] or None, as TaskDone's
