"""The alert runner on the real engine, with site attempts indexed through the store API and real channels:
raise once, stay quiet, repeat after the re-notify interval, resolve, survive restarts, and keep going
when one channel fails."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from dashboards.alerts.config import AlertConfig, LogChannel, WebhookChannel
from dashboards.alerts.events import RunReport
from dashboards.alerts.runner import AlertRunner, UnknownQueryError
from parsers.schema import AlertDocument
from parsers.store.connect import Store
from parsers.store.templates import ALERTS_INDEX
from tests.dashboards.support import RecordingServer, ScriptedAnswer, index_attempts, site_attempt

pytestmark = pytest.mark.integration

T = datetime(2002, 10, 27, 8, 0, tzinfo=UTC)


def _runner(
    store: Store, *channels: LogChannel | WebhookChannel, queries: list[str] | None = None
) -> AlertRunner:
    config = AlertConfig(channel=list(channels) or [LogChannel(type="log")], queries=queries)
    return AlertRunner(store, config, sleep=lambda _s: None)


def _hook(server: RecordingServer, name: str = "hook", attempts: int = 2) -> WebhookChannel:
    return WebhookChannel(type="webhook", name=name, url=server.url, attempts=attempts, timeout_s=5)


def _summary(report: RunReport) -> set[tuple[str, str, bool]]:
    return {(event.key.site, event.action, event.repeat) for event in report.events}


def _fleet(store: Store) -> None:
    index_attempts(
        store,
        site_attempt("S01", "failed_unreported", error_code="0x80070005"),
        site_attempt("S02", "stalled"),
        site_attempt("S03", "succeeded"),
        site_attempt("S04", "dark"),
        site_attempt("S05", "in_progress"),
    )


def test_new_matches_raise_once_and_a_restarted_runner_sends_nothing_again(
    clean_store: Store, http_server: RecordingServer
) -> None:
    _fleet(clean_store)
    report = _runner(clean_store, _hook(http_server)).evaluate(T)
    assert _summary(report) == {("S01", "raised", False), ("S02", "raised", False)}
    (request,) = http_server.requests
    alerts = json.loads(request.body)["alerts"]
    assert {(alert["site"], alert["state"], alert["action"]) for alert in alerts} == {
        ("S01", "failed_unreported", "raised"),
        ("S02", "stalled", "raised"),
    }
    restarted = _runner(clean_store, _hook(http_server))
    assert restarted.evaluate(T + timedelta(minutes=5)).events == []
    assert len(http_server.requests) == 1


def test_alert_documents_record_each_event_and_its_channels(
    clean_store: Store, http_server: RecordingServer
) -> None:
    _fleet(clean_store)
    _runner(clean_store, _hook(http_server)).evaluate(T)
    hits = clean_store.client.search(index=ALERTS_INDEX, query={"match_all": {}})["hits"]["hits"]
    documents = [AlertDocument.model_validate(hit["_source"]) for hit in hits]
    assert {(doc.site, doc.action, doc.state, tuple(doc.notified)) for doc in documents} == {
        ("S01", "raised", "failed_unreported", ("hook",)),
        ("S02", "raised", "stalled", ("hook",)),
    }
    assert all(doc.at == T for doc in documents)


def test_an_open_alert_is_sent_again_only_after_the_renotify_interval(clean_store: Store) -> None:
    _fleet(clean_store)
    runner = _runner(clean_store)
    runner.evaluate(T)
    assert runner.evaluate(T + timedelta(hours=23)).events == []
    again = runner.evaluate(T + timedelta(hours=24))
    assert _summary(again) == {("S01", "raised", True), ("S02", "raised", True)}
    assert runner.evaluate(T + timedelta(hours=25)).events == []


def test_a_site_that_leaves_the_state_gets_a_resolved_notice(clean_store: Store) -> None:
    _fleet(clean_store)
    runner = _runner(clean_store)
    runner.evaluate(T)
    index_attempts(clean_store, site_attempt("S02", "succeeded"))
    report = runner.evaluate(T + timedelta(minutes=5))
    (event,) = report.events
    assert (event.key.site, event.action, event.state) == ("S02", "resolved", "succeeded")
    assert "is now succeeded" in event.message
    assert runner.evaluate(T + timedelta(minutes=10)).events == []


def test_a_retry_resolves_the_old_attempt_and_a_new_failure_raises_the_new_one(clean_store: Store) -> None:
    index_attempts(clean_store, site_attempt("S01", "failed_unreported"))
    runner = _runner(clean_store)
    (first,) = runner.evaluate(T).events
    retry = site_attempt("S01", "in_progress", started_at="2002-10-27T09:00:00.000Z", attempt_number=2)
    index_attempts(clean_store, retry)
    (resolved,) = runner.evaluate(T + timedelta(hours=2)).events
    assert (resolved.key, resolved.action) == (first.key, "resolved")
    assert "superseded by attempt" in resolved.message
    index_attempts(clean_store, {**retry, "state": "stalled"})
    (raised,) = runner.evaluate(T + timedelta(hours=4)).events
    assert (raised.key.attempt, raised.action) == (retry["attempt_id"], "raised")


def test_a_failing_channel_is_reported_never_stops_the_others_and_is_owed_the_alert(
    clean_store: Store, http_server: RecordingServer, capsys: pytest.CaptureFixture[str]
) -> None:
    index_attempts(clean_store, site_attempt("S01", "failed_unreported"))
    http_server.script = [ScriptedAnswer(500), ScriptedAnswer(500), ScriptedAnswer(200)]
    runner = _runner(
        clean_store, _hook(http_server, "flaky", attempts=2), LogChannel(type="log", name="console")
    )
    report = runner.evaluate(T)
    deliveries = {delivery.channel: delivery for delivery in report.deliveries}
    assert not deliveries["flaky"].ok and deliveries["flaky"].tries == 2
    assert "HTTP 500" in (deliveries["flaky"].error or "")
    assert deliveries["console"].ok
    assert "raised: S01" in capsys.readouterr().err
    # Next run: only the channel that missed it gets the alert, and then nobody is owed anything.
    (owed,) = runner.evaluate(T + timedelta(minutes=5)).events
    assert owed.channels == frozenset({"flaky"})
    assert capsys.readouterr().err == ""
    assert len(http_server.requests) == 3
    assert runner.evaluate(T + timedelta(minutes=10)).events == []


def test_the_config_can_select_the_dark_sites_query(clean_store: Store) -> None:
    _fleet(clean_store)
    report = _runner(clean_store, queries=["sites-gone-dark"]).evaluate(T)
    assert _summary(report) == {("S04", "raised", False)}


def test_the_config_cannot_select_a_query_that_does_not_alert(clean_store: Store) -> None:
    with pytest.raises(UnknownQueryError, match="stalled-installs is not an alerting query"):
        _runner(clean_store, queries=["stalled-installs"])


def test_run_forever_evaluates_on_schedule_until_stopped(clean_store: Store) -> None:
    _fleet(clean_store)
    runner = _runner(clean_store)
    now = [T]
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += timedelta(seconds=seconds)

    stop = threading.Event()
    reports: list[RunReport] = []

    def on_report(report: RunReport) -> None:
        reports.append(report)
        if len(reports) == 3:
            stop.set()

    runner.run_forever(stop, on_report, every=timedelta(minutes=10), clock=lambda: now[0], wait=wait)
    assert [report.as_of - T for report in reports] == [
        timedelta(0),
        timedelta(minutes=10),
        timedelta(minutes=20),
    ]
    assert waits == [600.0, 600.0]
    assert _summary(reports[0]) == {("S01", "raised", False), ("S02", "raised", False)}
    assert reports[1].events == [] and reports[2].events == []
