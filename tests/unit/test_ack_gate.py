"""The borrowing ack gate (core_worker/ack_gate.py), worked by hand."""
from strato.runtime.core_worker.ack_gate import AckGate


def test_with_nothing_unacknowledged_an_action_runs_at_once():
    assert AckGate().gate("release") == ["release"]


def test_an_action_waits_for_every_registration_sent_before_it():
    g = AckGate()
    a, b = g.sent(), g.sent()
    assert g.gate("release") == []
    assert g.acked(b) == []              # a is still out
    assert g.acked(a) == ["release"]


def test_registrations_sent_after_an_action_do_not_hold_it_up():
    g = AckGate()
    a = g.sent()
    assert g.gate("first") == []
    later = g.sent()
    assert g.gate("second") == []
    assert g.acked(a) == ["first"]       # "second" also waits for `later`
    assert g.acked(later) == ["second"]


def test_held_actions_come_out_in_the_order_they_were_gated():
    g = AckGate()
    a = g.sent()
    for name in ("x", "y", "z"):
        g.gate(name)
    assert g.acked(a) == ["x", "y", "z"]
    assert g.waiting() == 0


def test_an_ack_out_of_order_frees_only_what_no_older_registration_holds():
    g = AckGate()
    a = g.sent()
    g.gate("after-a")
    b = g.sent()
    g.gate("after-b")
    c = g.sent()
    assert g.acked(c) == []
    assert g.acked(a) == ["after-a"]
    assert g.acked(b) == ["after-b"]
