"""What the runner produces: an `AlertEvent` per alert raised, repeated or resolved; delivery outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from parsers.schema import format_utc_millis

Action = Literal["raised", "resolved"]


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What an alert is about: one saved query matching one install attempt of one site."""

    query: str
    site: str
    attempt: str


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One notification: a match started (`raised`), is still open and due again (`raised`, `repeat`),
    or stopped (`resolved`). `channels` limits delivery to those channel names (None = every channel)."""

    key: AlertKey
    action: Action
    at: datetime
    query_title: str
    severity: str
    state: str | None
    host: str | None
    message: str
    repeat: bool = False
    error_code: str | None = None
    hint: str | None = None
    last_event_at: str | None = None
    channels: frozenset[str] | None = None
    already_notified: tuple[str, ...] = ()

    def for_channel(self, name: str) -> bool:
        return self.channels is None or name in self.channels

    def as_json(self) -> dict[str, Any]:
        """The event as channels and `--json` show it."""
        return {
            "query": self.key.query,
            "title": self.query_title,
            "severity": self.severity,
            "site": self.key.site,
            "host": self.host,
            "attempt": self.key.attempt,
            "state": self.state,
            "action": self.action,
            "repeat": self.repeat,
            "at": format_utc_millis(self.at),
            "last_event_at": self.last_event_at,
            "error_code": self.error_code,
            "hint": self.hint,
            "message": self.message,
        }

    def line(self) -> str:
        """One human-readable line."""
        verb = "still" if self.repeat else self.action
        return f"[{self.severity}] {verb}: {self.message}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one channel fared with one batch of events."""

    channel: str
    events: int
    ok: bool
    tries: int
    error: str | None = None


@dataclass(slots=True)
class RunReport:
    """Everything one evaluation did: events, deliveries, and the queries that could not run."""

    as_of: datetime
    events: list[AlertEvent] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    failed_queries: dict[str, str] = field(default_factory=dict)

    @property
    def delivered_everywhere(self) -> bool:
        return all(delivery.ok for delivery in self.deliveries) and not self.failed_queries
