"""Acknowledged delivery over the Forward protocol: PackedForward chunks, acks, failover, backoff.

fluent-logger's `FluentSender` sends one event per Message-mode frame and waits for no
acknowledgement, so delivery is this small layer on msgpack (fluent-logger still provides
`EventTime`). One frame per batch:

    [tag, bin(entries), {"chunk": <base64 of 16 random bytes>, "size": <records>}]

where `entries` is the concatenation of msgpack `[EventTime, record]` pairs. The collector answers
`{"ack": <chunk>}` once it stored the batch; without that answer in `ack_timeout_s` (or when the
connection drops) the same chunk is resent, on the next collector in the list if needed. The
optional shared-key handshake (HELO / PING / PONG, Forward protocol v1) runs on every new
connection, inside TLS when TLS is on.
"""

from __future__ import annotations

import base64
import os
import random
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgpack
from fluent.sender import EventTime

from shippers.config import AuthConfig, Collector, TlsConfig

if TYPE_CHECKING:
    import ssl

_RECV_BYTES = 1 << 16


class TransportError(Exception):
    """No collector took the chunk (connection refused or lost, no ack in time, handshake refused)."""


def new_chunk_id() -> str:
    """A chunk id: base64 of 16 random bytes, kept for every resend of the same batch."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


class Backoff:
    """Exponential retry delays with jitter: base doubles per failed round up to `max_s`, reset on success.

    The delay is drawn from [base/2, base] so shippers that lost the same collector spread out.
    """

    def __init__(self, initial_s: float, max_s: float, rng: Callable[[], float] = random.random) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._rng = rng
        self._failures = 0

    def next_delay(self) -> float:
        base = min(self._max_s, self._initial_s * 2 ** min(self._failures, 32))
        self._failures += 1
        return base / 2 + self._rng() * base / 2

    def reset(self) -> None:
        self._failures = 0


class RecordPacker:
    """Packs framed records into PackedForward entries: `[EventTime, record map]` per record.

    The fields every record of a batch shares are packed once into a prefix, so the per-record
    work is two C-level packs and a join (no dict per record: that costs ten times as much).
    """

    def __init__(self, *, site: str, host: str, timezone: str) -> None:
        self._pack = msgpack.Packer().pack
        self._common = {"type": "record", "site": site, "host": host, "timezone": timezone}

    def pack(self, *, path: str, file_id: str, encoding: str, offsets: Sequence[int], texts: Sequence[str],
             read_at: float) -> bytes:
        pack = self._pack
        fields = {**self._common, "path": path, "file_id": file_id, "encoding": encoding}
        # A fixmap header with 2 more entries than `fields`: "offset" and "message" follow per record.
        prefix = b"".join([b"\x92", pack(EventTime(read_at)), bytes([0x80 | (len(fields) + 2)]),
                           *(pack(key) + pack(value) for key, value in fields.items()), pack("offset")])
        message_key = pack("message")
        if not offsets:
            return b""
        # prefix + offset + "message" + text per record, built with C-level joins only.
        return prefix + prefix.join(map(message_key.join, zip(map(pack, offsets), map(pack, texts),
                                                               strict=True)))

    def pack_event(self, record: dict[str, Any], at: float) -> bytes:
        """One entry for a single event (a heartbeat)."""
        return self._pack([EventTime(at), record])


def _bin_header(length: int) -> bytes:
    if length < 1 << 8:
        return b"\xc4" + struct.pack(">B", length)
    if length < 1 << 16:
        return b"\xc5" + struct.pack(">H", length)
    return b"\xc6" + struct.pack(">I", length)


def forward_frame(tag: str, entries: bytes, records: int, chunk: str) -> bytes:
    """The PackedForward frame for a batch (the entries are copied once, into the frame)."""
    pack = msgpack.Packer().pack
    options = pack({"chunk": chunk, "size": records})
    return b"".join((b"\x93", pack(tag), _bin_header(len(entries)), entries, options))


def sha512_hex(*parts: bytes) -> str:
    import hashlib  # only with a shared key: hashlib loads OpenSSL, which costs memory

    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TransportError(f"expected a string in the handshake, got {type(value).__name__}")


class ForwardClient:
    """One connection at a time; `send` returns once the chunk is acked, else raises TransportError.

    Collectors are tried in list order. After a failure on one (refused, dropped, no ack), the
    next connection starts with the one after it, so a collector that accepts but never acks
    cannot hold the shipper: the caller retries at once and backs off only after a whole round.
    """

    def __init__(self, collectors: Sequence[Collector], *, tls: TlsConfig, auth: AuthConfig,
                 self_hostname: str, connect_timeout_s: float, ack_timeout_s: float) -> None:
        self._collectors = list(collectors)
        self._tls_context = self._make_tls_context(tls) if tls.enabled else None
        self._auth = auth
        self._self_hostname = self_hostname
        self._connect_timeout_s = connect_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._socket: socket.socket | None = None
        self._first_to_try = 0
        self.connected_to: Collector | None = None

    @property
    def collector_count(self) -> int:
        return len(self._collectors)

    @staticmethod
    def _make_tls_context(tls: TlsConfig) -> ssl.SSLContext:
        import ssl  # only when TLS is on: the module costs memory on a small server

        context = ssl.create_default_context(cafile=tls.ca_file or None)
        context.check_hostname = tls.verify_hostname
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        return context

    def close(self) -> None:
        if self._socket is not None:
            try:
                self._socket.close()
            finally:
                self._socket = None
                self.connected_to = None

    def connect(self) -> Collector:
        """Connect to the first collector that answers (and passes the handshake), in list order."""
        self.close()
        failures = []
        count = len(self._collectors)
        for step in range(count):
            index = (self._first_to_try + step) % count
            collector = self._collectors[index]
            try:
                self._socket = self._open(collector)
            except (OSError, TransportError) as exc:
                failures.append(f"{collector}: {exc}")
                continue
            self._first_to_try = index
            self.connected_to = collector
            return collector
        raise TransportError("no collector answered (" + "; ".join(failures) + ")")

    def _open(self, collector: Collector) -> socket.socket:
        sock = socket.create_connection((collector.host, collector.port), timeout=self._connect_timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls_context is not None:
                sock = self._tls_context.wrap_socket(sock, server_hostname=collector.host)
            if self._auth.shared_key:
                self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        return sock

    def _handshake(self, sock: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=True, max_buffer_size=1 << 20)
        helo = self._receive(sock, unpacker, self._connect_timeout_s)
        if not (isinstance(helo, list) and len(helo) == 2 and helo[0] == b"HELO"
                and isinstance(helo[1], dict)):
            raise TransportError(f"expected HELO from the collector, got {helo!r:.80}")
        options = helo[1]
        nonce = _as_bytes(options.get(b"nonce", b""))
        auth_salt = _as_bytes(options.get(b"auth", b""))
        key = self._auth.shared_key.encode()
        hostname = self._self_hostname.encode()
        salt = os.urandom(16).hex().encode()
        username = self._auth.username.encode()
        password_digest = (sha512_hex(auth_salt, username, self._auth.password.encode())
                           if auth_salt and username else "")
        ping = ["PING", self._self_hostname, salt, sha512_hex(salt, hostname, nonce, key),
                self._auth.username, password_digest]
        sock.sendall(msgpack.packb(ping))
        pong = self._receive(sock, unpacker, self._connect_timeout_s)
        if not (isinstance(pong, list) and len(pong) == 5 and pong[0] == b"PONG"):
            raise TransportError(f"expected PONG from the collector, got {pong!r:.80}")
        _pong, accepted, reason, server_hostname, digest = pong
        if accepted is not True:
            why = _as_bytes(reason).decode(errors="replace")
            raise TransportError(f"collector refused the handshake: {why}")
        import hmac

        expected = sha512_hex(salt, _as_bytes(server_hostname), nonce, key).encode()
        if not hmac.compare_digest(_as_bytes(digest), expected):
            raise TransportError("collector's PONG digest is wrong: it does not hold our shared key")

    @staticmethod
    def _receive(sock: socket.socket, unpacker: msgpack.Unpacker, timeout_s: float) -> Any:
        """The next msgpack object from the socket, within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            for message in unpacker:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"no answer from the collector within {timeout_s:g} s")
            sock.settimeout(remaining)
            try:
                data = sock.recv(_RECV_BYTES)
            except TimeoutError:
                raise TransportError(f"no answer from the collector within {timeout_s:g} s") from None
            if not data:
                raise TransportError("the collector closed the connection")
            unpacker.feed(data)

    def send(self, tag: str, entries: bytes, records: int, chunk: str) -> None:
        """Send one batch and wait for its ack; TransportError (connection closed) when that fails."""
        if self._socket is None:
            self.connect()
        sock = self._socket
        assert sock is not None
        try:
            sock.settimeout(self._ack_timeout_s)
            sock.sendall(forward_frame(tag, entries, records, chunk))
            answer = self._receive(sock, msgpack.Unpacker(raw=True, max_buffer_size=1 << 16),
                                   self._ack_timeout_s)
        except (OSError, TransportError) as exc:
            raise self._failed(str(exc)) from None
        if not (isinstance(answer, dict) and answer.get(b"ack") == chunk.encode()):
            raise self._failed(f"expected the ack of chunk {chunk}, got {answer!r:.80}")

    def _failed(self, reason: str) -> TransportError:
        """Drop the connection and move on to the next collector; the error to raise."""
        where = self.connected_to
        self._first_to_try = (self._first_to_try + 1) % len(self._collectors)
        self.close()
        return TransportError(f"{where}: {reason}")
