"""Reference counting and the borrowing protocol's decisions, without processes."""
import pytest

from strato.exceptions import InvariantError
from strato.runtime.core_worker.reference_table import ReferenceTable

ME, OTHER, THIRD = "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"


def owned_with_ref(t, oid=b"x"):
    t.add_owned(oid)
    t.add_local(oid, ME)


def test_object_freed_when_last_local_ref_goes():
    t = ReferenceTable(ME)
    owned_with_ref(t)
    t.add_local(b"x", ME)
    assert t.remove_local(b"x") == []
    assert t.remove_local(b"x") == [(b"x", True)]
    assert b"x" not in t


def test_pending_task_keeps_argument_alive():
    t = ReferenceTable(ME)
    owned_with_ref(t)
    t.add_submitted([b"x"])
    assert t.remove_local(b"x") == []
    assert t.remove_submitted([b"x"]) == [(b"x", True)]


def test_own_refs_send_no_messages():
    t = ReferenceTable(ME)
    owned_with_ref(t)
    t.remove_local(b"x")
    assert t.take_messages() == ([], [])


def test_a_borrowed_ref_registers_once_and_releases_when_it_goes():
    t = ReferenceTable(ME)
    t.add_local(b"y", OTHER)
    t.add_local(b"y", OTHER)
    assert t.take_messages() == ([(OTHER, b"y")], [])
    assert not t.owned(b"y")
    assert t.remove_local(b"y") == []
    assert t.remove_local(b"y") == [(b"y", False)]
    assert t.take_messages() == ([], [(OTHER, b"y")])


def test_refs_from_task_arguments_used_and_dropped_send_nothing():
    t = ReferenceTable(ME)
    t.add_local(b"y", OTHER, defer=True)
    assert t.take_messages() == ([], [])
    t.remove_local(b"y")
    t.register_deferred()
    assert t.take_messages() == ([], [])
    assert not t.deferred


def test_refs_from_task_arguments_kept_past_the_task_are_registered_at_its_end():
    t = ReferenceTable(ME)
    t.add_local(b"y", OTHER, defer=True)
    t.register_deferred()
    assert t.take_messages() == ([(OTHER, b"y")], [])
    t.remove_local(b"y")
    assert t.take_messages() == ([], [(OTHER, b"y")])


def test_a_deferred_ref_seen_outside_task_arguments_registers_at_once():
    t = ReferenceTable(ME)
    t.add_local(b"y", OTHER, defer=True)
    t.add_local(b"y", OTHER)
    assert t.take_messages() == ([(OTHER, b"y")], [])
    t.register_deferred()
    assert t.take_messages() == ([], [])


def test_borrowers_keep_an_owned_object_until_each_releases():
    t = ReferenceTable(ME)
    owned_with_ref(t)
    assert t.add_borrower(b"x", OTHER)
    assert t.add_borrower(b"x", THIRD)
    assert t.remove_local(b"x") == []
    assert t.remove_borrower(b"x", OTHER) == []
    assert t.remove_borrower(b"x", THIRD) == [(b"x", True)]


def test_borrower_counts_survive_a_release_overtaken_by_a_new_registration():
    t = ReferenceTable(ME)
    owned_with_ref(t)
    t.add_borrower(b"x", OTHER)     # first entry at the borrower
    t.add_borrower(b"x", OTHER)     # its second entry registered before the first's release arrived
    t.remove_local(b"x")
    assert t.remove_borrower(b"x", OTHER) == []
    assert t.remove_borrower(b"x", OTHER) == [(b"x", True)]


def test_a_dead_borrower_releases_everything_it_held():
    t = ReferenceTable(ME)
    owned_with_ref(t, b"a")
    owned_with_ref(t, b"b")
    t.add_borrower(b"a", OTHER)
    t.add_borrower(b"b", OTHER)
    t.add_borrower(b"b", THIRD)
    t.remove_local(b"a")
    t.remove_local(b"b")
    assert t.drop_borrower(OTHER) == [(b"a", True)]
    assert t.remove_borrower(b"b", OTHER) == []          # late release after the drop: ignored
    assert t.remove_borrower(b"b", THIRD) == [(b"b", True)]


def test_registration_for_an_object_already_freed_is_refused():
    t = ReferenceTable(ME)
    assert not t.add_borrower(b"gone", OTHER)
    t.add_local(b"y", OTHER)
    assert not t.add_borrower(b"y", THIRD)   # not ours to count


def test_a_put_holds_the_refs_nested_in_it_until_it_is_freed():
    t = ReferenceTable(ME)
    owned_with_ref(t, b"inner")
    t.add_owned(b"outer", [(b"inner", ME)])
    t.add_local(b"outer", ME)
    assert t.remove_local(b"inner") == []
    assert t.remove_local(b"outer") == [(b"outer", True), (b"inner", True)]
    assert not t.entries


def test_nesting_cascades_through_levels_and_releases_borrowed_inner_refs():
    t = ReferenceTable(ME)
    t.add_local(b"b", OTHER)                       # borrowed
    t.add_owned(b"l1", [(b"b", OTHER)])
    t.add_owned(b"l2", [(b"l1", ME)])
    t.add_local(b"l2", ME)
    t.remove_local(b"b")
    t.take_messages()
    freed = t.remove_local(b"l2")
    assert sorted(freed) == sorted([(b"l2", True), (b"l1", True), (b"b", False)])
    assert t.take_messages() == ([], [(OTHER, b"b")])


def test_a_ref_nested_twice_is_freed_once():
    t = ReferenceTable(ME)
    owned_with_ref(t, b"inner")
    t.add_owned(b"outer", [(b"inner", ME), (b"inner", ME)])
    t.add_local(b"outer", ME)
    t.remove_local(b"inner")
    assert t.remove_local(b"outer") == [(b"outer", True), (b"inner", True)]


def test_a_task_return_adopts_its_nested_refs_only_while_the_return_is_referenced():
    t = ReferenceTable(ME)
    t.add_owned(b"ret")
    t.add_local(b"ret", ME)
    assert t.add_contained(b"ret", [(b"w", OTHER)])
    assert t.take_messages() == ([(OTHER, b"w")], [])
    assert t.remove_local(b"ret") == [(b"ret", True), (b"w", False)]
    assert t.take_messages() == ([], [(OTHER, b"w")])
    assert not t.add_contained(b"ret", [(b"w", OTHER)])   # already gone: nothing held
    assert b"w" not in t


def test_transit_holds_keep_a_returned_ref_until_released():
    t = ReferenceTable(ME)
    owned_with_ref(t)
    t.add_transit([b"x"])
    assert t.remove_local(b"x") == []
    assert t.remove_transit([b"x"]) == [(b"x", True)]
    assert t.remove_transit([b"x"]) == []       # a duplicate release is harmless


def test_negative_counts_are_bugs():
    t = ReferenceTable(ME)
    owned_with_ref(t)
    t.add_submitted([b"x"])
    t.remove_local(b"x")
    with pytest.raises(InvariantError):
        t.remove_local(b"x")
    t = ReferenceTable(ME)
    owned_with_ref(t)
    with pytest.raises(InvariantError):
        t.remove_submitted([b"x"])


def test_refs_held_elsewhere_are_never_registered():
    t = ReferenceTable(ME)
    t.add_local(b"y", OTHER, register=False)         # captured in a cached function definition
    t.register_deferred()
    assert t.take_messages() == ([], [])
    assert t.remove_local(b"y") == [(b"y", False)]
    assert t.take_messages() == ([], [])
