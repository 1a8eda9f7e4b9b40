"""Pure policies of the framed transport and gRPC guard: the hello gate and call credentials."""
import pytest

from strato.runtime.rpc import CallGuard, call_credential, call_key
from strato.runtime.transport import HelloGate


def test_the_gate_admits_up_to_its_cap_then_evicts_the_oldest():
    gate = HelloGate(3)
    assert [gate.admit(c) for c in "abc"] == [[], [], []]
    assert gate.admit("d") == ["a"]
    assert gate.admit("e") == ["b"]
    assert len(gate) == 3


def test_a_connection_that_finished_the_hello_leaves_the_gate():
    gate = HelloGate(2)
    gate.admit("a")
    gate.admit("b")
    gate.leave("a")
    assert gate.admit("c") == []
    assert gate.admit("d") == ["b"]


def test_the_gate_needs_a_positive_cap():
    with pytest.raises(ValueError, match="at least 1"):
        HelloGate(0)


def test_a_fresh_credential_for_the_method_passes_once():
    guard = CallGuard("tok")
    cred = call_credential(call_key("tok"), "GetAllNodes", b"req", now=1000)
    assert guard.check(cred, "GetAllNodes", b"req", now=1001) is None
    assert guard.check(cred, "GetAllNodes", b"req", now=1002) == "replayed credential"


def test_a_credential_is_bound_to_its_method_request_bytes_and_token():
    guard = CallGuard("tok")
    key = call_key("tok")
    assert guard.check(call_credential(key, "GetAllNodes", b"", now=5), "KVPut", b"", now=5) == "wrong cluster token"
    assert guard.check(call_credential(key, "KVPut", b"a=1", now=5), "KVPut", b"a=2", now=5) == "wrong cluster token"
    assert guard.check(call_credential(call_key("other"), "KVPut", b"", now=5), "KVPut", b"", now=5) \
        == "wrong cluster token"


def test_the_token_is_not_in_the_credential():
    assert "tok-secret" not in call_credential(call_key("tok-secret"), "M", b"tok-secret"[:0])


def test_stale_or_future_credentials_are_refused_with_the_clock_named():
    guard = CallGuard("tok", window_s=60)
    key = call_key("tok")
    assert "synchronise the clocks" in guard.check(call_credential(key, "M", b"", now=0), "M", b"", now=61)
    assert "synchronise the clocks" in guard.check(call_credential(key, "M", b"", now=200), "M", b"", now=100)


@pytest.mark.parametrize("bad", ["", "token", "v1.x.y", "v2.1.abcdefgh.00", "v1.notanumber.abcdefgh.00"])
def test_malformed_credentials_are_refused(bad):
    assert CallGuard("tok").check(bad, "M", b"", now=0) == "malformed credential"


def test_forgetting_nonces_past_the_cap_raises_the_floor_so_old_ones_stay_refused():
    guard = CallGuard("tok", window_s=1000, max_remembered=2)
    key = call_key("tok")
    creds = [call_credential(key, "M", b"", now=t) for t in (10, 11, 12)]
    for c in creds:
        assert guard.check(c, "M", b"", now=12) is None
    # the first nonce was forgotten, but its time is now below the floor
    assert guard.check(creds[0], "M", b"", now=13) is not None
    assert guard.check(call_credential(key, "M", b"", now=13), "M", b"", now=13) is None
