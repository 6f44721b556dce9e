"""The store sink's site install state under live collection: out-of-order files, restarts, two writers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from parsers.collector.sinks import StoreSink
from parsers.lifecycle.attempts import SiteTracker
from parsers.schema import SiteAttempt
from parsers.store.connect import Store
from parsers.store.sites import SiteStore
from parsers.store.templates import SITES_INDEX
from tests.parsers.store.store_helpers import log_document

pytestmark = pytest.mark.integration


@pytest.fixture
def store(clean_store: Store) -> Store:
    """The session's store, emptied (the sinks install the templates themselves)."""
    return clean_store


T0 = datetime(2002, 7, 26, 17, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(
    minutes: float,
    action: str | None,
    file_id: str,
    offset: int,
    *,
    site: str = "S67",
    message: str = "working",
) -> dict[str, Any]:
    moment = at(minutes)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return log_document(offset, site=site, file_id=file_id, timestamp=stamp, message=message, action=action)


def s67() -> dict[str, dict[str, Any]]:
    """The demo's S67: attempt 1 fails (bootstrap log); the retry's start marker is in the setup log,
    its success in smsexec.log, so the success can arrive before the start that opens its attempt."""
    return {
        "start": record(0, "install.started", "bootstrap", 0, message="SMS_BOOTSTRAP service started"),
        "failure": record(10, "install.failed", "bootstrap", 100, message="Setup failed"),
        "stop": record(11, "bootstrap.stopped", "bootstrap", 200, message="SMS_BOOTSTRAP service stopped"),
        "retry": record(60, "install.started", "setup", 0, message="Configuration Manager Setup started"),
        "progress": record(70, "install.progress", "setup", 100, message="Installing SMS_EXECUTIVE"),
        "success": record(90, "install.succeeded", "smsexec", 0, message="SMS_EXECUTIVE started"),
    }


def sink_on(store: Store) -> StoreSink:
    """A collector's sink on the shared test store (not closed by the test: the session owns the store)."""
    return StoreSink(lambda: store)


def stored_attempts(store: Store, site: str) -> list[SiteAttempt]:
    store.client.indices.refresh(index=SITES_INDEX)
    return list(SiteStore(store).iter_attempts(site))


def facts(attempt: SiteAttempt) -> tuple[object, ...]:
    return attempt.attempt_number, attempt.state, attempt.started_at, attempt.ended_at


def test_a_retry_start_arriving_after_its_success_leaves_attempt_one_failed_and_two_succeeded(
    store: Store,
) -> None:
    docs = s67()
    sink = sink_on(store)
    sink.write([docs["start"], docs["failure"], docs["stop"]])
    sink.write([docs["success"]])
    store.client.indices.refresh(index=SITES_INDEX)
    assert [a.state for a in SiteStore(store).iter_attempts("S67")] == ["succeeded"]  # known then
    sink.write([docs["retry"], docs["progress"]])
    first, second = stored_attempts(store, "S67")
    assert facts(first) == (1, "failed_unreported", at(0), at(11))
    assert facts(second) == (2, "succeeded", at(60), at(90))
    assert SiteStore(store).latest_attempts()["S67"].attempt_id == second.attempt_id
    in_order = SiteTracker("S67")
    for doc in sorted(docs.values(), key=lambda doc: (doc["@timestamp"], doc["sms"]["log"]["file_id"])):
        in_order.observe(doc)
    assert [facts(attempt) for attempt in in_order.judge(at(100))] == [facts(first), facts(second)]


def test_a_setup_start_arriving_before_the_bootstrap_start_leaves_one_attempt_document(store: Store) -> None:
    sink = sink_on(store)
    sink.write([record(5, "install.started", "setup", 0, site="S03", message="Setup started")])
    sink.write([record(0, "install.started", "bootstrap", 0, site="S03", message="Bootstrap started")])
    (only,) = stored_attempts(store, "S03")
    assert (only.attempt_id, only.started_at, only.record_count) == ("S03-20020726T170000000Z", at(0), 2)
    assert SiteStore(store).latest_attempts()["S03"] == only


def test_a_restarted_collector_carries_the_open_attempt_on_from_the_store(store: Store) -> None:
    before = sink_on(store)
    before.write([record(0, "install.started", "bootstrap", 0, site="S05")])
    before.write([record(5, "install.progress", "bootstrap", 100, site="S05")])
    store.client.indices.refresh(index=SITES_INDEX)
    after = sink_on(store)  # a new collector process on the same (durable) store
    after.write([record(30, "install.succeeded", "smsexec", 0, site="S05")])
    (only,) = stored_attempts(store, "S05")
    # without resuming, the success would open an implicit attempt of its own
    assert (only.state, only.started_at, only.ended_at) == ("succeeded", at(0), at(30))
    assert (only.implicit_start, only.record_count, only.evidence) == (False, 3, 3)


def test_a_collector_restarted_before_the_late_retry_start_still_converges(store: Store) -> None:
    docs = s67()
    before = sink_on(store)
    before.write([docs["start"], docs["failure"], docs["stop"]])
    before.write([docs["success"]])
    store.client.indices.refresh(index=SITES_INDEX)
    after = sink_on(store)
    after.write([docs["retry"], docs["progress"]])
    first, second = stored_attempts(store, "S67")
    assert (first.attempt_number, first.state, first.started_at) == (1, "failed_unreported", at(0))
    assert facts(second) == (2, "succeeded", at(60), at(90))
    after.write([record(95, "install.succeeded", "smsexec", 100, message="SMS_EXECUTIVE started")])
    after.write([record(200, "install.started", "bootstrap", 300, message="SMS_BOOTSTRAP service started")])
    stored = stored_attempts(store, "S67")
    assert [(a.attempt_number, a.state) for a in stored] == [
        (1, "failed_unreported"),
        (2, "succeeded"),
        (3, "stalled"),  # judged as of the wall clock: long silent
    ]
    assert SiteStore(store).latest_attempts()["S67"].attempt_number == 3
