"""The notifier interface: a name, a retry policy, and `send(events)` that raises `DeliveryError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dashboards.alerts.events import AlertEvent
from dashboards.alerts.notifiers.retry import RetryPolicy


class Notifier(Protocol):
    """One configured channel."""

    name: str
    retry: RetryPolicy

    def send(self, events: Sequence[AlertEvent]) -> None:
        """Deliver the events once; raise `DeliveryError` (retryable or not) when that failed."""
        ...
