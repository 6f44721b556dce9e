"""The Forward protocol v1 shared-key handshake, server side: HELO, then PING checked, then PONG.

  server -> HELO  ["HELO", {"nonce": bin, "auth": salt, "keepalive": true}]
  client -> PING  ["PING", client_hostname, shared_key_salt,
                   sha512_hex(shared_key_salt + client_hostname + nonce + shared_key),
                   username, sha512_hex(auth_salt + username + password)]
  server -> PONG  ["PONG", ok, reason, server_hostname,
                   sha512_hex(shared_key_salt + server_hostname + nonce + shared_key)]

All digest inputs are raw bytes. Fluent Bit packs its 16-byte random salt as a msgpack *str*
that is not valid UTF-8, so strings are taken back to their exact bytes (`surrogateescape`).
`auth` is only sent when user names are checked: Fluent Bit sends a password digest whenever
`auth` is present, even empty. This module is pure (no I/O), so both outcomes are easy to test.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

NONCE_BYTES = 16


def to_bytes(value: Any) -> bytes:
    """The exact bytes a sender packed, whether it used msgpack str or bin."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    raise TypeError(f"expected str or bin, got {type(value).__name__}")


def sha512_hex(*parts: bytes) -> str:
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class PingResult:
    ok: bool
    reason: str
    pong: list[Any]
    client_hostname: str = ""
    username: str = ""


class ServerHandshake:
    """One connection's handshake: `helo()` to send first, then `check_ping(message)`."""

    def __init__(self, shared_key: str, self_hostname: str, users: dict[str, str] | None = None) -> None:
        self._shared_key = shared_key.encode()
        self._hostname = self_hostname
        self._users = {name.encode(): password.encode() for name, password in (users or {}).items()}
        self.nonce = os.urandom(NONCE_BYTES)
        self.auth_salt = os.urandom(NONCE_BYTES) if self._users else b""

    def helo(self) -> list[Any]:
        options: dict[str, Any] = {"nonce": self.nonce, "keepalive": True}
        if self._users:
            options["auth"] = self.auth_salt
        return ["HELO", options]

    def _refuse(self, reason: str) -> PingResult:
        return PingResult(False, reason, ["PONG", False, reason, "", ""])

    def check_ping(self, message: Any) -> PingResult:
        """Check a PING; the result carries the PONG to send (sent either way, then close on failure)."""
        if not isinstance(message, list) or len(message) != 6 or message[0] != "PING":
            return self._refuse("expected PING [PING, hostname, salt, digest, username, password digest]")
        _ping, hostname_value, salt_value, digest_value, user_value, password_value = message
        try:
            hostname, salt = to_bytes(hostname_value), to_bytes(salt_value)
            digest, username, password_digest = (
                to_bytes(digest_value),
                to_bytes(user_value),
                to_bytes(password_value),
            )
        except TypeError as exc:
            return self._refuse(f"malformed PING: {exc}")
        expected = sha512_hex(salt, hostname, self.nonce, self._shared_key).encode()
        if not hmac.compare_digest(digest, expected):
            return self._refuse("shared_key mismatch")
        if self._users:
            password = self._users.get(username)
            wanted = sha512_hex(self.auth_salt, username, password).encode() if password else b""
            if not password or not hmac.compare_digest(password_digest, wanted):
                return self._refuse("username/password mismatch")
        pong_digest = sha512_hex(salt, self._hostname.encode(), self.nonce, self._shared_key)
        return PingResult(
            True,
            "",
            ["PONG", True, "", self._hostname, pong_digest],
            client_hostname=hostname.decode("utf-8", "replace"),
            username=username.decode("utf-8", "replace"),
        )


def client_ping(
    helo: list[Any],
    *,
    shared_key: str,
    client_hostname: str,
    salt: bytes,
    username: str = "",
    password: str = "",
) -> list[Any]:
    """The PING a client answers `helo` with (used by tests and the benchmark's senders)."""
    options = helo[1]
    nonce = to_bytes(options["nonce"])
    digest = sha512_hex(salt, client_hostname.encode(), nonce, shared_key.encode())
    password_digest = ""
    if "auth" in options:
        password_digest = sha512_hex(to_bytes(options["auth"]), username.encode(), password.encode())
    return ["PING", client_hostname, salt, digest, username, password_digest]


def pong_digest_ok(pong: list[Any], *, shared_key: str, salt: bytes, nonce: bytes) -> bool:
    """Whether a PONG proves the server knows the key (what Fluent Bit checks)."""
    expected = sha512_hex(salt, to_bytes(pong[3]), nonce, shared_key.encode())
    return bool(pong[1]) and to_bytes(pong[4]).decode() == expected
