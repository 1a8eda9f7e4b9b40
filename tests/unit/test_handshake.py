"""The token hello (protocol/handshake.py) as pure state machines: no sockets."""
import pytest

from strato.runtime.protocol import handshake as hs
from strato.runtime.protocol.handshake import ClientHandshake, HandshakeError, Phase, ServerHandshake, WrongToken


def run(client: ClientHandshake, server: ServerHandshake):
    """Drive both sides to the end; returns the bytes each side sent."""
    sent_c, sent_s = [client.start()], []
    sent_s.append(server.step(sent_c[-1]))
    sent_c.append(client.step(sent_s[-1]))
    sent_s.append(server.step(sent_c[-1]))
    client.step(sent_s[-1])
    return sent_c, sent_s


def test_both_sides_open_with_the_same_token():
    c, s = ClientHandshake("tok"), ServerHandshake("tok")
    sent_c, sent_s = run(c, s)
    assert c.phase is Phase.OPEN and s.phase is Phase.OPEN
    assert [len(m) for m in sent_c] == [hs.CLIENT_HELLO_BYTES, hs.PROOF_BYTES]
    assert [len(m) for m in sent_s] == [hs.SERVER_HELLO_BYTES, hs.VERDICT_BYTES]


def test_the_token_never_appears_in_what_either_side_sends():
    token = "a-very-recognisable-cluster-token"
    sent_c, sent_s = run(ClientHandshake(token), ServerHandshake(token))
    wire = b"".join(sent_c + sent_s)
    assert token.encode() not in wire and hs.derive_key(token) not in wire


def test_a_server_without_the_token_gets_no_client_proof():
    c, s = ClientHandshake("right"), ServerHandshake("wrong")
    with pytest.raises(WrongToken, match="server does not know"):
        c.step(s.step(c.start()))
    assert c.phase is Phase.FAILED


def test_a_client_without_the_token_is_refused():
    c, s = ClientHandshake("wrong"), ServerHandshake("right")
    server_hello = s.step(c.start())
    # the client cannot check the server's proof with the wrong key, so it stops first...
    with pytest.raises(WrongToken):
        c.step(server_hello)
    # ...and a forged proof (an attacker skipping the check) is refused by the server
    with pytest.raises(WrongToken, match="client does not know"):
        s.step(b"\x00" * hs.PROOF_BYTES)
    assert s.phase is Phase.FAILED


def test_a_recorded_exchange_cannot_be_replayed_to_a_new_server():
    c, s = ClientHandshake("tok"), ServerHandshake("tok")
    sent_c, _ = run(c, s)
    fresh = ServerHandshake("tok")
    fresh.step(sent_c[0])
    with pytest.raises(WrongToken):
        fresh.step(sent_c[1])        # the proof covered the old server's nonce


def test_the_server_proof_cannot_be_reflected_as_a_client_proof():
    s = ServerHandshake("tok")
    server_hello = s.step(ClientHandshake("tok").start())
    with pytest.raises(WrongToken):
        s.step(server_hello[-hs.PROOF_BYTES:])


def test_bad_magic_and_other_versions_are_refused_with_what_to_do():
    s = ServerHandshake("tok")
    with pytest.raises(HandshakeError, match="bad magic"):
        s.step(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".ljust(hs.CLIENT_HELLO_BYTES, b" "))
    other = hs._HELLO.pack(hs.MAGIC, hs.VERSION + 1, 0, b"n" * 32)
    with pytest.raises(HandshakeError, match="same strato version"):
        ServerHandshake("tok").step(other)


def test_step_takes_exactly_what_it_needs():
    s = ServerHandshake("tok")
    with pytest.raises(ValueError, match="exactly 40 bytes"):
        s.step(b"x" * 10)


def test_a_refusing_verdict_fails_the_client():
    c, s = ClientHandshake("tok"), ServerHandshake("tok")
    c.step(s.step(c.start()))
    with pytest.raises(WrongToken, match="refused"):
        c.step(hs.REFUSED)
