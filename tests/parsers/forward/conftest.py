"""A real Forward server on 127.0.0.1 with a real spool, run on its own event-loop thread.

Tests talk to it with plain blocking sockets (and real senders), the way peers do.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from parsers.collector.config import LimitsConfig, SecurityConfig
from parsers.collector.metrics import Metrics
from parsers.collector.records import line_stream
from parsers.forward.modes import ForwardFrame, entry_time, iter_entries
from parsers.forward.server import ForwardServer
from parsers.spool import Spool, SpoolInput, SpoolWriter

TIMEOUT_S = 5.0


class ServerHarness:
    def __init__(
        self,
        tmp_path: Path,
        *,
        limits: LimitsConfig | None = None,
        security: SecurityConfig | None = None,
        tls_context: ssl.SSLContext | None = None,
        spool_max_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.spool = Spool(tmp_path / "spool.sqlite3", max_bytes=spool_max_bytes, retain_bytes=0)
        self.writer = SpoolWriter(self.spool)
        self.metrics = Metrics()
        # Set (on the loop) to hold frames before their commit; tests release it.
        self.gate: asyncio.Event | None = None
        self.server = ForwardServer(
            frame_sink=self._sink,
            metrics=self.metrics,
            limits=limits or LimitsConfig(),
            security=security,
            tls_context=tls_context,
            line_stream=line_stream,
        )
        self.port = self.call(self.server.start("127.0.0.1", 0))

    async def _sink(self, frames: list[ForwardFrame]) -> bool:
        if self.gate is not None:
            await self.gate.wait()
        return await self.writer.submit(
            [SpoolInput(f.tag, f.entries, f.record_count, f.line_bytes) for f in frames]
        )

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT_S)

    def hold_commits(self) -> Callable[[], None]:
        """Hold every frame before its spool commit; returns the function that lets them through."""

        async def make() -> asyncio.Event:
            return asyncio.Event()

        self.gate = self.call(make())
        gate = self.gate
        return lambda: self.loop.call_soon_threadsafe(gate.set)

    def stored(self) -> list[tuple[str, float | None, dict[str, Any]]]:
        """(tag, time, record) of every record committed to the spool, in order."""
        rows = []
        for frame in self.spool.read_after(0, 10**9):
            entries = iter_entries(frame.entries)
            rows.extend((frame.tag, entry_time(time_value), record) for time_value, record in entries)
        return rows

    def close(self) -> None:
        self.call(self.server.stop())
        self.writer.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT_S)
        self.spool.close()


class Peer:
    """A blocking Forward client over a real socket."""

    def __init__(self, port: int, *, context: ssl.SSLContext | None = None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        self.unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape")

    def send(self, message: Any) -> None:
        self.sock.sendall(msgpack.packb(message, use_bin_type=True))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout_s: float = TIMEOUT_S) -> Any:
        self.sock.settimeout(timeout_s)
        while True:
            for message in self.unpacker:
                return message
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the server")
            self.unpacker.feed(data)

    def receive_bytes(self, timeout_s: float = TIMEOUT_S) -> bytes:
        self.sock.settimeout(timeout_s)
        return self.sock.recv(65536)

    def is_closed_by_server(self, timeout_s: float = TIMEOUT_S) -> bool:
        """True once the server closed the connection (reads give EOF or a reset)."""
        self.sock.settimeout(timeout_s)
        try:
            # Drain whatever the server sent before it closed: EOF (b"") is the close.
            data = self.sock.recv(65536)
            while data:
                data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return True
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ServerHarness]:
    running = ServerHarness(tmp_path)
    yield running
    running.close()


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Callable[..., ServerHarness]]:
    started: list[ServerHarness] = []

    def make(**options: Any) -> ServerHarness:
        running = ServerHarness(tmp_path / f"h{len(started)}", **options)
        started.append(running)
        return running

    yield make
    for running in started:
        running.close()
