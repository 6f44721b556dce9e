"""Shared-key handshake: digests per the spec, raw salts, users, and closing on failure."""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from collections.abc import Callable

import msgpack

from parsers.collector.config import SecurityConfig, UserCredential
from parsers.forward.handshake import ServerHandshake, client_ping, pong_digest_ok, to_bytes
from tests.parsers.forward.conftest import Peer, ServerHarness

KEY = "s3cr3t"


def raw_str(data: bytes) -> bytes:
    """msgpack str8 holding arbitrary bytes, as Fluent Bit packs its random salt."""
    return b"\xd9" + struct.pack("B", len(data)) + data


def test_ping_with_the_right_key_gets_a_pong_fluent_bit_can_verify() -> None:
    server = ServerHandshake(KEY, "collector")
    salt = os.urandom(16)
    ping = client_ping(server.helo(), shared_key=KEY, client_hostname="SECSRV01", salt=salt)
    result = server.check_ping(ping)
    assert result.ok and result.client_hostname == "SECSRV01"
    expected = hashlib.sha512(salt + b"collector" + server.nonce + KEY.encode()).hexdigest()
    assert result.pong == ["PONG", True, "", "collector", expected]
    assert pong_digest_ok(result.pong, shared_key=KEY, salt=salt, nonce=server.nonce)


def test_wrong_key_is_refused_with_a_reason() -> None:
    server = ServerHandshake(KEY, "collector")
    ping = client_ping(server.helo(), shared_key="wrong", client_hostname="h", salt=b"salt")
    result = server.check_ping(ping)
    assert not result.ok
    assert result.pong == ["PONG", False, "shared_key mismatch", "", ""]


def test_helo_offers_auth_only_when_users_are_checked() -> None:
    assert "auth" not in ServerHandshake(KEY, "c").helo()[1]
    helo = ServerHandshake(KEY, "c", {"alice": "pw"}).helo()
    assert len(to_bytes(helo[1]["auth"])) == 16


def test_user_and_password_are_checked() -> None:
    server = ServerHandshake(KEY, "c", {"alice": "pw"})
    good = client_ping(
        server.helo(), shared_key=KEY, client_hostname="h", salt=b"s", username="alice", password="pw"
    )
    bad = client_ping(
        server.helo(), shared_key=KEY, client_hostname="h", salt=b"s", username="alice", password="no"
    )
    assert server.check_ping(good).ok
    assert server.check_ping(bad).reason == "username/password mismatch"


def test_not_a_ping_is_refused() -> None:
    assert not ServerHandshake(KEY, "c").check_ping(["t", 1, {}]).ok


def handshake_harness(make_harness: Callable[..., ServerHarness], **security: object) -> ServerHarness:
    return make_harness(security=SecurityConfig(shared_key=KEY, self_hostname="collector", **security))


def test_handshake_over_a_socket_with_a_raw_salt_then_data_is_acked(
    make_harness: Callable[..., ServerHarness],
) -> None:
    running = handshake_harness(make_harness)
    peer = Peer(running.port)
    helo = peer.receive()
    assert helo[0] == "HELO" and "nonce" in helo[1]
    nonce = to_bytes(helo[1]["nonce"])
    salt = bytes(range(240, 256))  # not valid UTF-8, packed as str like Fluent Bit does
    digest = hashlib.sha512(salt + b"SECSRV01" + nonce + KEY.encode()).hexdigest()
    ping = (
        b"\x96"
        + msgpack.packb("PING")
        + msgpack.packb("SECSRV01")
        + raw_str(salt)
        + msgpack.packb(digest)
        + msgpack.packb("")
        + msgpack.packb("")
    )
    peer.send_raw(ping)
    pong = peer.receive()
    assert pong[:4] == ["PONG", True, "", "collector"]
    assert pong_digest_ok(pong, shared_key=KEY, salt=salt, nonce=nonce)
    peer.send(["t", 1, {"log": "x"}, {"chunk": "after-handshake"}])
    assert peer.receive() == {"ack": "after-handshake"}


def test_failed_handshake_closes_the_connection_and_stores_nothing(
    make_harness: Callable[..., ServerHarness],
) -> None:
    running = handshake_harness(make_harness)
    peer = Peer(running.port)
    helo = peer.receive()
    peer.send(client_ping(helo, shared_key="wrong", client_hostname="h", salt=b"salt"))
    pong = peer.receive()
    assert pong[:3] == ["PONG", False, "shared_key mismatch"]
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        peer.send(["t", 1, {"log": "sneaked in"}, {"chunk": "c"}])
    assert peer.is_closed_by_server()
    assert running.stored() == []
    assert running.metrics.handshake_failures == 1


def test_data_before_the_handshake_is_refused(make_harness: Callable[..., ServerHarness]) -> None:
    running = handshake_harness(make_harness)
    peer = Peer(running.port)
    peer.receive()  # HELO
    peer.send(["t", 1, {"log": "x"}, {"chunk": "c"}])
    assert peer.receive()[:2] == ["PONG", False]
    assert peer.is_closed_by_server()
    assert running.stored() == []


def test_users_over_a_socket(make_harness: Callable[..., ServerHarness]) -> None:
    running = handshake_harness(make_harness, users=[UserCredential(username="alice", password="pw")])
    peer = Peer(running.port)
    helo = peer.receive()
    peer.send(
        client_ping(helo, shared_key=KEY, client_hostname="h", salt=b"s", username="alice", password="pw")
    )
    assert peer.receive()[1] is True
    peer.send(["t", 1, {"log": "x"}, {"chunk": "c"}])
    assert peer.receive() == {"ack": "c"}
