"""The webhook channel: one JSON POST per run, `{"source": "bootwatch", "alerts": [event, ...]}`.

Retried (by the channel's `RetryPolicy`) on connection errors, timeouts, 429 and 5xx, honouring a
`Retry-After` in seconds; any other 4xx is the receiver saying no and is not retried.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from dashboards.alerts.config import WebhookChannel
from dashboards.alerts.events import AlertEvent
from dashboards.alerts.notifiers.retry import DeliveryError, RetryPolicy

_RETRYABLE_STATUS = frozenset({408, 429})


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the policy's own backoff applies


def webhook_body(events: Sequence[AlertEvent]) -> bytes:
    return json.dumps({"source": "bootwatch", "alerts": [event.as_json() for event in events]}).encode()


class WebhookNotifier:
    def __init__(self, channel: WebhookChannel) -> None:
        self.name = channel.name
        self.channel = channel
        self.retry = RetryPolicy(channel.attempts, channel.backoff_s, channel.max_backoff_s)
        self._context = ssl.create_default_context(cafile=str(channel.ca_file)) if channel.ca_file else None

    def send(self, events: Sequence[AlertEvent]) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "bootwatch-alerts",
            **self.channel.headers,
        }
        request = Request(self.channel.url, data=webhook_body(events), headers=headers, method="POST")
        try:
            with urlopen(request, timeout=self.channel.timeout_s, context=self._context) as response:
                response.read()
        except HTTPError as exc:
            retryable = exc.code >= 500 or exc.code in _RETRYABLE_STATUS
            raise DeliveryError(
                f"{self.channel.url} answered HTTP {exc.code}",
                retryable=retryable,
                retry_after_s=_retry_after(exc.headers.get("Retry-After")),
            ) from None
        except (URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"cannot reach {self.channel.url}: {reason}", retryable=True) from None
