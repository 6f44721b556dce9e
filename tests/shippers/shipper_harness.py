"""Shipper test harness: an acking Forward receiver on 127.0.0.1, shippers in threads, writers, a poll gate.

The receiver is deliberately independent of the real collector (`parsers/forward`): it decodes
PackedForward frames, keeps every record it got (duplicates included), and acks each chunk
unless told to lose acks, never ack, or refuse the shared key.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest

from shippers import follow
from shippers.config import ShipperConfig
from shippers.follow import Follower
from shippers.service import Shipper

WAIT_S = 10.0


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def _sha512_hex(*parts: bytes) -> str:
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


@dataclass
class ForwardReceiver:
    """An acking Forward receiver; `records` holds every record received, in arrival order."""

    port: int = 0
    shared_key: str = ""
    tls_context: ssl.SSLContext | None = None
    ack: bool = True                 # False: read frames but never answer (a hung collector)
    acks_to_lose: int = 0            # store the next N chunks but do not ack them
    records: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    handshakes_refused: int = 0
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> ForwardReceiver:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        for thread in self._threads:
            thread.join(2)
        self._threads = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def received(self) -> set[tuple[str, int]]:
        with self._lock:
            return {(record["file_id"], record["offset"]) for record in self.records}

    def texts(self) -> dict[tuple[str, int], str]:
        with self._lock:
            return {(record["file_id"], record["offset"]): record["message"] for record in self.records}

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                connection, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.tls_context is not None:
                try:
                    connection.settimeout(2)
                    connection = self.tls_context.wrap_socket(connection, server_side=True)
                except (OSError, ssl.SSLError):
                    connection.close()
                    continue
            with self._lock:
                self._connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        unpacker = msgpack.Unpacker(raw=False)
        try:
            if self.shared_key and not self._handshake(connection, unpacker):
                return
            while True:
                data = connection.recv(1 << 16)
                if not data:
                    return
                unpacker.feed(data)
                for message in unpacker:
                    self._take(connection, message)
        except (OSError, ValueError):
            return
        finally:
            connection.close()

    def _handshake(self, connection: socket.socket, unpacker: msgpack.Unpacker) -> bool:
        nonce = os.urandom(16)
        connection.sendall(msgpack.packb(["HELO", {"nonce": nonce, "auth": b"", "keepalive": True}]))
        while True:
            data = connection.recv(1 << 16)
            if not data:
                return False
            unpacker.feed(data)
            for ping in unpacker:
                _ping, hostname, salt, digest, _user, _password = ping
                salt_bytes = salt if isinstance(salt, bytes) else salt.encode()
                key = self.shared_key.encode()
                ok = digest == _sha512_hex(salt_bytes, hostname.encode(), nonce, key)
                if not ok:
                    self.handshakes_refused += 1
                connection.sendall(msgpack.packb(
                    ["PONG", ok, "" if ok else "shared key mismatch", "receiver",
                     _sha512_hex(salt_bytes, b"receiver", nonce, key)]))
                return ok

    def _take(self, connection: socket.socket, message: list[Any]) -> None:
        if not isinstance(message[1], bytes):
            # Message mode [tag, time, record] (fluent-logger's sender): kept, never acked.
            with self._lock:
                self.messages.append((message[0], message[2]))
            return
        tag, entries, options = message
        chunk = options["chunk"]
        received = [record for _time, record in _entries(entries)]
        with self._lock:
            self.tags.append(tag)
            self.chunks.append(chunk)
            for record in received:
                (self.heartbeats if record.get("type") == "heartbeat" else self.records).append(record)
            lose = self.acks_to_lose > 0
            if lose:
                self.acks_to_lose -= 1
        if self.ack and not lose:
            connection.sendall(msgpack.packb({"ack": chunk}))


def _entries(entries: bytes) -> list[list[Any]]:
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 26)
    unpacker.feed(entries)
    return list(unpacker)


def free_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shipper_toml(state_dir: Path, paths: list[Path | str], collectors: list[str], **options: Any) -> str:
    """Config text with fast test timings; `options` override or add keys (nested dicts become tables)."""
    settings: dict[str, Any] = {
        "site": "S02", "host": "SECSRV01", "timezone": "Pacific Standard Time",
        "collectors": collectors, "paths": [str(path) for path in paths], "state_dir": str(state_dir),
        "poll_interval_s": 0.05, "rescan_s": 0.05, "flush_after_s": 0.3, "heartbeat_s": 60,
        "ack_timeout_s": 1.0, "connect_timeout_s": 1.0, "backoff_initial_s": 0.05, "backoff_max_s": 0.2,
    }
    settings.update(options)

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, str):
            return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(item, list):
            return "[" + ", ".join(value(element) for element in item) + "]"
        return repr(item)

    lines = [f"{key} = {value(item)}" for key, item in settings.items() if not isinstance(item, dict)]
    for key, table in settings.items():
        if isinstance(table, dict):
            lines.append(f"[{key}]")
            lines.extend(f"{name} = {value(item)}" for name, item in table.items())
    return "\n".join(lines) + "\n"


class RunningShipper:
    """A shipper running in a thread of the test process."""

    def __init__(self, config: ShipperConfig) -> None:
        self.shipper = Shipper(config)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.shipper.run()
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self.shipper.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the shipper did not stop"
        if self.error is not None:
            raise self.error


class LogWriter:
    """Appends records to a log file the way SMS components do, remembering each record's offset."""

    def __init__(self, path: Path, encoding: str = "utf-8", bom: bytes = b"") -> None:
        self.path = path
        self.encoding = encoding
        self.offsets: list[int] = []
        self.texts: list[str] = []
        with open(path, "ab") as handle:
            handle.write(bom)

    def write_raw(self, data: bytes) -> None:
        with open(self.path, "ab") as handle:
            handle.write(data)

    def line(self, text: str, terminator: str = "\r\n") -> None:
        size = self.path.stat().st_size
        self.offsets.append(0 if size and size == self._bom_only_size() else size)
        self.texts.append(text)
        self.write_raw((text + terminator).encode(self.encoding))

    def _bom_only_size(self) -> int:
        with open(self.path, "rb") as handle:
            head = handle.read(4)
        for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
            if head == bom:
                return len(bom)
        return -1

    def legacy(self, count: int, start: int = 0, component: str = "SMS_BOOTSTRAP") -> None:
        for number in range(start, start + count):
            self.line(f"Record {number} of {self.path.name}  $$<{component}>"
                      f"<Fri Jul 26 10:12:01.{number % 1000:03d} 2002 Pacific Daylight Time>"
                      f"<thread=345 (0x159)>")


def file_id_of(path: Path) -> str:
    from shippers.framing import file_fingerprint

    fingerprint = file_fingerprint(path.read_bytes())
    assert fingerprint is not None
    return fingerprint


class PollGate:
    """Lets the test decide when a running shipper polls its files: `step()` runs exactly one poll.

    Between steps the shipper's reader does nothing (its sender keeps delivering), so a test can
    rotate files any number of times "between two polls". `during_next_poll(action)` runs `action`
    right after the next poll opened its first file, to put a rotation inside a poll.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._allowed = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._inside_poll = False
        self._action: Callable[[], None] | None = None
        real_poll = Follower.poll

        def gated_poll(follower: Follower) -> int:
            # A short wait, so a stopping shipper is never stuck here.
            if not self._allowed.acquire(timeout=0.05):
                follower.behind = False
                return 0
            self._inside_poll = True
            try:
                return real_poll(follower)
            finally:
                self._inside_poll = False
                self._done.release()

        def opening(path: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115 - the shipper closes it
            action, self._action = (self._action, None) if self._inside_poll else (None, self._action)
            if action is not None:
                action()
            return handle

        monkeypatch.setattr(Follower, "poll", gated_poll)
        monkeypatch.setattr(follow, "open", opening, raising=False)

    def step(self, polls: int = 1) -> None:
        for _poll in range(polls):
            self._allowed.release()
            assert self._done.acquire(timeout=WAIT_S), "the shipper did not poll"

    def during_next_poll(self, action: Callable[[], None]) -> None:
        self._action = action
