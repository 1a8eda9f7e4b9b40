"""The owner's lineage table (strato/runtime/core_worker/lineage.py): pure logic, no processes."""
from types import SimpleNamespace

from strato.runtime.core_worker.lineage import EVICTED, NO_RETRIES, Lineage


def ref(oid):
    return SimpleNamespace(_id=oid)


def task(task_id, returns, args=(), retries=3):
    return SimpleNamespace(task_id=task_id, return_ids=list(returns), arg_refs=[ref(a) for a in args],
                           retries_left=retries)


def test_a_kept_task_is_the_producer_of_its_outputs_and_holds_its_arguments():
    lin = Lineage(max_bytes=1000)
    t = task(b"t1", [b"o1", b"o2"], args=[b"a1"])
    assert lin.keep(t, [b"o1", b"o2"], 100) == []          # nothing released: the args stay held
    assert lin.producer(b"o1") is t and lin.producer(b"o2") is t
    assert b"t1" in lin and lin.total == 100


def test_the_record_goes_with_the_last_of_its_outputs_and_gives_back_its_arguments():
    lin = Lineage(max_bytes=1000)
    lin.keep(task(b"t1", [b"o1", b"o2"], args=[b"a1", b"a2"]), [b"o1", b"o2"], 100)
    assert lin.release([b"o1"]) == []
    assert lin.producer(b"o2") is not None
    assert lin.release([b"o2"]) == [b"a1", b"a2"]
    assert b"t1" not in lin and lin.total == 0 and lin.producer(b"o2") is None


def test_a_task_whose_outputs_are_all_gone_already_is_not_kept():
    lin = Lineage(max_bytes=1000)
    assert lin.keep(task(b"t1", [b"o1"], args=[b"a1"]), [], 100) == [b"a1"]
    assert b"t1" not in lin


def test_a_task_without_retries_keeps_only_the_reason():
    lin = Lineage(max_bytes=1000)
    assert lin.keep(task(b"t1", [b"o1"], args=[b"a1"], retries=0), [b"o1"], 100) == [b"a1"]
    assert lin.producer(b"o1") is None and lin.why_not(b"o1") == NO_RETRIES
    lin.release([b"o1"])
    assert lin.why_not(b"o1") == ""


def test_past_the_byte_bound_the_oldest_records_are_evicted():
    lin = Lineage(max_bytes=250)
    lin.keep(task(b"t1", [b"o1"], args=[b"a1"]), [b"o1"], 100)
    lin.keep(task(b"t2", [b"o2"], args=[b"a2"]), [b"o2"], 100)
    assert lin.keep(task(b"t3", [b"o3"], args=[b"a3"]), [b"o3"], 100) == [b"a1"]
    assert lin.producer(b"o1") is None and lin.why_not(b"o1") == EVICTED
    assert lin.producer(b"o3") is not None and lin.total == 200


def test_a_rebuild_replaces_the_spec_but_keeps_the_original_arguments():
    lin = Lineage(max_bytes=1000)
    first = task(b"t1", [b"o1"], args=[b"a1"])
    lin.keep(first, [b"o1"], 100)
    rebuild = task(b"t1", [b"o1"], retries=2)
    rebuild.arg_refs = None                                 # the new attempt does not hold them itself
    lin.replace(rebuild)
    assert lin.producer(b"o1") is rebuild
    assert lin.release([b"o1"]) == [b"a1"]
