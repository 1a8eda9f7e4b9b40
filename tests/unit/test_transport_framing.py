"""The framed transport (runtime/transport.py) driven by hand: a server and a client `Connection` joined by
fake asyncio transports that only record writes; the test decides when, and in what pieces, each side's
bytes reach the other. No sockets, no processes."""
import asyncio
import pickle

import pytest

from strato.exceptions import AuthenticationError
from strato.runtime import transport
from strato.runtime.protocol import handshake as hs
from strato.runtime.protocol.messages import (_TAGS, GetObject, Hello, PeerHello, ReleaseTransit, TaskOutput,
                                              Welcome, decode, encode)
from strato.runtime.transport import Connection

TOKEN = "cluster-token"
UNPICKLED = []


def _record(value):
    UNPICKLED.append(value)
    return value


class Tripwire:
    """Pickles as a call that records its being unpickled: proof that a frame was decoded."""

    def __reduce__(self):
        return _record, ("decoded",)


class FakeTransport:
    """What a Connection writes, kept until the test hands it to the peer."""

    def __init__(self):
        self.out = bytearray()
        self.closed = False

    def write(self, data):
        self.out += data

    def writelines(self, parts):
        for p in parts:
            self.out += p

    def get_extra_info(self, name, default=None):
        return default

    def close(self):
        self.closed = True

    def take(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data


class Side:
    """One end: its Connection, its transport, what its handler saw, how it closed."""

    def __init__(self, is_server, token=TOKEN, max_frame=transport.DEFAULT_MAX_FRAME, info=None):
        self.seen, self.closed_with = [], []
        kwargs = {"server_info": info or {"role": "server"}, "is_server": True} if is_server else \
            {"info": info or {"role": "client"}}
        self.conn = Connection(token, lambda c, m: self.seen.append(m), lambda c, e: self.closed_with.append(e),
                               max_frame=max_frame, **kwargs)
        self.wire = FakeTransport()
        self.conn.connection_made(self.wire)


def frame(messages) -> bytes:
    """A frame as a peer writes it: typed messages encoded, anything else (a Tripwire) pickled as it is."""
    data = pickle.dumps([encode([m])[0] if type(m) in _TAGS else m for m in messages], protocol=5)
    return len(data).to_bytes(8, "big") + data


def frames_in(data: bytes) -> list:
    """Split bytes written after the hello into frames, each decoded."""
    out, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 8], "big")
        out.append(decode(pickle.loads(data[pos + 8:pos + 8 + size])))
        pos += 8 + size
    return out


async def turn():
    """Let the loop run the flushes `send` scheduled."""
    for _ in range(3):
        await asyncio.sleep(0)


async def pump(server: Side, client: Side, chunk: int | None = None):
    """Carry bytes both ways until neither side has anything to say, in pieces of `chunk` bytes."""
    while True:
        await turn()
        moved = False
        for src, dst in ((client, server), (server, client)):
            data = src.wire.take()
            if data and not dst.conn.closed:
                moved = True
                for i in range(0, len(data), chunk or len(data)):
                    dst.conn.data_received(data[i:i + (chunk or len(data))])
        if not moved:
            return


async def connected(server_max_frame=transport.DEFAULT_MAX_FRAME, client_max_frame=transport.DEFAULT_MAX_FRAME):
    server, client = Side(True, max_frame=server_max_frame), Side(False, max_frame=client_max_frame)
    await pump(server, client)
    assert client.conn.ready.done() and client.conn.ready.result() is True
    return server, client


def run(coro):
    UNPICKLED.clear()
    return asyncio.run(coro)


# ------------------------------------------------------------------ the hello, then frames
def test_the_hello_opens_both_sides_and_the_server_handler_is_told_who_came():
    async def main():
        server, client = await connected()
        assert server.seen == [PeerHello({"role": "client"})]
        assert client.conn.peer_info == {"role": "server"} and server.conn.peer_info == {"role": "client"}
        assert not server.closed_with and not client.closed_with
    run(main())


def test_the_hello_survives_being_delivered_one_byte_at_a_time():
    async def main():
        server, client = Side(True), Side(False)
        await pump(server, client, chunk=1)
        assert client.conn.ready.result() is True and server.seen == [PeerHello({"role": "client"})]
    run(main())


def test_a_frame_split_across_reads_is_handled_once_when_its_last_byte_arrives():
    async def main():
        server, client = await connected()
        client.conn.send(ReleaseTransit([1]))
        client.conn.send(ReleaseTransit([2]))
        await turn()
        data = client.wire.take()
        for i in range(len(data) - 1):
            server.conn.data_received(data[i:i + 1])
        assert server.seen == [PeerHello({"role": "client"})]          # nothing before the whole frame
        server.conn.data_received(data[-1:])
        assert server.seen[1:] == [ReleaseTransit([1]), ReleaseTransit([2])]
        assert not server.conn._buf                                    # nothing left over
    run(main())


def test_several_frames_in_one_read_are_all_handled_in_order():
    async def main():
        server, client = await connected()
        for i in range(3):
            client.conn.send(ReleaseTransit([i]))
            await turn()                                               # one frame per turn of the loop
        data = client.wire.take()
        assert frames_in(data) == [[ReleaseTransit([0])], [ReleaseTransit([1])], [ReleaseTransit([2])]]
        server.conn.data_received(data + frame([ReleaseTransit([3])])[:5])     # and the start of a fourth
        assert server.seen[1:] == [ReleaseTransit([0]), ReleaseTransit([1]), ReleaseTransit([2])]
        server.conn.data_received(frame([ReleaseTransit([3])])[5:])
        assert server.seen[-1] == ReleaseTransit([3])
    run(main())


def test_messages_sent_in_one_turn_of_the_loop_go_out_in_one_frame():
    async def main():
        server, client = await connected()
        for i in range(5):
            client.conn.send(ReleaseTransit([i]))
        await turn()
        assert frames_in(client.wire.take()) == [[ReleaseTransit([i]) for i in range(5)]]
    run(main())


def test_a_batch_over_the_frame_limit_is_split_so_each_frame_fits():
    async def main():
        server, client = await connected(client_max_frame=300)
        for i in range(4):
            client.conn.send(TaskOutput([i, bytes([i]) * 100]))
        await turn()
        data = client.wire.take()
        sizes, pos = [], 0
        while pos < len(data):
            sizes.append(int.from_bytes(data[pos:pos + 8], "big"))
            pos += 8 + sizes[-1]
        assert len(sizes) > 1 and max(sizes) <= 300
        server.conn.data_received(data)
        assert server.seen[1:] == [TaskOutput([i, bytes([i]) * 100]) for i in range(4)]
    run(main())


def test_a_request_gets_its_reply():
    async def main():
        server, client = await connected()
        fut = client.conn.request(GetObject, b"o" * 20)
        await pump(server, client)
        asked = server.seen[-1]
        assert type(asked) is GetObject and asked[1:] == (b"o" * 20,)
        server.conn.reply(asked.req_id, "answer")
        await pump(server, client)
        assert fut.result() == "answer"
    run(main())


# ------------------------------------------------------------------ the size cap
def test_a_frame_of_exactly_the_limit_is_read():
    async def main():
        server, client = await connected(server_max_frame=1000)
        msg = next(m for m in ([TaskOutput([b"y" * n])] for n in range(900, 1000))
                   if len(pickle.dumps(encode(m), protocol=5)) == 1000)
        data = pickle.dumps(encode(msg), protocol=5)
        server.conn.data_received(len(data).to_bytes(8, "big") + data)
        assert server.seen[-1] == msg[0] and not server.conn.closed
    run(main())


@pytest.mark.parametrize("announced", [1001, 1 << 62])
def test_a_frame_announced_over_the_limit_drops_the_peer_unread(announced):
    async def main():
        server, client = await connected(server_max_frame=1000)
        payload = pickle.dumps([Tripwire()], protocol=5)
        server.conn.data_received(announced.to_bytes(8, "big") + payload)
        assert server.conn.closed and server.wire.closed
        assert isinstance(server.closed_with[0], ConnectionError)
        assert "over this endpoint's limit of 1000 bytes" in str(server.closed_with[0])
        assert not server.conn._buf and UNPICKLED == [] and server.seen == [PeerHello({"role": "client"})]
    run(main())


def test_an_undecodable_frame_from_an_authenticated_peer_drops_it():
    async def main():
        server, client = await connected()
        server.conn.data_received((5).to_bytes(8, "big") + b"\x80\x05junk")
        assert server.conn.closed and "undecodable frame" in str(server.closed_with[0])
    run(main())


def test_frames_after_a_drop_in_the_same_read_are_not_handled():
    async def main():
        server, client = await connected(server_max_frame=1000)
        server.conn.data_received(frame([ReleaseTransit([1])]) + (2000).to_bytes(8, "big") + frame([Tripwire()]))
        assert server.seen[1:] == [ReleaseTransit([1])] and server.conn.closed and UNPICKLED == []
    run(main())


# ------------------------------------------------------------------ nothing decoded before the hello
class RawClient:
    """A client that speaks the hello by hand (handshake.ClientHandshake), to misbehave on purpose."""

    def __init__(self, token=TOKEN):
        self.hs = hs.ClientHandshake(token)


def test_a_frame_instead_of_the_hello_is_refused_without_being_decoded():
    async def main():
        server = Side(True)
        server.conn.data_received(frame([Tripwire()]) + b"\0" * 40)
        assert server.conn.closed and isinstance(server.closed_with[0], hs.HandshakeError)
        assert UNPICKLED == [] and server.seen == []
    run(main())


def test_a_frame_sent_in_place_of_the_proof_is_refused_without_being_decoded():
    async def main():
        server = Side(True)
        raw = RawClient()
        server.conn.data_received(raw.hs.start())
        server.wire.take()                                           # SERVER_HELLO
        server.conn.data_received(frame([Hello({"me": 1}), Tripwire()]))
        assert server.wire.take() == hs.REFUSED
        assert server.conn.closed and isinstance(server.closed_with[0], hs.WrongToken)
        assert UNPICKLED == [] and server.seen == []
    run(main())


def test_bytes_arriving_during_the_hello_are_kept_for_it_not_read_as_frames():
    async def main():
        server = Side(True)
        early = frame([ReleaseTransit([])])                                      # shorter than the proof it stands for
        assert len(early) < hs.PROOF_BYTES
        server.conn.data_received(RawClient().hs.start() + early)
        assert not server.conn.closed and server.seen == [] and bytes(server.conn._buf) == early
    run(main())


def test_a_client_with_the_wrong_token_is_refused_and_its_frames_never_read():
    async def main():
        server, client = Side(True), Side(False, token="not-the-token")
        await pump(server, client)
        assert client.conn.closed and server.seen == [] and UNPICKLED == []
        assert isinstance(client.conn.ready.exception(), AuthenticationError)
    run(main())


def test_frames_queued_before_the_hello_completes_wait_for_it():
    async def main():
        server, client = Side(True), Side(False)
        client.conn.send(ReleaseTransit(["early"]))                               # the client wants to talk at once
        await turn()
        assert b"early" not in bytes(client.wire.out)                # only the hello went out
        await pump(server, client)
        assert server.seen == [PeerHello({"role": "client"}), ReleaseTransit(["early"])]
    run(main())


def _proven(server: Side) -> RawClient:
    raw = RawClient()
    server.conn.data_received(raw.hs.start())
    proof = raw.hs.step(server.wire.take())
    server.conn.data_received(proof)
    raw.hs.step(server.wire.take())                                  # the verdict: accepted
    return raw


def test_after_the_proofs_the_first_frame_must_be_the_hello_frame():
    async def main():
        server = Side(True)
        _proven(server)
        server.conn.data_received(frame([ReleaseTransit([1])]))
        assert server.conn.closed and "the first frame must be the hello" in str(server.closed_with[0])
        assert server.seen == []                                     # the handler never ran
    run(main())


def test_a_hello_frame_whose_info_is_not_a_dict_is_refused():
    async def main():
        server = Side(True)
        _proven(server)
        server.conn.data_received(frame([Hello("me")]))
        assert server.conn.closed and server.seen == []
    run(main())


def test_a_proven_client_is_welcomed_after_its_hello_frame():
    async def main():
        server = Side(True)
        _proven(server)
        server.conn.data_received(frame([Hello({"me": 1})]))
        await turn()
        assert server.seen == [PeerHello({"me": 1})]
        assert frames_in(server.wire.take()) == [[Welcome({"role": "server"})]]
    run(main())


def test_a_peer_that_never_finishes_the_hello_is_dropped_at_the_deadline(monkeypatch):
    monkeypatch.setattr(transport, "HELLO_DEADLINE_S", 0.01)

    async def main():
        server = Side(True)
        server.conn.data_received(RawClient().hs.start()[:10])
        await asyncio.sleep(0.05)
        assert server.conn.closed and "no hello within" in str(server.closed_with[0])
    run(main())
