"""The hello every framed connection starts with: mutual proof of the cluster token.

Nothing a peer sends is decoded (no pickle, no message handling, not even a
`reply`) until both sides have proved they know the cluster token. The
exchange is fixed-size and parsed with `struct`; the token itself never
crosses the wire, only HMAC-SHA256 proofs over nonces from both sides:

    client                                               server
    CLIENT_HELLO  magic "STRT", version, flags, nonce_c  ->            (40 bytes)
              <-  SERVER_HELLO  magic, version, flags, nonce_s,
                                proof_s = HMAC(k, "server" | CLIENT_HELLO | nonce_s)   (72 bytes)
    (client checks proof_s: a server that cannot prove the token gets nothing
     secret and nothing of it is decoded)
    CLIENT_PROOF  HMAC(k, "client" | CLIENT_HELLO | SERVER_HELLO)  ->  (32 bytes)
              <-  VERDICT  0x01 accepted | 0x00 refused                 (1 byte)

k = HMAC(token, "strato handshake v1"). The labels keep a proof from being
reflected back to the side that made it, and both transcripts include both
nonces, so a recorded exchange cannot be replayed. After the verdict the
connection carries length-prefixed frames (transport.py).

`ServerHandshake` and `ClientHandshake` are pure state machines: the IO shell
hands each exactly `need` bytes and sends what `step` returns. They never
touch a socket, so tests drive them directly.
"""
from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import os
import socket
import struct

MAGIC = b"STRT"
VERSION = 1
_HELLO = struct.Struct(">4sHH32s")           # magic, version, flags, nonce
_SERVER_HELLO = struct.Struct(">4sHH32s32s")  # magic, version, flags, nonce, proof
PROOF_BYTES = 32
CLIENT_HELLO_BYTES = _HELLO.size              # 40
SERVER_HELLO_BYTES = _SERVER_HELLO.size       # 72
VERDICT_BYTES = 1
ACCEPTED, REFUSED = b"\x01", b"\x00"
#: Bytes an unauthenticated peer may have buffered at the server (a legitimate
#: client sends 40 + 32 bytes and one small hello frame before the verdict).
PREAUTH_BUFFER_LIMIT = 4096
#: Seconds a peer has to complete the exchange.
HELLO_DEADLINE_S = 5.0


class HandshakeError(ConnectionError):
    """The peer did not complete the hello: wrong magic or version, or it cannot prove the token."""


class WrongToken(HandshakeError):
    """The peer's proof does not match: it does not know this cluster's token."""


@functools.lru_cache(maxsize=8)
def derive_key(token: str) -> bytes:
    """The handshake key of a cluster token (the token itself is never sent)."""
    return hmac.new(token.encode(), b"strato handshake v1", hashlib.sha256).digest()


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def _check_header(magic: bytes, version: int, who: str) -> None:
    if magic != MAGIC:
        raise HandshakeError(f"the {who} does not speak strato's framed protocol (bad magic {magic!r})")
    if version != VERSION:
        raise HandshakeError(f"the {who} speaks protocol version {version}, this process {VERSION}: run the "
                             f"same strato version on every node and driver")


class Phase(enum.Enum):
    HELLO = "hello"          # server: waiting for CLIENT_HELLO; client: waiting for SERVER_HELLO
    PROOF = "proof"          # server: waiting for CLIENT_PROOF; client: waiting for the VERDICT
    OPEN = "open"            # authenticated: frames may be decoded
    FAILED = "failed"


class ServerHandshake:
    """The server's side. `need` bytes in, bytes to send out; `Phase.OPEN` when the client proved the token."""

    def __init__(self, token: str, nonce: bytes | None = None):
        self._key = derive_key(token)
        self._nonce = nonce or os.urandom(32)
        self._client_hello = b""
        self._server_hello = b""
        self.phase = Phase.HELLO

    @property
    def need(self) -> int:
        return {Phase.HELLO: CLIENT_HELLO_BYTES, Phase.PROOF: PROOF_BYTES}.get(self.phase, 0)

    def step(self, data: bytes) -> bytes:
        if len(data) != self.need:
            raise ValueError(f"step() takes exactly {self.need} bytes in phase {self.phase.value}, got {len(data)}")
        if self.phase is Phase.HELLO:
            magic, version, _flags, _nonce_c = _HELLO.unpack(data)
            try:
                _check_header(magic, version, "client")
            except HandshakeError:
                self.phase = Phase.FAILED
                raise
            self._client_hello = data
            proof = _mac(self._key, b"server", data, self._nonce)
            self._server_hello = _SERVER_HELLO.pack(MAGIC, VERSION, 0, self._nonce, proof)
            self.phase = Phase.PROOF
            return self._server_hello
        expected = _mac(self._key, b"client", self._client_hello, self._server_hello)
        if not hmac.compare_digest(data, expected):
            self.phase = Phase.FAILED
            raise WrongToken("the client does not know this cluster's token")
        self.phase = Phase.OPEN
        return ACCEPTED


class ClientHandshake:
    """The client's side: `start()` gives CLIENT_HELLO; it sends its proof only to a server that proved the token."""

    def __init__(self, token: str, nonce: bytes | None = None):
        self._key = derive_key(token)
        self._hello = _HELLO.pack(MAGIC, VERSION, 0, nonce or os.urandom(32))
        self.phase = Phase.HELLO

    def start(self) -> bytes:
        return self._hello

    @property
    def need(self) -> int:
        return {Phase.HELLO: SERVER_HELLO_BYTES, Phase.PROOF: VERDICT_BYTES}.get(self.phase, 0)

    def step(self, data: bytes) -> bytes:
        if len(data) != self.need:
            raise ValueError(f"step() takes exactly {self.need} bytes in phase {self.phase.value}, got {len(data)}")
        if self.phase is Phase.HELLO:
            magic, version, _flags, nonce_s, proof = _SERVER_HELLO.unpack(data)
            try:
                _check_header(magic, version, "server")
            except HandshakeError:
                self.phase = Phase.FAILED
                raise
            if not hmac.compare_digest(proof, _mac(self._key, b"server", self._hello, nonce_s)):
                self.phase = Phase.FAILED
                raise WrongToken("the server does not know this cluster's token: it is not this cluster "
                                 "(check the address), or the token is wrong")
            self.phase = Phase.PROOF
            return _mac(self._key, b"client", self._hello, data)
        if data != ACCEPTED:
            self.phase = Phase.FAILED
            raise WrongToken("the server refused this process's proof of the cluster token")
        self.phase = Phase.OPEN
        return b""


def client_handshake_sync(sock: socket.socket, token: str, timeout: float = HELLO_DEADLINE_S) -> None:
    """Run the client side over a blocking socket (the object store client); raises HandshakeError."""
    hs = ClientHandshake(token)
    old = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        sock.sendall(hs.start())
        while hs.phase is not Phase.OPEN:
            out = hs.step(_recv_exactly(sock, hs.need))
            if out:
                sock.sendall(out)
    except socket.timeout:
        raise HandshakeError(f"no answer to the hello within {timeout:g} s") from None
    finally:
        sock.settimeout(old)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise HandshakeError("the server closed the connection during the hello (wrong token, or too many "
                                 "unauthenticated connections)")
        buf += chunk
    return bytes(buf)
