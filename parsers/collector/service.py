"""The running collector: wires the Forward server, the spool, the pipeline thread and the metrics.

`Collector.start` opens the spool and listens; `Collector.stop` stops accepting, acknowledges
nothing more, lets the pipeline finish its current batch, and closes everything. Everything
durable is in the spool, so stopping at any point (even SIGKILL) loses nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
import ssl
import threading
from pathlib import Path

import msgpack

from parsers.collector.config import CollectorConfig, ConfigError, parse_host_port
from parsers.collector.metrics import Metrics, SpoolNumbers
from parsers.collector.pipeline import Pipeline
from parsers.collector.records import line_stream
from parsers.collector.sinks import Sink
from parsers.forward.modes import ForwardFrame
from parsers.forward.server import MB, ForwardServer, build_tls_context
from parsers.lifecycle.rules import Rules
from parsers.spool import Spool, SpoolInput, SpoolWriter

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite3"
PIPELINE_JOIN_TIMEOUT_S = 30.0
_MAX_HTTP_REQUEST_BYTES = 8192


def retry_key(frame: ForwardFrame) -> bytes | None:
    """Identity of a frame a line-per-record sender may re-send after a lost ack (see `parsers.spool`).

    None for a frame without a `chunk` (its sender waits for no ack, so never re-sends) and for one
    of whole records, which carry their own ids and are de-duplicated downstream by them."""
    if frame.chunk is None or not frame.line_bytes:
        return None
    digest = hashlib.blake2b(
        msgpack.packb(
            [frame.origin, frame.tag, frame.chunk], use_bin_type=True, unicode_errors="surrogateescape"
        ),
        digest_size=16,
    )
    digest.update(frame.entries)
    return digest.digest()


class Collector:
    def __init__(
        self, config: CollectorConfig, sink: Sink, *, rules: Rules | None, replay_retained: bool
    ) -> None:
        self.config = config
        self.sink = sink
        self.metrics = Metrics()
        spool_config = config.spool
        try:
            self.spool = Spool(
                Path(config.state_dir) / SPOOL_FILE,
                max_bytes=int(spool_config.max_mb * MB),
                retain_bytes=int(spool_config.retain_mb * MB),
                fsync=spool_config.fsync,
                retry_window_frames=spool_config.retry_window_frames,
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"key 'state_dir' ({config.state_dir}): cannot open the spool there ({exc}); "
                "choose a writable folder with --state-dir"
            ) from None
        self.metrics.spool_stats = self._spool_numbers
        self._wake = threading.Event()
        self.writer = SpoolWriter(self.spool, on_commit=self._wake)
        self.pipeline = Pipeline(
            self.spool,
            sink,
            self.metrics,
            rules=rules,
            batch_records=config.pipeline.batch_records,
            store_interval_s=config.pipeline.store_interval_s,
            reframe_flush_s=config.pipeline.reframe_flush_s,
            lookahead_max_s=config.pipeline.lookahead_max_s,
            retry_max_s=config.pipeline.retry_max_s,
            site_sweep_s=config.pipeline.site_sweep_s,
            replay_retained=replay_retained,
            wake=self._wake,
        )
        tls_context = self._tls_context(config)
        self.server = ForwardServer(
            frame_sink=self._spool_frames,
            metrics=self.metrics,
            limits=config.limits,
            security=config.security,
            tls_context=tls_context,
            tls_handshake_timeout_s=config.tls.handshake_timeout_s,
            line_stream=line_stream,
        )
        self._pipeline_thread = threading.Thread(target=self.pipeline.run, name="pipeline", daemon=True)
        self._background: list[asyncio.Task[None]] = []
        self._metrics_server: asyncio.base_events.Server | None = None
        self.port = 0
        self.metrics_port = 0
        # Set when the pipeline thread died of an unexpected error: the command exits non-zero.
        self.failed = asyncio.Event()

    @staticmethod
    def _tls_context(config: CollectorConfig) -> ssl.SSLContext | None:
        """The server TLS context, or None; unreadable files are a config error naming the key."""
        tls = config.tls
        if tls.cert_file is None or tls.key_file is None:
            return None
        try:
            context = build_tls_context(str(tls.cert_file), str(tls.key_file), None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"keys 'tls.cert_file' / 'tls.key_file' ({tls.cert_file}, {tls.key_file}): cannot load them "
                f"({exc}); give PEM files, the key matching the certificate"
            ) from None
        if tls.client_ca_file is not None:
            try:
                context = build_tls_context(str(tls.cert_file), str(tls.key_file), str(tls.client_ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"key 'tls.client_ca_file' ({tls.client_ca_file}): cannot load it ({exc}); "
                    "give a PEM CA bundle"
                ) from None
        return context

    def _spool_numbers(self) -> SpoolNumbers:
        stats = self.spool.stats()
        return (
            stats.pending_frames,
            stats.pending_records,
            stats.pending_bytes,
            stats.retained_bytes,
            stats.resent_frames,
            stats.resent_records,
        )

    async def _spool_frames(self, frames: list[ForwardFrame]) -> bool:
        inputs = [
            SpoolInput(
                frame.tag,
                frame.entries,
                frame.record_count,
                frame.line_bytes,
                retry_key(frame),
                frame.decoded,
            )
            for frame in frames
        ]
        return await self.writer.submit(inputs)

    async def start(self) -> None:
        self._pipeline_thread.start()
        host, port = self.config.listen_address
        self.port = await self.server.start(host, port)
        log.info("collector listening on %s:%d (spool %s)", host, self.port, self.spool.path)
        observability = self.config.observability
        if observability.metrics_listen is not None:
            metrics_host, metrics_port = parse_host_port(observability.metrics_listen, default_port=9464)
            self._metrics_server = await asyncio.start_server(self._serve_metrics, metrics_host, metrics_port)
            self.metrics_port = int(self._metrics_server.sockets[0].getsockname()[1])
            log.info("metrics on http://%s:%d/metrics", metrics_host, self.metrics_port)
        self._background.append(asyncio.create_task(self._log_stats(observability.stats_interval_s)))
        self._background.append(asyncio.create_task(self._watch_pipeline()))

    async def _watch_pipeline(self) -> None:
        """If the pipeline thread dies, stop the collector rather than spool with nobody draining."""
        while self._pipeline_thread.is_alive():
            await asyncio.sleep(1.0)
        if self.pipeline.failure is not None:
            self.failed.set()

    async def _log_stats(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            log.info("stats %s", self.metrics.stats_line())

    async def _serve_metrics(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A minimal HTTP/1.0 responder: GET /metrics, anything else 404."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            request_line = head[:_MAX_HTTP_REQUEST_BYTES].split(b"\r\n", 1)[0].split()
            if (
                len(request_line) >= 2
                and request_line[0] == b"GET"
                and request_line[1].split(b"?")[0] == b"/metrics"
            ):
                body = self.metrics.prometheus_text().encode()
                status, content_type = b"200 OK", b"text/plain; version=0.0.4; charset=utf-8"
            else:
                body, status, content_type = b"not found; try /metrics\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.0 "
                + status
                + b"\r\nContent-Type: "
                + content_type
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a scraper that hung up or sent junk: nothing to answer, the endpoint stays up
        finally:
            writer.close()

    async def stop(self) -> None:
        """Stop accepting and acking, finish the pipeline's current batch, close everything."""
        await self.server.stop()
        self.writer.close()
        self.pipeline.stop()
        await asyncio.to_thread(self._pipeline_thread.join, PIPELINE_JOIN_TIMEOUT_S)
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._metrics_server is not None:
            self._metrics_server.close()
        self.sink.close()
        self.spool.close()
        log.info("collector stopped: %s", self.metrics.stats_line())
