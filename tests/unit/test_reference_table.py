"""The owner's reference counting, without processes."""
import pytest

from strato.runtime.core_worker.reference_table import ReferenceTable

ME, OTHER = "127.0.0.1:1", "127.0.0.1:2"


def test_object_freed_when_last_local_ref_goes():
    t = ReferenceTable(ME)
    t.add_owned(b"x")
    t.add_local(b"x", ME)
    t.add_local(b"x", ME)
    assert t.remove_local(b"x") == []
    assert t.remove_local(b"x") == [b"x"]
    assert b"x" not in t


def test_pending_task_keeps_argument_alive():
    t = ReferenceTable(ME)
    t.add_owned(b"x")
    t.add_local(b"x", ME)
    t.add_submitted([b"x"])
    assert t.remove_local(b"x") == []
    assert t.remove_submitted([b"x"]) == [b"x"]


def test_escaped_object_is_kept():
    t = ReferenceTable(ME)
    t.add_owned(b"x")
    t.add_local(b"x", ME)
    t.mark_escaped([b"x"])
    assert t.remove_local(b"x") == []
    assert b"x" in t


def test_borrowed_refs_are_not_owned_and_not_escaped():
    t = ReferenceTable(ME)
    t.add_local(b"y", OTHER)
    t.mark_escaped([b"y"])
    assert not t.owned(b"y")
    assert t.remove_local(b"y") == [b"y"]


def test_negative_count_is_a_bug():
    t = ReferenceTable(ME)
    t.add_owned(b"x")
    t.add_local(b"x", ME)
    t.add_submitted([b"x"])
    t.remove_local(b"x")
    with pytest.raises(AssertionError):
        t.remove_local(b"x")
