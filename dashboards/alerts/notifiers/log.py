"""The log channel: one line per alert on stderr (default) or stdout."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dashboards.alerts.config import LogChannel
from dashboards.alerts.events import AlertEvent
from dashboards.alerts.notifiers.retry import DeliveryError, RetryPolicy
from parsers.schema import format_utc_millis


class LogNotifier:
    def __init__(self, channel: LogChannel) -> None:
        self.name = channel.name
        self.stream_name = channel.stream
        self.retry = RetryPolicy(channel.attempts, channel.backoff_s, channel.max_backoff_s)

    def send(self, events: Sequence[AlertEvent]) -> None:
        # Looked up at send time, not bound at build: tests and callers may swap sys.stdout.
        stream = sys.stdout if self.stream_name == "stdout" else sys.stderr
        try:
            for event in events:
                stream.write(f"{format_utc_millis(event.at)} bootwatch alert {event.line()}\n")
            stream.flush()
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.stream_name}: {exc}", retryable=False) from None
