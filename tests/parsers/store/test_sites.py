"""Site install state in the store: every lifecycle path persisted, optimistic concurrency, the sweep."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from store_helpers import log_document

from parsers.lifecycle.attempts import FleetTracker, SiteTracker
from parsers.schema import HeartbeatDocument, SiteAttempt
from parsers.store.connect import Store
from parsers.store.retry import RetryPolicy
from parsers.store.sites import SaveResult, SiteStore
from parsers.store.templates import HEARTBEATS_INDEX, SITES_INDEX

pytestmark = pytest.mark.integration

T0 = datetime(2002, 7, 26, 9, 0, tzinfo=UTC)


def _at(minutes: float) -> str:
    moment = T0 + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _record(site: str, minutes: float, action: str | None = None, message: str = "working") -> dict:
    return log_document(int(minutes * 100), site=site, timestamp=_at(minutes), message=message, action=action)


# site -> its records (minutes after T0, action); judged as of T0 + 6 h
FLEET: dict[str, list[tuple[float, str | None]]] = {
    "SOK": [(0, "install.started"), (10, "install.progress"), (40, "install.succeeded")],
    "SFL": [(0, "install.started"), (5, None), (7, "install.failed"), (8, "bootstrap.stopped")],
    "SRE": [
        (0, "install.started"),
        (3, "install.failed"),
        (60, "install.started"),
        (90, "install.succeeded"),
    ],
    "SRS": [(0, "install.started"), (3, "install.failed"), (60, "install.started"), (70, "install.progress")],
    "SIP": [(0, "install.started"), (340, "install.progress")],
}
EXPECTED = {
    "SOK": "succeeded",
    "SFL": "failed_unreported",
    "SRE": "succeeded",
    "SRS": "stalled",
    "SIP": "in_progress",
}
AS_OF = T0 + timedelta(hours=6)


def _fast_policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=50, initial_backoff_s=0.001, max_backoff_s=0.01)


def _judged_fleet() -> list[SiteAttempt]:
    fleet = FleetTracker()
    for site, records in FLEET.items():
        for minutes, action in records:
            fleet.observe(_record(site, minutes, action))
    return [attempt for attempts in fleet.judge(AS_OF).values() for attempt in attempts]


def test_every_lifecycle_path_is_persisted_per_attempt(store: Store) -> None:
    sites = SiteStore(store)
    result = sites.save(_judged_fleet())
    assert result.written == 7  # SRE and SRS have two attempts each
    store.client.indices.refresh(index=SITES_INDEX)
    latest = sites.latest_attempts()
    assert {site: attempt.state for site, attempt in latest.items()} == EXPECTED
    assert latest["SRE"].attempt_number == 2
    assert [attempt.state for attempt in sites.iter_attempts("SRS")] == ["failed_unreported", "stalled"]
    assert latest["SFL"].ended_at == T0 + timedelta(minutes=8)


def test_saving_the_same_judgment_again_writes_nothing(store: Store) -> None:
    sites = SiteStore(store)
    sites.save(_judged_fleet())
    again = sites.save(_judged_fleet())
    assert (again.written, again.unchanged) == (0, 7)


def test_a_conflicting_writer_is_detected_and_its_change_reapplied(store: Store) -> None:
    first_writer = SiteStore(store, policy=_fast_policy())
    second_writer = SiteStore(store, policy=_fast_policy())
    (base,) = [attempt for attempt in _judged_fleet() if attempt.site == "SOK"]
    first_writer.save([base])
    interleaved = False

    def add_one(stored: SiteAttempt | None) -> SiteAttempt | None:
        nonlocal interleaved
        assert stored is not None
        if not interleaved:
            # the other collector writes between our read and our write
            interleaved = True
            second_writer.update(
                base.attempt_id,
                lambda other: other.model_copy(update={"record_count": other.record_count + 10}),
            )
        return stored.model_copy(update={"record_count": stored.record_count + 1})

    result = SaveResult()
    first_writer.update(base.attempt_id, add_one, result)
    assert result.conflicts == 1
    stored = first_writer.get(base.attempt_id)
    assert stored is not None and stored[0].record_count == base.record_count + 11


def test_concurrent_writers_lose_no_update(store: Store) -> None:
    (base,) = [attempt for attempt in _judged_fleet() if attempt.site == "SOK"]
    SiteStore(store).save([base])

    def increment_five_times() -> None:
        writer = SiteStore(store, policy=_fast_policy())
        for _ in range(5):
            writer.update(
                base.attempt_id, lambda s: s.model_copy(update={"record_count": s.record_count + 1})
            )

    threads = [threading.Thread(target=increment_five_times) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    stored = SiteStore(store).get(base.attempt_id)
    assert stored is not None and stored[0].record_count == base.record_count + 20


def test_the_sweep_turns_a_silent_attempt_stalled_without_new_records(store: Store) -> None:
    sites = SiteStore(store)
    fleet = FleetTracker()
    fleet.observe(_record("SQT", 0, "install.started"))
    fleet.observe(_record("SQT", 30, "install.progress"))
    (attempt,) = fleet.judge(T0 + timedelta(minutes=45))["SQT"]
    assert attempt.state == "in_progress"
    sites.save([attempt])
    store.client.indices.refresh(index=SITES_INDEX)
    early = sites.sweep(T0 + timedelta(hours=1))
    assert early.written == 0
    late = sites.sweep(T0 + timedelta(hours=3))
    assert late.written == 1
    stored = sites.get(attempt.attempt_id)
    assert stored is not None
    assert stored[0].state == "stalled"
    assert stored[0].detected_at == T0 + timedelta(hours=3)


def test_the_sweep_judges_dark_when_heartbeats_stopped_during_the_attempt(store: Store) -> None:
    sites = SiteStore(store)
    for minutes in (0, 10, 20):
        heartbeat = HeartbeatDocument.model_validate(
            {"@timestamp": _at(minutes), "site": "SDK", "host": "sdk-server", "heartbeat_s": 600.0}
        )
        sites.record_heartbeat(heartbeat)
        sites.record_heartbeat(heartbeat)  # a resend after a lost ack is stored once
    store.client.indices.refresh(index=HEARTBEATS_INDEX)
    assert store.client.count(index=HEARTBEATS_INDEX)["count"] == 3
    assert sites.shipper_last_seen() == {"SDK": T0 + timedelta(minutes=20)}
    fleet = FleetTracker()
    fleet.observe(_record("SDK", 5, "install.started"))
    (attempt,) = fleet.judge(T0 + timedelta(minutes=6))["SDK"]
    sites.save([attempt])
    store.client.indices.refresh(index=SITES_INDEX)
    sites.sweep(T0 + timedelta(hours=1))
    stored = sites.get(attempt.attempt_id)
    assert stored is not None
    assert stored[0].state == "dark"
    assert stored[0].shipper_last_seen == T0 + timedelta(minutes=20)


# ------------------------------------------------------------------ which judgment wins, superseded ids


def _s67_tracker() -> tuple[SiteTracker, dict[str, dict]]:
    """S67 of the demo: attempt 1 fails; the retry's start marker (setup log) arrives after the retry's
    success (smsexec.log). The tracker has seen everything but the retry and its progress."""
    docs = {
        "start": log_document(0, site="S67", file_id="boot", timestamp=_at(0), action="install.started"),
        "failure": log_document(100, site="S67", file_id="boot", timestamp=_at(10), action="install.failed"),
        "stop": log_document(200, site="S67", file_id="boot", timestamp=_at(11), action="bootstrap.stopped"),
        "retry": log_document(0, site="S67", file_id="setup", timestamp=_at(60), action="install.started"),
        "progress": log_document(
            100, site="S67", file_id="setup", timestamp=_at(70), action="install.progress"
        ),
        "success": log_document(0, site="S67", file_id="exec", timestamp=_at(90), action="install.succeeded"),
    }
    tracker = SiteTracker("S67")
    for name in ("start", "failure", "stop", "success"):
        tracker.observe(docs[name])
    return tracker, docs


def test_a_judgment_on_more_records_replaces_one_with_a_later_last_record(store: Store) -> None:
    sites = SiteStore(store)
    tracker, docs = _s67_tracker()
    sites.save(tracker.judge(T0 + timedelta(minutes=95)))
    tracker.observe(docs["retry"])
    tracker.observe(docs["progress"])
    # the rebuilt attempt 1 ends earlier and holds fewer records than the stored `succeeded` one
    sites.save(tracker.judge(T0 + timedelta(minutes=100)))
    store.client.indices.refresh(index=SITES_INDEX)
    stored = [(a.attempt_number, a.state, a.record_count) for a in sites.iter_attempts("S67")]
    assert stored == [(1, "failed_unreported", 3), (2, "succeeded", 3)]
    latest = sites.latest_attempts()["S67"]
    assert (latest.attempt_number, latest.state) == (2, "succeeded")


def test_a_judgment_on_fewer_records_does_not_overwrite_the_stored_one(store: Store) -> None:
    sites = SiteStore(store)
    tracker, docs = _s67_tracker()
    stale = tracker.judge(T0 + timedelta(minutes=95))
    tracker.observe(docs["retry"])
    tracker.observe(docs["progress"])
    sites.save(tracker.judge(T0 + timedelta(minutes=100)))
    # a collector that never saw the retry, judging later: its view is older however late it judges
    late_but_stale = [
        attempt.model_copy(update={"judged_as_of": T0 + timedelta(hours=5)}) for attempt in stale
    ]
    result = sites.save(late_but_stale)
    assert (result.written, result.unchanged) == (0, 1)
    stored = sites.get(stale[0].attempt_id)
    assert stored is not None and (stored[0].state, stored[0].evidence) == ("failed_unreported", 6)


def test_a_sweep_judgment_is_not_undone_by_an_earlier_judgment_on_the_same_records(store: Store) -> None:
    sites = SiteStore(store)
    fleet = FleetTracker()
    fleet.observe(_record("SSW", 0, "install.started"))
    (attempt,) = fleet.judge(T0 + timedelta(minutes=45))["SSW"]
    sites.save([attempt])
    store.client.indices.refresh(index=SITES_INDEX)
    assert sites.sweep(T0 + timedelta(hours=3)).written == 1
    again = sites.save([attempt])  # a collector still holding its judgment as of 45 minutes
    assert again.written == 0
    stored = sites.get(attempt.attempt_id)
    assert stored is not None and stored[0].state == "stalled"


def _late_bootstrap_start(sites: SiteStore) -> tuple[SiteTracker, str]:
    """Setup's start marker arrives before the Bootstrap start five minutes earlier: the attempt stored
    under the setup start's id is re-derived under the bootstrap start's; returns (tracker, stale id)."""
    tracker = SiteTracker("S03")
    tracker.observe(log_document(0, site="S03", file_id="setup", timestamp=_at(5), action="install.started"))
    (early,) = tracker.judge(T0 + timedelta(minutes=10))
    sites.save([early])
    tracker.observe(log_document(0, site="S03", file_id="boot", timestamp=_at(0), action="install.started"))
    sites.save(tracker.judge(T0 + timedelta(minutes=10)))
    return tracker, early.attempt_id


def test_superseded_attempts_are_deleted_leaving_one_document(store: Store) -> None:
    sites = SiteStore(store)
    tracker, stale_id = _late_bootstrap_start(sites)
    superseded = tracker.take_superseded_ids()
    assert superseded == [stale_id]
    assert sites.delete_superseded(superseded, tracker.records_seen).deleted == 1
    store.client.indices.refresh(index=SITES_INDEX)
    (only,) = sites.iter_attempts("S03")
    assert (only.started_at, only.record_count) == (T0, 2)


def test_a_superseded_id_stored_by_a_judgment_on_more_records_is_kept(store: Store) -> None:
    sites = SiteStore(store)
    tracker, stale_id = _late_bootstrap_start(sites)
    stored = sites.get(stale_id)
    assert stored is not None
    sites.update(stale_id, lambda current: stored[0].model_copy(update={"evidence": 50}))
    result = sites.delete_superseded(tracker.take_superseded_ids(), tracker.records_seen)
    assert (result.deleted, result.unchanged) == (0, 1)
    assert sites.get(stale_id) is not None


def test_the_latest_attempt_is_never_a_stale_leftover_of_a_superseded_id(store: Store) -> None:
    sites = SiteStore(store)
    tracker, stale_id = _late_bootstrap_start(sites)  # the stale document is left in place
    store.client.indices.refresh(index=SITES_INDEX)
    assert len(list(sites.iter_attempts("S03"))) == 2
    (current,) = tracker.judge(T0 + timedelta(minutes=10))
    assert current.attempt_id != stale_id
    assert sites.latest_attempts()["S03"] == current
    assert sites.latest_attempt("S03") == current
    assert sites.latest_attempt("NONE") is None


def test_concurrent_saves_keep_the_judgment_made_on_the_most_records(store: Store) -> None:
    (base,) = [attempt for attempt in _judged_fleet() if attempt.site == "SOK"]
    SiteStore(store).save([base])

    def save_judgments(first_evidence: int) -> None:
        writer = SiteStore(store, policy=_fast_policy())
        for evidence in range(first_evidence, first_evidence + 20, 4):
            writer.save([base.model_copy(update={"evidence": evidence, "record_count": evidence})])

    threads = [threading.Thread(target=save_judgments, args=(start,)) for start in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    stored = SiteStore(store).get(base.attempt_id)
    assert stored is not None and (stored[0].evidence, stored[0].record_count) == (19, 19)
