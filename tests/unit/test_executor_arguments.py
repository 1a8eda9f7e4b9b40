"""How a worker rebuilds a task's arguments (runtime/worker/executor.py `task_arguments`): top-level refs
whose values the owner sent along become those values; everything else stays as the caller passed it.
No processes: a stand-in core worker records the refs it is told about and what its store is asked."""
from strato.runtime import serialization
from strato.runtime.core_worker.object_ref import ObjectRef
from strato.runtime.worker.executor import task_arguments

A, B, C = (bytes([i]) * 20 for i in (1, 2, 3))
OWNER = "10.0.0.1:5000"


class NodeStore:
    """Reads an inlined value the way the real one does for small values, and records the call."""

    def __init__(self):
        self.asked = []

    def deserialize(self, oid, data, worker):
        self.asked.append(oid)
        return serialization.deserialize(data, worker)


class Worker:
    def __init__(self):
        self.node_store = NodeStore()
        self.rebuilt = []                      # (object id, owner, how it is counted)

    def add_deserialized_ref(self, oid, owner):
        self.rebuilt.append((oid, owner, serialization.ref_mode()))

    def add_local_ref(self, oid, owner):
        pass

    def remove_local_ref(self, oid):
        pass


def ref(oid):
    return ObjectRef(oid, OWNER, None, add_ref=False)


def blob(*args, **kwargs) -> bytes:
    return serialization.serialize((args, kwargs))[0]


def value(v) -> bytes:
    return serialization.serialize(v)[0]


def test_top_level_refs_with_inlined_values_become_the_values():
    cw = Worker()
    args, kwargs = task_arguments(blob(ref(A), 7, scale=ref(B)), {A: value([1, 2]), B: value(0.5)}, cw)
    assert list(args) == [[1, 2], 7] and kwargs == {"scale": 0.5}
    assert sorted(cw.node_store.asked) == [A, B]           # each read through the node's store, by its id


def test_refs_nested_in_an_argument_stay_refs():
    cw = Worker()
    args, kwargs = task_arguments(blob([ref(A)], {"k": ref(B)}, opt=(ref(A),)), {A: value(1), B: value(2)}, cw)
    (inner,), outer = args[0], args[1]["k"]
    assert isinstance(inner, ObjectRef) and inner.binary() == A
    assert isinstance(outer, ObjectRef) and outer.binary() == B
    assert isinstance(kwargs["opt"][0], ObjectRef)
    assert cw.node_store.asked == []


def test_a_top_level_ref_without_an_inlined_value_stays_a_ref():
    cw = Worker()
    args, _ = task_arguments(blob(ref(A), ref(C)), {A: value("a")}, cw)
    assert args[0] == "a"
    assert isinstance(args[1], ObjectRef) and args[1].binary() == C and args[1].owner_address == OWNER
    assert cw.node_store.asked == [A]


def test_without_inlined_values_the_arguments_are_as_sent_and_the_store_is_not_asked():
    for inlined in (None, {}):
        cw = Worker()
        args, kwargs = task_arguments(blob(1, "two", ref(A), three=3.0), inlined, cw)
        assert args[:2] == (1, "two") and kwargs == {"three": 3.0}
        assert isinstance(args[2], ObjectRef) and cw.node_store.asked == []


def test_refs_in_the_arguments_are_the_running_tasks_counted_only_if_still_held_at_its_end():
    cw = Worker()
    task_arguments(blob(ref(A), [ref(B)]), {A: value(1)}, cw)
    assert (B, OWNER, "defer") in cw.rebuilt
    assert all(mode == "defer" for _, _, mode in cw.rebuilt)


def test_an_inlined_value_holding_a_ref_gives_the_task_that_ref():
    cw = Worker()
    args, _ = task_arguments(blob(ref(A)), {A: value({"inner": ref(C)})}, cw)
    inner = args[0]["inner"]
    assert isinstance(inner, ObjectRef) and inner.binary() == C
    assert (C, OWNER, "register") in cw.rebuilt          # a borrowed ref of this worker, like any get
