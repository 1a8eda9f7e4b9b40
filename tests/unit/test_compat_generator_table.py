"""The owner's side of generator tasks (core_worker/generators.py), without processes.

A stand-in core worker with the real memory store and reference table: items
arrive in order (repeats and gaps are dropped), each is held until the reader
takes its ref or drops the generator, and the stream ends when the completion
has come and as many items as it counts, or when the completion is an error.
"""
import pickle
import threading

import pytest

from strato.exceptions import GetTimeoutError
from strato.runtime import ids
from strato.runtime.core_worker.generators import GeneratorTable, ObjectRefGenerator
from strato.runtime.core_worker.memory_store import MemoryStore, StoredObject
from strato.runtime.core_worker.object_ref import ObjectRef
from strato.runtime.core_worker.reference_table import ReferenceTable
from strato.runtime.protocol import messages as m

ME = "127.0.0.1:1"


class FakeCoreWorker:
    """What GeneratorTable and ObjectRef use of a core worker."""

    def __init__(self):
        self._lock = threading.RLock()
        self.store = MemoryStore(self._lock)
        self.refs = ReferenceTable(ME)
        self.address = ME
        self._closed = False
        self.freed = []

    def add_local_ref(self, oid, owner):
        with self._lock:
            self.refs.add_local(oid, owner)

    def remove_local_ref(self, oid):
        with self._lock:
            for freed, _ in self.refs.remove_local(oid):
                self.freed.append(freed)
                self.store.delete([freed])

    def store_result(self, oid, obj, owned=False):
        if oid in self.refs:
            self.store.put(oid, obj)


@pytest.fixture
def setup():
    cw = FakeCoreWorker()
    table = GeneratorTable(cw)
    task = b"t" * ids.TASK_ID_LEN
    completion_id = ids.object_id(task, 0)
    with cw._lock:
        cw.refs.add_owned(completion_id)
    completion = ObjectRef(completion_id, ME, cw)
    return cw, table, task, completion


def item(task, index, value):
    return m.GeneratorItem(task, index, pickle.dumps(value), False, None)


def finish(cw, completion, count):
    cw.store_result(completion._id, StoredObject(pickle.dumps(count)))


def test_items_are_read_in_order_and_the_stream_ends_at_the_count(setup):
    cw, table, task, completion = setup
    gen = ObjectRefGenerator(completion, table)
    table.on_item(None, item(task, 0, "a"))
    table.on_item(None, item(task, 0, "a again"))        # a retry's repeat: dropped
    table.on_item(None, item(task, 2, "gap"))            # past a gap: dropped
    table.on_item(None, item(task, 1, "b"))
    first = next(gen)
    assert pickle.loads(cw.store.get(first._id).data) == "a"
    assert not gen.is_finished()
    finish(cw, completion, 3)                            # counts 3: the stream waits for the third
    second = next(gen)
    assert pickle.loads(cw.store.get(second._id).data) == "b"
    with pytest.raises(GetTimeoutError):
        gen._next_ref(0.05)
    table.on_item(None, item(task, 2, "c"))
    assert pickle.loads(cw.store.get(next(gen)._id).data) == "c"
    with pytest.raises(StopIteration):
        next(gen)
    assert gen.is_finished()


def test_items_arriving_before_the_reader_opens_are_kept(setup):
    cw, table, task, completion = setup
    table.on_item(None, item(task, 0, 10))               # the item beat the reader
    gen = ObjectRefGenerator(completion, table)
    finish(cw, completion, 1)
    assert [pickle.loads(cw.store.get(r._id).data) for r in gen] == [10]


def test_an_error_completion_is_given_once_after_the_items(setup):
    cw, table, task, completion = setup
    gen = ObjectRefGenerator(completion, table)
    table.on_item(None, item(task, 0, 1))
    cw.store_result(completion._id, StoredObject(b"boom", True))
    refs = list(gen)
    assert [r._id for r in refs] == [ids.object_id(task, 1), completion._id]


def test_taking_a_ref_moves_the_hold_and_dropping_the_generator_releases_the_rest(setup):
    cw, table, task, completion = setup
    gen = ObjectRefGenerator(completion, table)
    for i in range(3):
        table.on_item(None, item(task, i, i))
    taken = next(gen)
    assert cw.refs.entries[taken._id].local == 1          # the reader's ref only: the hold went
    del gen
    assert sorted(cw.freed) == [ids.object_id(task, 2), ids.object_id(task, 3)]
    assert taken._id in cw.refs                           # the taken one lives on with its ref
    table.on_item(None, item(task, 3, "late"))            # the reader is gone: dropped, nothing kept
    assert ids.object_id(task, 4) not in cw.refs
