"""The collector's counters and gauges, rendered as a one-line stats log and as Prometheus text.

Each counter is incremented by one thread only (the event loop or the pipeline thread), so plain
integer attributes are enough; readers may see a value one update old, which monitoring accepts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# (pending frames, pending records, pending bytes, retained bytes, resent frames, resent records)
SpoolNumbers = tuple[int, int, int, int, int, int]

# (attribute, Prometheus type, help). Counter names get the conventional `_total` suffix.
_COUNTERS = (
    ("frames_received", "Forward frames decoded"),
    ("records_received", "Records in decoded frames"),
    ("frames_acked", "Frames acknowledged after their spool commit"),
    ("records_acked", "Records in frames acknowledged after their spool commit"),
    ("frames_refused", "Frames refused without ack because the spool was full"),
    ("records_refused", "Records in frames refused without ack because the spool was full"),
    ("frames_malformed", "Connections closed for a malformed frame"),
    ("frames_oversized", "Connections closed for a frame over max_frame_mb"),
    ("connections_accepted", "Connections accepted"),
    ("connections_refused", "Connections closed at accept because max_connections were open"),
    ("connections_idle_closed", "Connections closed after idle_timeout_s"),
    ("handshake_failures", "Connections closed for a failed shared-key handshake"),
    ("records_indexed", "Documents the sink stored for the first time"),
    ("records_deduplicated", "Documents the sink already held (same record id)"),
    ("records_dead_lettered", "Records that could not be parsed or stored and were set aside"),
    ("heartbeats_received", "Shipper heartbeat records"),
    ("store_errors", "Failed attempts to write a batch to the store (retried)"),
)


@dataclass
class Metrics:
    frames_received: int = 0
    records_received: int = 0
    frames_acked: int = 0
    records_acked: int = 0
    frames_refused: int = 0
    records_refused: int = 0
    frames_malformed: int = 0
    frames_oversized: int = 0
    connections_accepted: int = 0
    connections_refused: int = 0
    connections_idle_closed: int = 0
    handshake_failures: int = 0
    records_indexed: int = 0
    records_deduplicated: int = 0
    records_dead_lettered: int = 0
    heartbeats_received: int = 0
    store_errors: int = 0
    connections_open: int = 0
    connections_peak: int = 0
    # When the newest frame the sink has stored was received (seconds since the epoch).
    last_indexed_received_at: float = 0.0
    # When the sink last finished storing a batch (seconds since the epoch; 0 before the first).
    last_store_write_at: float = 0.0
    spool_stats: Callable[[], SpoolNumbers] | None = field(default=None, repr=False)

    def connection_opened(self) -> None:
        self.connections_accepted += 1
        self.connections_open += 1
        self.connections_peak = max(self.connections_peak, self.connections_open)

    def connection_closed(self) -> None:
        self.connections_open -= 1

    def spool(self) -> SpoolNumbers:
        """(pending frames, pending records, pending bytes, retained bytes, resent frames, resent records)."""
        return self.spool_stats() if self.spool_stats else (0, 0, 0, 0, 0, 0)

    def indexing_lag_s(self, now: float | None = None) -> float:
        """Age of the newest indexed frame while records wait in the spool; 0 when caught up."""
        pending_records = self.spool()[1]
        if pending_records == 0 or self.last_indexed_received_at == 0.0:
            return 0.0
        return max(0.0, (now or time.time()) - self.last_indexed_received_at)

    def stats_line(self) -> str:
        frames, records, size, _retained, resent_frames, _resent_records = self.spool()
        return (
            f"received={self.records_received} acked_frames={self.frames_acked}"
            f" resent_frames={resent_frames}"
            f" indexed={self.records_indexed}"
            f" dedup={self.records_deduplicated} dead={self.records_dead_lettered}"
            f" refused_frames={self.frames_refused} malformed={self.frames_malformed + self.frames_oversized}"
            f" conns={self.connections_open} spool_frames={frames} spool_records={records}"
            f" spool_mb={size / 1e6:.1f} lag_s={self.indexing_lag_s():.1f}"
        )

    def prometheus_text(self) -> str:
        lines: list[str] = []
        for name, help_text in _COUNTERS:
            metric = f"bootwatch_collector_{name}_total"
            lines += [
                f"# HELP {metric} {help_text}",
                f"# TYPE {metric} counter",
                f"{metric} {getattr(self, name)}",
            ]
        frames, records, size, retained, resent_frames, resent_records = self.spool()
        resent = (
            (
                "frames_resent",
                "Frames a sender re-sent after a lost ack: acked again, not spooled again",
                resent_frames,
            ),
            (
                "records_resent",
                "Records in frames re-sent after a lost ack, not spooled again",
                resent_records,
            ),
        )
        for name, help_text, value in resent:
            metric = f"bootwatch_collector_{name}_total"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric} {value}"]
        gauges = (
            ("connections_open", "Connections open now", self.connections_open),
            ("connections_peak", "Most connections open at once since start", self.connections_peak),
            ("spool_pending_frames", "Frames in the spool not yet indexed", frames),
            ("spool_pending_records", "Records in the spool not yet indexed", records),
            ("spool_pending_bytes", "Bytes in the spool not yet indexed", size),
            ("spool_retained_bytes", "Indexed bytes kept to rebuild the embedded engine", retained),
            (
                "indexing_lag_seconds",
                "Age of the newest indexed frame while the spool is not empty",
                self.indexing_lag_s(),
            ),
            (
                "last_store_write_timestamp_seconds",
                "When the sink last finished storing a batch (Unix time; 0 before the first)",
                self.last_store_write_at,
            ),
        )
        for name, help_text, value in gauges:
            metric = f"bootwatch_collector_{name}"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge", f"{metric} {value}"]
        return "\n".join(lines) + "\n"
