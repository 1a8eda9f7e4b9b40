"""Identifiers: random node/worker/job ids, and cheap unique task/object ids.

A task id is the process's random 8-byte prefix plus an 8-byte counter, so
making one costs a counter increment. An object id is its task id plus a
4-byte return index (index 0 and up for returns; puts use their own
"put task" ids). An actor id plus index 0xffffffff names the actor's handles
in reference counting.
"""
from __future__ import annotations

import itertools
import os

TASK_ID_LEN = 16
OBJECT_ID_LEN = TASK_ID_LEN + 4


def random_id(n: int = 16) -> bytes:
    return os.urandom(n)


class IdGenerator:
    """Makes process-unique task ids; thread-safe (itertools.count is atomic under the GIL)."""

    def __init__(self):
        self._prefix = os.urandom(8)
        self._counter = itertools.count(1)

    def task_id(self) -> bytes:
        return self._prefix + next(self._counter).to_bytes(8, "big")


def object_id(task_id: bytes, index: int) -> bytes:
    return task_id + index.to_bytes(4, "big")


def task_of(object_id_: bytes) -> bytes:
    return object_id_[:TASK_ID_LEN]


_HANDLE_INDEX = b"\xff\xff\xff\xff"


def actor_handle_id(actor_id: bytes) -> bytes:
    """The id under which an actor's handles are reference-counted like an object's (its owner
    kills the actor when the count reaches zero); never the id of a real object."""
    return actor_id[:TASK_ID_LEN] + _HANDLE_INDEX


def is_actor_handle_id(oid: bytes) -> bool:
    return oid[TASK_ID_LEN:] == _HANDLE_INDEX
