"""The asyncio Forward-protocol server: connections, handshake, limits, acknowledgements.

Each connection feeds a bounded streaming unpacker. All complete frames found in what was read
are decoded, handed to the frame sink (the spool) as one batch, and reading pauses until the
sink has committed them: memory per connection stays within about one frame plus one read, and
the decoded batch is dropped before the next read (the spool may keep the decoded records of small
frames for the pipeline, within its own bound). `{"ack": chunk}` is written only after the
commit, echoing the sender's `chunk` value. A malformed or oversized frame, a failed handshake
or a full spool closes that connection alone, without an ack, with a logged reason and a counter;
the sender keeps its data and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

from parsers.collector.config import LimitsConfig, SecurityConfig
from parsers.collector.metrics import Metrics
from parsers.forward.handshake import ServerHandshake
from parsers.forward.modes import ForwardFrame, LineStream, MalformedFrame, decode_frame, new_unpacker

log = logging.getLogger(__name__)

MB = 1_000_000
# asyncio's selector transports read at most 256 KiB at a time: room for one read past a frame.
READ_SLACK_BYTES = 256 * 1024
SWEEP_INTERVAL_S = 1.0

FrameSink = Callable[[list[ForwardFrame]], Awaitable[bool]]


def build_tls_context(cert_file: str, key_file: str, client_ca_file: str | None) -> ssl.SSLContext:
    """Server TLS context; with a client CA, senders must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca_file)
    return context


class ForwardServer:
    """Listens, enforces the limits, and passes decoded frames to `frame_sink`."""

    def __init__(
        self,
        *,
        frame_sink: FrameSink,
        metrics: Metrics,
        limits: LimitsConfig,
        security: SecurityConfig | None = None,
        tls_context: ssl.SSLContext | None = None,
        tls_handshake_timeout_s: float = 10.0,
        line_stream: LineStream | None = None,
    ) -> None:
        self.frame_sink = frame_sink
        self.metrics = metrics
        self.limits = limits
        self.security = security or SecurityConfig()
        self.tls_context = tls_context
        self.tls_handshake_timeout_s = tls_handshake_timeout_s
        self.line_stream = line_stream
        self.max_frame_bytes = int(limits.max_frame_mb * MB)
        self.max_decompressed_bytes = int(limits.max_decompressed_mb * MB)
        self.users = {user.username: user.password for user in self.security.users}
        self.connections: set[ForwardConnection] = set()
        self.acking = True
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ForwardConnection(self),
            host,
            port,
            ssl=self.tls_context,
            ssl_handshake_timeout=self.tls_handshake_timeout_s if self.tls_context else None,
            backlog=4096,
            reuse_address=True,
        )
        self._sweeper = asyncio.create_task(self._sweep_idle())
        return int(self._server.sockets[0].getsockname()[1])

    async def _sweep_idle(self) -> None:
        """One timer for all connections: closes the idle ones and stalled handshakes."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_if_idle(now)

    async def stop(self) -> None:
        """Stop accepting, stop acknowledging, close every connection."""
        self.acking = False
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)


class ForwardConnection(asyncio.Protocol):
    """One sender connection."""

    def __init__(self, server: ForwardServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.unpacker: Any = None
        self.handshake: ServerHandshake | None = None
        self.opened_at = self.last_active = time.monotonic()
        self.busy = False
        self.closed = False
        self.eof = False
        self.peer = "?"
        self.peer_host = ""

    # -------------------------------------------------------------- lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        server = self.server
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.peer_host = str(peer[0]) if isinstance(peer, tuple) else self.peer
        if len(server.connections) >= server.limits.max_connections:
            server.metrics.connections_refused += 1
            log.warning("refusing %s: max_connections (%d) open", self.peer, server.limits.max_connections)
            self.closed = True
            transport.abort()
            return
        server.connections.add(self)
        server.metrics.connection_opened()
        self.unpacker = new_unpacker(server.max_frame_bytes + READ_SLACK_BYTES)
        if server.security.shared_key:
            self.handshake = ServerHandshake(
                server.security.shared_key, server.security.self_hostname, server.users
            )
            transport.write(msgpack.packb(self.handshake.helo(), use_bin_type=True))

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.server.metrics.connection_closed()
        self.closed = True
        self.unpacker = None

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close_if_idle(self, now: float) -> None:
        if self.busy or self.closed:
            return
        if self.handshake is not None and now - self.opened_at > self.server.limits.handshake_timeout_s:
            self._reject("handshake_failures", "no PING within handshake_timeout_s")
        elif now - self.last_active > self.server.limits.idle_timeout_s:
            self.server.metrics.connections_idle_closed += 1
            log.info("closing %s: idle for %.0f s", self.peer, self.server.limits.idle_timeout_s)
            self.abort()

    def _reject(self, counter: str, reason: str) -> None:
        """Close this connection without acking anything pending, counting why."""
        setattr(self.server.metrics, counter, getattr(self.server.metrics, counter) + 1)
        log.warning("closing %s: %s", self.peer, reason)
        self.abort()

    # -------------------------------------------------------------- reading

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_active = time.monotonic()
        try:
            self.unpacker.feed(data)
        except msgpack.BufferFull:
            limit = self.server.limits.max_frame_mb
            self._reject("frames_oversized", f"frame larger than max_frame_mb ({limit:g} MB)")
            return
        if not self.busy:
            self._process_buffered()

    def eof_received(self) -> bool | None:
        # A sender that half-closes after its last frame still gets its acks before we close.
        self.eof = True
        return True if self.busy else None

    def _process_buffered(self) -> None:
        frames: list[ForwardFrame] = []
        server = self.server
        try:
            for message in self.unpacker:
                if self.handshake is not None:
                    if not self._answer_ping(message):
                        return
                    continue
                frame = decode_frame(
                    message,
                    max_decompressed_bytes=server.max_decompressed_bytes,
                    line_stream=server.line_stream,
                )
                frame.origin = self.peer_host
                frames.append(frame)
        except MalformedFrame as exc:
            self._reject("frames_malformed", f"malformed frame: {exc}")
            return
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            # TypeError: a map keyed by an array or map (valid msgpack, unhashable in Python).
            self._reject("frames_malformed", f"invalid msgpack: {exc.__class__.__name__}: {exc}")
            return
        if frames:
            server.metrics.frames_received += len(frames)
            server.metrics.records_received += sum(frame.record_count for frame in frames)
            self.busy = True
            assert self.transport is not None
            self.transport.pause_reading()
            asyncio.get_running_loop().create_task(self._commit(frames))

    def _answer_ping(self, message: Any) -> bool:
        assert self.handshake is not None and self.transport is not None
        result = self.handshake.check_ping(message)
        self.transport.write(msgpack.packb(result.pong, use_bin_type=True))
        if not result.ok:
            self.server.metrics.handshake_failures += 1
            log.warning("closing %s: handshake failed: %s", self.peer, result.reason)
            # Close after the PONG is flushed: the sender learns why, and cannot reuse this socket.
            self.closed = True
            self.transport.close()
            return False
        self.handshake = None
        return True

    async def _commit(self, frames: list[ForwardFrame]) -> None:
        server = self.server
        to_store = [frame for frame in frames if frame.record_count]
        try:
            stored = await server.frame_sink(to_store) if to_store else True
        except Exception as exc:  # a spool I/O error: refuse, the sender retries
            log.error("spool write failed, refusing %d frames from %s: %s", len(frames), self.peer, exc)
            stored = False
        if self.closed or not server.acking:
            return
        if not stored:
            self._reject("frames_refused", f"spool full or failing; refused {len(frames)} frames without ack")
            server.metrics.frames_refused += len(frames) - 1
            server.metrics.records_refused += sum(frame.record_count for frame in frames)
            return
        assert self.transport is not None
        for frame in frames:
            if frame.wants_ack:
                self.transport.write(
                    msgpack.packb({"ack": frame.chunk}, use_bin_type=True, unicode_errors="surrogateescape")
                )
                server.metrics.frames_acked += 1
                server.metrics.records_acked += frame.record_count
        del frames, to_store
        self.busy = False
        if self.transport.is_closing():
            return
        if self.eof:
            self.transport.close()
            return
        self.transport.resume_reading()
        self._process_buffered()
