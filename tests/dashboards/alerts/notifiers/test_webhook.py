"""Webhook delivery to a real local HTTP server: the JSON body, retries on 5xx/429, none on other 4xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dashboards.alerts.config import WebhookChannel
from dashboards.alerts.events import AlertEvent, AlertKey
from dashboards.alerts.notifiers.retry import DeliveryError
from dashboards.alerts.notifiers.webhook import WebhookNotifier
from tests.dashboards.support import RecordingServer, ScriptedAnswer

EVENT = AlertEvent(
    key=AlertKey("silent-install-failures", "S07", "S07-20021025T195549216Z"),
    action="raised",
    at=datetime(2002, 10, 27, 8, tzinfo=UTC),
    query_title="Silent install failures",
    severity="critical",
    state="failed_unreported",
    host="ORLÉANS-SEC06",
    message="S07 (ORLÉANS-SEC06): Silent install failures: attempt S07-1 is failed_unreported",
    error_code="0x80070005",
)


def _notifier(url: str, **settings: object) -> WebhookNotifier:
    return WebhookNotifier(WebhookChannel(type="webhook", name="hook", url=url, timeout_s=5, **settings))


def test_alerts_are_posted_as_one_json_document(http_server: RecordingServer) -> None:
    notifier = _notifier(http_server.url + "/bootwatch", headers={"Authorization": "Bearer t0ken"})
    notifier.send([EVENT])
    (request,) = http_server.requests
    assert request.path == "/bootwatch"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer t0ken"
    body = json.loads(request.body)
    assert body["source"] == "bootwatch"
    (alert,) = body["alerts"]
    assert {key: alert[key] for key in ("query", "site", "state", "attempt", "action")} == {
        "query": "silent-install-failures",
        "site": "S07",
        "state": "failed_unreported",
        "attempt": "S07-20021025T195549216Z",
        "action": "raised",
    }
    assert alert["host"] == "ORLÉANS-SEC06"


def test_a_503_then_a_200_is_delivered_on_the_second_try(http_server: RecordingServer) -> None:
    http_server.script = [ScriptedAnswer(503), ScriptedAnswer(200)]
    notifier = _notifier(http_server.url, backoff_s=2.0)
    waits: list[float] = []
    _, tries = notifier.retry.run(lambda: notifier.send([EVENT]), sleep=waits.append)
    assert tries == 2
    assert len(http_server.requests) == 2
    assert len(waits) == 1 and 1.6 <= waits[0] <= 2.0


def test_retry_after_is_honoured_up_to_the_cap(http_server: RecordingServer) -> None:
    http_server.script = [ScriptedAnswer(429, headers={"Retry-After": "7"}), ScriptedAnswer(200)]
    notifier = _notifier(http_server.url, backoff_s=1.0, max_backoff_s=5.0)
    waits: list[float] = []
    notifier.retry.run(lambda: notifier.send([EVENT]), sleep=waits.append)
    assert 4.0 <= waits[0] <= 5.0


def test_a_400_is_not_retried(http_server: RecordingServer) -> None:
    http_server.script = [ScriptedAnswer(400, {"error": "bad payload"})]
    notifier = _notifier(http_server.url, attempts=5)
    with pytest.raises(DeliveryError, match="HTTP 400") as caught:
        notifier.retry.run(lambda: notifier.send([EVENT]), sleep=lambda _s: None)
    assert caught.value.tries == 1
    assert len(http_server.requests) == 1


def test_a_server_that_keeps_failing_is_given_up_after_the_attempts(http_server: RecordingServer) -> None:
    http_server.script = [ScriptedAnswer(500)]
    notifier = _notifier(http_server.url, attempts=3)
    with pytest.raises(DeliveryError, match="HTTP 500") as caught:
        notifier.retry.run(lambda: notifier.send([EVENT]), sleep=lambda _s: None)
    assert caught.value.tries == 3
    assert len(http_server.requests) == 3


def test_a_closed_port_is_a_retryable_connection_error(http_server: RecordingServer) -> None:
    url = http_server.url
    http_server.shutdown()
    http_server.server_close()
    notifier = _notifier(url, attempts=2)
    with pytest.raises(DeliveryError, match="cannot reach") as caught:
        notifier.retry.run(lambda: notifier.send([EVENT]), sleep=lambda _s: None)
    assert caught.value.retryable and caught.value.tries == 2
