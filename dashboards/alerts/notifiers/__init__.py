"""Notification channels: each turns a batch of alert events into one delivery (a log line per event, one
webhook POST, one mail), retried by the shared `RetryPolicy`. `build_notifier` maps a config entry to one."""

from __future__ import annotations

from dashboards.alerts.config import EmailChannel, LogChannel, WebhookChannel
from dashboards.alerts.notifiers.base import Notifier
from dashboards.alerts.notifiers.email import EmailNotifier
from dashboards.alerts.notifiers.log import LogNotifier
from dashboards.alerts.notifiers.retry import DeliveryError, RetryPolicy
from dashboards.alerts.notifiers.webhook import WebhookNotifier

__all__ = ["DeliveryError", "Notifier", "RetryPolicy", "build_notifier"]


def build_notifier(channel: LogChannel | WebhookChannel | EmailChannel) -> Notifier:
    """The notifier a config entry describes."""
    if isinstance(channel, LogChannel):
        return LogNotifier(channel)
    if isinstance(channel, WebhookChannel):
        return WebhookNotifier(channel)
    return EmailNotifier(channel)
