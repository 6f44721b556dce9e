"""The per-site attempt state machine: every lifecycle path, the stall and heartbeat boundaries, judging
as of an explicit time (logs from 2002 judged as of 2002), and carrying on from a stored attempt."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootwatch.cli import main
from parsers.lifecycle.attempts import MAX_ATTEMPTS_KEPT, FleetTracker, SiteTracker
from parsers.lifecycle.rules import load_rules
from parsers.parse import parse_file
from parsers.schema import LogDocument, SiteAttempt, format_utc_millis

T0 = datetime(2002, 7, 26, 17, 0, 0, tzinfo=UTC)
STALL = timedelta(hours=2)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(
    minutes: float,
    message: str = "Copying file D:\\SMS\\bin\\i386\\smsexec.exe",
    action: str | None = None,
    *,
    level: str = "info",
    code: str | None = None,
    hint: str | None = None,
    site: str = "S02",
    host: str = "SEC01",
) -> dict[str, Any]:
    """A classified `LogDocument`-shaped dict (validated, so the tracker sees the real shape)."""
    doc: dict[str, Any] = {
        "@timestamp": format_utc_millis(at(minutes)),
        "message": message,
        "event": {"original": message, "dataset": "sms.bootstrap", "timezone": "America/Los_Angeles"},
        "log": {"level": level, "logger": "SMS_BOOTSTRAP", "file": {"path": "C:\\SMS_BOOTSTRAP.log"},
                "offset": int(minutes * 100)},
        "host": {"name": host},
        "sms": {"log": {"format": "sms_legacy"}, "site": {"code": site}, "error": {"hint": hint}},
        "error": {"code": code},
    }
    if action is not None:
        doc["event"]["action"] = action
    LogDocument.model_validate(doc)
    return doc


def start(minutes: float, message: str = "SMS_BOOTSTRAP service started") -> dict[str, Any]:
    return record(minutes, message, "install.started")


def failure(minutes: float, code: str = "0x80070005", hint: str = "access denied") -> dict[str, Any]:
    return record(minutes, "ERROR - Setup failed, Win32 error = 5", "install.failed", level="error",
                  code=code, hint=hint)


def success(minutes: float) -> dict[str, Any]:
    return record(minutes, "SMS_EXECUTIVE started", "install.succeeded")


def stop(minutes: float) -> dict[str, Any]:
    return record(minutes, "SMS_BOOTSTRAP service stopped", "bootstrap.stopped")


def tracker_with(*docs: dict[str, Any], stall_window: timedelta = STALL) -> SiteTracker:
    tracker = SiteTracker("S02", stall_window=stall_window)
    for doc in docs:
        tracker.observe(doc)
    return tracker


# ------------------------------------------------------------------ the lifecycle paths


def test_start_progress_success_is_succeeded_and_ended_at_the_success() -> None:
    tracker = tracker_with(start(0), record(5), record(10), success(30))
    [attempt] = tracker.judge(at(24 * 60))
    assert attempt.state == "succeeded"
    assert attempt.started_at == at(0) and attempt.ended_at == at(30) and attempt.last_event_at == at(30)
    assert attempt.failed_at is None and attempt.detected_at is None
    assert attempt.record_count == 4 and attempt.host == "SEC01"
    assert attempt.last_message == "SMS_EXECUTIVE started"


def test_failure_then_bootstrap_stop_is_failed_unreported_ended_at_the_stop() -> None:
    tracker = tracker_with(start(0), record(1), failure(2), stop(3))
    [attempt] = tracker.judge(at(10))
    assert attempt.state == "failed_unreported"
    assert attempt.failed_at == at(2) and attempt.ended_at == at(3)
    assert attempt.error_code == "0x80070005" and attempt.hint == "access denied"
    assert attempt.detected_at == at(10)


def test_failure_with_no_success_after_it_stays_failed_not_stalled() -> None:
    tracker = tracker_with(start(0), failure(2))
    [attempt] = tracker.judge(at(3 * 24 * 60))
    assert attempt.state == "failed_unreported"
    assert attempt.ended_at == at(2)


def test_a_success_later_in_the_same_attempt_overrides_a_failure() -> None:
    tracker = tracker_with(start(0), failure(2), record(3), success(40))
    [attempt] = tracker.judge(at(60))
    assert attempt.state == "succeeded"
    assert attempt.failed_at == at(2)  # kept: the attempt did fail on its way


def test_failed_attempt_then_successful_retry_leaves_the_site_succeeded() -> None:
    tracker = tracker_with(start(0), failure(2), stop(3), start(60), record(70), success(90))
    first, second = tracker.judge(at(120))
    assert (first.state, second.state) == ("failed_unreported", "succeeded")
    assert (first.attempt_number, second.attempt_number) == (1, 2)
    assert first.attempt_id != second.attempt_id
    assert second.failed_at is None and second.error_code is None
    assert tracker.latest(at(120)) == second


def test_failed_attempt_then_retry_that_stops_moving_leaves_the_site_stalled() -> None:
    tracker = tracker_with(start(0), failure(2), start(60), record(65))
    first, second = tracker.judge(at(65) + STALL + timedelta(seconds=1))
    assert (first.state, second.state) == ("failed_unreported", "stalled")
    assert second.last_event_at == at(65)


def test_stall_window_boundary_exactly_the_window_is_still_in_progress() -> None:
    tracker = tracker_with(start(0), record(10))
    last = at(10)
    assert tracker.latest(last + STALL).state == "in_progress"
    assert tracker.latest(last + STALL + timedelta(milliseconds=1)).state == "stalled"


def test_the_stall_window_is_configurable() -> None:
    tracker = tracker_with(start(0), stall_window=timedelta(minutes=30))
    assert tracker.latest(at(30)).state == "in_progress"
    assert tracker.latest(at(31)).state == "stalled"


def test_a_stalled_attempt_that_moves_again_is_in_progress_again() -> None:
    tracker = tracker_with(start(0))
    assert tracker.latest(at(200)).state == "stalled"
    tracker.observe(record(210))
    attempt = tracker.latest(at(215))
    assert attempt.state == "in_progress" and attempt.detected_at is None
    assert len(tracker.judge(at(215))) == 1


# ------------------------------------------------------------------ heartbeats: dark vs stalled


def beat_every_minute(tracker: SiteTracker, first: int, last: int) -> None:
    for minute in range(first, last + 1):
        tracker.observe_heartbeat(at(minute))


def test_heartbeats_stopping_mid_attempt_make_it_dark() -> None:
    tracker = tracker_with(start(0), record(10))
    beat_every_minute(tracker, -30, 20)
    attempt = tracker.latest(at(60))
    assert attempt.state == "dark"
    assert attempt.shipper_last_seen == at(20) and attempt.detected_at == at(60)


def test_dark_needs_the_heartbeat_timeout_to_pass() -> None:
    tracker = tracker_with(start(0), record(10))
    beat_every_minute(tracker, -30, 20)
    assert tracker.latest(at(35)).state == "in_progress"  # 15 min after the last heartbeat: not yet
    assert tracker.latest(at(35) + timedelta(seconds=1)).state == "dark"


def test_heartbeats_continuing_while_records_stop_make_it_stalled_not_dark() -> None:
    tracker = tracker_with(start(0), record(10))
    beat_every_minute(tracker, -30, 200)
    assert tracker.latest(at(200)).state == "stalled"
    assert tracker.latest(at(100)).state == "in_progress"


def test_without_heartbeats_a_silent_attempt_is_never_dark() -> None:
    tracker = tracker_with(start(0), record(10))
    assert tracker.latest(at(10 * 24 * 60)).state == "stalled"
    assert tracker.latest(at(60)).state == "in_progress"


def test_heartbeats_that_stopped_before_the_attempt_started_do_not_make_it_dark() -> None:
    tracker = SiteTracker("S02")
    beat_every_minute(tracker, -120, -100)
    for doc in (start(0), record(10)):
        tracker.observe(doc)
    assert tracker.latest(at(60)).state == "in_progress"
    assert tracker.latest(at(10) + STALL + timedelta(minutes=1)).state == "stalled"


def test_records_arriving_after_the_heartbeats_stopped_prove_the_shipper_delivers() -> None:
    tracker = tracker_with(start(0))
    beat_every_minute(tracker, 0, 10)
    tracker.observe(record(40))
    assert tracker.latest(at(50)).state == "in_progress"


def test_a_known_failure_wins_over_dark() -> None:
    tracker = tracker_with(start(0), failure(5))
    beat_every_minute(tracker, 0, 6)
    assert tracker.latest(at(120)).state == "failed_unreported"


# ------------------------------------------------------------------ judging as of a time (2002)


def test_logs_from_2002_are_judged_as_of_2002_not_as_of_today() -> None:
    tracker = tracker_with(start(0), record(30), record(45))
    end_of_data = at(45)
    assert tracker.latest(end_of_data).state == "in_progress"
    assert tracker.latest(end_of_data).judged_as_of == end_of_data
    assert tracker.latest(datetime(2026, 11, 25, tzinfo=UTC)).state == "stalled"
    assert [a.state for a in tracker.attempts()] == ["in_progress"]  # as of the end of the data


def test_markers_after_the_as_of_time_are_not_yet_seen() -> None:
    tracker = tracker_with(start(0), record(5), failure(20), start(60), success(90))
    assert [a.state for a in tracker.judge(at(10))] == ["in_progress"]
    assert [a.state for a in tracker.judge(at(30))] == ["failed_unreported"]
    assert [a.state for a in tracker.judge(at(70))] == ["failed_unreported", "in_progress"]
    assert [a.state for a in tracker.judge(at(90))] == ["failed_unreported", "succeeded"]


def test_detected_at_is_when_bootwatch_first_judged_the_bad_state() -> None:
    tracker = tracker_with(start(0))
    assert tracker.latest(at(121)).detected_at == at(121)
    assert tracker.latest(at(300)).detected_at == at(121)
    beat_every_minute(tracker, 290, 300)
    tracker.observe(record(301))
    assert tracker.latest(at(302)).detected_at is None


# ------------------------------------------------------------------ attempt boundaries


def test_bootstrap_start_then_setup_start_is_one_attempt() -> None:
    tracker = tracker_with(start(0), record(2), start(5, "Configuration Manager Setup started"), success(50))
    [attempt] = tracker.judge(at(60))
    assert attempt.state == "succeeded" and attempt.started_at == at(0) and attempt.record_count == 4


def test_a_start_after_silence_longer_than_the_window_opens_a_new_attempt() -> None:
    tracker = tracker_with(start(0), record(10), start(10 + 121))
    first, second = tracker.judge(at(140))
    assert first.state == "stalled" and first.judged_as_of == at(131)
    assert second.state == "in_progress" and second.started_at == at(131)


def test_a_bootstrap_restart_within_the_window_continues_the_attempt() -> None:
    tracker = tracker_with(start(0), stop(10), start(20), success(60))
    [attempt] = tracker.judge(at(60))
    assert attempt.state == "succeeded" and attempt.record_count == 4


def test_a_stop_without_failure_or_success_ends_up_stalled() -> None:
    tracker = tracker_with(start(0), stop(10))
    assert tracker.latest(at(60)).state == "in_progress"
    attempt = tracker.latest(at(10) + STALL + timedelta(minutes=1))
    assert attempt.state == "stalled" and attempt.ended_at is None


def test_records_before_any_start_marker_count_to_no_attempt() -> None:
    tracker = tracker_with(record(0), record(1), stop(2))
    assert tracker.judge(at(10)) == [] and tracker.attempts() == []
    assert tracker.unattributed_records == 3
    tracker.observe(start(5))
    [attempt] = tracker.judge(at(10))
    assert attempt.record_count == 1 and not attempt.implicit_start


def test_a_failure_with_no_start_marker_opens_an_implicit_attempt() -> None:
    tracker = tracker_with(record(0), failure(3), stop(4))
    [attempt] = tracker.judge(at(10))
    assert attempt.state == "failed_unreported" and attempt.implicit_start
    assert attempt.started_at == at(3) and attempt.ended_at == at(4) and attempt.record_count == 2


def test_a_success_with_no_start_marker_opens_an_implicit_succeeded_attempt() -> None:
    [attempt] = tracker_with(record(0), success(3)).judge(at(10))
    assert attempt.state == "succeeded" and attempt.implicit_start


def test_success_markers_after_a_success_are_reboots_not_new_attempts() -> None:
    tracker = tracker_with(start(0), success(30), record(40), success(24 * 60), record(24 * 60 + 1))
    [attempt] = tracker.judge(at(2 * 24 * 60))
    assert attempt.state == "succeeded" and attempt.record_count == 2 and attempt.last_event_at == at(30)


def test_a_failure_after_a_success_opens_an_implicit_attempt() -> None:
    tracker = tracker_with(start(0), success(30), failure(500))
    first, second = tracker.judge(at(600))
    assert first.state == "succeeded"
    assert second.state == "failed_unreported" and second.implicit_start and second.attempt_number == 2


def test_the_error_code_is_the_first_one_among_error_records() -> None:
    tracker = tracker_with(
        start(0),
        # info level: not an error record, so its code does not count
        record(1, "Could not read the ini file, error 2", code="0x80070002"),
        record(2, "ERROR - cannot reach a domain controller", level="error", code="0x80070995", hint="no DC"),
        failure(3, code="0x80070005"),
    )
    attempt = tracker.latest(at(10))
    assert (attempt.error_code, attempt.hint) == ("0x80070995", "no DC")


# ------------------------------------------------------------------ out of order, within reason


def test_a_start_marker_arriving_late_moves_the_start_back_and_takes_the_time_ordered_id() -> None:
    tracker = tracker_with(start(5, "Configuration Manager Setup started"), record(6))
    assert tracker.latest(at(10)).attempt_id == "S02-20020726T170500000Z"
    tracker.observe(start(0))
    [attempt] = tracker.judge(at(10))
    assert attempt.started_at == at(0) and attempt.record_count == 3
    assert attempt.attempt_id == "S02-20020726T170000000Z"  # as if the records had come in time order


def test_a_late_failure_older_than_the_success_does_not_undo_the_success() -> None:
    tracker = tracker_with(start(0), success(30))
    tracker.observe(failure(20))
    attempt = tracker.latest(at(40))
    assert attempt.state == "succeeded" and attempt.failed_at == at(20)


def test_a_late_record_of_an_earlier_attempt_is_counted_there() -> None:
    tracker = tracker_with(start(0), failure(5), start(60))
    tracker.observe(record(6))
    first, second = tracker.judge(at(70))
    assert (first.record_count, second.record_count) == (3, 1)


# ------------------------------------------------------------------ identity, storage, fleets


def test_the_same_records_give_the_same_attempt_ids() -> None:
    docs = [start(0), failure(2), start(60), success(90)]
    ids = [a.attempt_id for a in tracker_with(*docs).judge(at(100))]
    assert ids == [a.attempt_id for a in tracker_with(*docs).judge(at(100))]
    assert ids == ["S02-20020726T170000000Z", "S02-20020726T180000000Z"]


def test_a_judged_attempt_serializes_as_the_sites_document() -> None:
    attempt = tracker_with(start(0), failure(2)).latest(at(10))
    dumped = attempt.model_dump(mode="json")
    assert dumped["started_at"] == "2002-07-26T17:00:00.000Z"
    assert dumped["failed_at"] == "2002-07-26T17:02:00.000Z"
    assert SiteAttempt.model_validate_json(attempt.model_dump_json()) == attempt


def test_a_tracker_rebuilt_from_the_stored_attempt_carries_on() -> None:
    stored_json = tracker_with(start(0), failure(2)).latest(at(10)).model_dump_json()
    resumed = SiteTracker.from_attempt(SiteAttempt.model_validate_json(stored_json))
    assert resumed.latest(at(10)).model_dump() == SiteAttempt.model_validate_json(stored_json).model_dump()
    resumed.observe(start(60))
    resumed.observe(success(90))
    first, second = resumed.judge(at(100))
    assert first.state == "failed_unreported" and first.detected_at == at(10)
    assert second.state == "succeeded" and second.attempt_number == 2


def test_a_rebuilt_in_progress_attempt_absorbs_new_records_and_keeps_its_counts() -> None:
    stored = tracker_with(start(0), record(5), stop(6)).latest(at(10))
    resumed = SiteTracker.from_attempt(stored)
    resumed.observe(start(20, "Configuration Manager Setup started"))
    resumed.observe(success(50))
    [attempt] = resumed.judge(at(60))
    assert attempt.state == "succeeded" and attempt.record_count == 5
    assert attempt.attempt_id == stored.attempt_id


def test_a_rebuilt_failed_attempt_keeps_its_stop_and_first_error_code() -> None:
    stored = tracker_with(start(0), failure(2), stop(3)).latest(at(10))
    resumed = SiteTracker.from_attempt(stored)
    resumed.observe(record(4, "ERROR - another problem", level="error", code="0x80070070"))
    attempt = resumed.latest(at(10))
    assert (attempt.ended_at, attempt.error_code) == (at(3), "0x80070005")


def test_fleet_tracker_routes_documents_by_site_code() -> None:
    fleet = FleetTracker()
    assert fleet.observe(start(0, "SMS_BOOTSTRAP service started") | {"sms": {"site": {"code": "S02"}}})
    fleet.observe(record(0, "Setup has started", "install.started", site="S03"))
    fleet.observe(record(5, "SMS_EXECUTIVE started", "install.succeeded", site="S03"))
    assert not fleet.observe({"@timestamp": "2002-07-26T17:00:00.000Z", "message": "no site", "sms": {}})
    fleet.observe_heartbeat("S03", at(6))
    judged = fleet.judge(at(10))
    assert list(judged) == ["S02", "S03"]
    assert [a.state for a in judged["S02"]] == ["in_progress"]
    assert [a.state for a in judged["S03"]] == ["succeeded"]
    assert judged["S03"][0].shipper_last_seen == at(6)


# ------------------------------------------------------------------ end to end with the fleet simulator


def fold_simulated_fleet(out: Path) -> tuple[dict[str, Any], dict[str, list[SiteAttempt]]]:
    """Parse every site's logs (`.lo_` before its `.log`) with the default rules, fold them in time order,
    judge as of the end of the data."""
    rules = load_rules()
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    docs: list[dict[str, Any]] = []
    for site in truth["sites"]:
        logs = [path for path in (out / site["site"]).iterdir() if path.suffix.lower() in (".log", ".lo_")]
        for path in sorted(logs, key=lambda path: (path.stem.lower(), path.suffix.lower() == ".log")):
            docs.extend(parse_file(path, site=site["site"], timezone=site["timezone"], rules=rules))
    fleet = FleetTracker(stall_window=timedelta(seconds=truth["stall_window_s"]))
    for doc in sorted(docs, key=lambda doc: doc["@timestamp"]):
        fleet.observe(doc)
    return truth, fleet.judge(datetime.fromisoformat(truth["end"]))


@pytest.mark.parametrize("start", ["2002-10-25T06:00:00Z", "2016-03-20T00:00:00Z"])
def test_a_simulated_fleet_folds_to_the_outcomes_in_its_truth_file(tmp_path: Path, start: str) -> None:
    assert main(["simulate", "--sites", "16", "--out", str(tmp_path), "--seed", "5", "--start", start]) == 0
    truth, judged = fold_simulated_fleet(tmp_path)
    for site in truth["sites"]:
        latest = judged[site["site"]][-1]
        expected_failed_at = datetime.fromisoformat(site["failed_at"]) if site["failed_at"] else None
        assert (latest.state, latest.error_code, len(judged[site["site"]])) == (
            site["outcome"], site["error_code"], site["attempts"]
        ), site["site"]
        assert latest.started_at == datetime.fromisoformat(site["started_at"]), site["site"]
        assert latest.failed_at == expected_failed_at, site["site"]


# ------------------------------------------------------------------ arrival order does not matter


def in_file(doc: dict[str, Any], file_id: str, offset: int) -> dict[str, Any]:
    """`doc` as the record at `offset` of the file `file_id` (what a collector receives)."""
    doc["sms"]["log"]["file_id"] = file_id
    doc["log"]["offset"] = offset
    LogDocument.model_validate(doc)
    return doc


def time_order(doc: dict[str, Any]) -> tuple[str, str, int, str]:
    """The documented fold order: time, then file identity and offset."""
    return (doc["@timestamp"], doc["sms"]["log"].get("file_id") or "", doc["log"]["offset"], doc["message"])


def s67_documents() -> dict[str, dict[str, Any]]:
    """The demo's S67: the first attempt fails (bootstrap log), the retry's start marker is in the setup
    log, its success in smsexec.log; timed start, failure, stop, retry start, progress, success."""
    return {
        "start": in_file(start(0), "bootstrap", 0),
        "failure": in_file(failure(10), "bootstrap", 100),
        "stop": in_file(stop(11), "bootstrap", 200),
        "retry": in_file(start(60, "Configuration Manager Setup started"), "setup", 0),
        "progress": in_file(record(70, "Installing the SMS_EXECUTIVE service"), "setup", 100),
        "success": in_file(success(90), "smsexec", 0),
    }


def assert_s67_truth(judged: list[SiteAttempt]) -> None:
    first, second = judged
    assert (first.state, first.started_at, first.ended_at) == ("failed_unreported", at(0), at(11))
    assert (second.state, second.started_at, second.ended_at) == ("succeeded", at(60), at(90))
    assert second.attempt_number == 2


def test_a_retry_start_arriving_after_its_success_takes_the_success_from_the_failed_attempt() -> None:
    docs = s67_documents()
    tracker = SiteTracker("S02")
    for name in ("start", "failure", "stop", "success"):
        tracker.observe(docs[name])
    assert [a.state for a in tracker.judge(at(100))] == ["succeeded"]  # what was known then
    tracker.observe(docs["retry"])
    tracker.observe(docs["progress"])
    judged = tracker.judge(at(100))
    assert_s67_truth(judged)
    assert [a.record_count for a in judged] == [3, 3]
    assert judged == tracker_with(*sorted(docs.values(), key=time_order)).judge(at(100))


def test_a_collector_restarted_between_the_success_and_the_late_retry_start_still_splits_them() -> None:
    docs = s67_documents()
    before_restart = tracker_with(docs["start"], docs["failure"], docs["stop"], docs["success"])
    stored = SiteAttempt.model_validate_json(before_restart.latest(at(95)).model_dump_json())
    assert stored.state == "succeeded"
    resumed = SiteTracker.from_attempt(stored)
    resumed.observe(docs["retry"])
    resumed.observe(docs["progress"])
    first, second = resumed.judge(at(100))
    # The stored attempt holds no stop time (its end was the success), and its counts are not re-split.
    assert (first.state, first.ended_at, first.last_event_at) == ("failed_unreported", at(10), at(10))
    assert (second.state, second.started_at, second.ended_at) == ("succeeded", at(60), at(90))
    assert second.last_event_at == at(90) and second.attempt_number == 2


def test_a_fleet_resumes_a_site_from_its_stored_attempt_only_when_it_does_not_track_it_yet() -> None:
    docs = s67_documents()
    stored = tracker_with(docs["start"], docs["failure"], docs["stop"], docs["success"]).latest(at(95))
    fleet = FleetTracker()
    resumed = fleet.resume(stored)
    assert fleet.resume(stored) is resumed and fleet.tracker("S02") is resumed
    fleet.observe(docs["retry"])
    assert [(a.attempt_number, a.state) for a in fleet.judge(at(100))["S02"]] == [
        (1, "failed_unreported"),
        (2, "succeeded"),
    ]

def test_the_same_record_delivered_twice_is_counted_once() -> None:
    docs = s67_documents()
    tracker = tracker_with(*docs.values(), docs["failure"], docs["progress"])
    assert [a.record_count for a in tracker.judge(at(100))] == [3, 3]


def test_records_that_settled_in_time_order_give_the_same_attempts_as_an_unbounded_buffer() -> None:
    docs = sorted(s67_documents().values(), key=time_order)
    small = SiteTracker("S02", max_pending=2)
    for doc in docs:
        small.observe(doc)
    assert small.judge(at(100)) == tracker_with(*docs).judge(at(100))


def test_a_late_start_still_in_the_buffer_is_placed_exactly_after_older_records_settled() -> None:
    docs = s67_documents()
    tracker = SiteTracker("S02", max_pending=3)
    for name in ("start", "failure", "stop", "progress", "success"):
        tracker.observe(docs[name])  # start and failure settle; stop, progress, success wait
    tracker.observe(docs["retry"])
    assert_s67_truth(tracker.judge(at(100)))


def test_a_start_later_than_the_reorder_window_falls_back_to_best_effort() -> None:
    docs = s67_documents()
    tracker = SiteTracker("S02", reorder_window=timedelta(minutes=5))
    for name in ("start", "failure", "stop", "progress", "success"):
        tracker.observe(docs[name])
    tracker.observe(docs["retry"])  # 30 min older than the newest record: the buffer has moved on
    first, second = tracker.judge(at(100))
    assert (first.state, second.state, second.ended_at) == ("failed_unreported", "succeeded", at(90))
    assert (first.record_count, second.record_count) == (4, 2)  # the progress record stays counted first


def test_an_attempt_id_a_late_start_took_back_is_handed_out_once_as_superseded() -> None:
    tracker = tracker_with(start(5, "Configuration Manager Setup started"), record(6))
    assert [a.attempt_id for a in tracker.judge(at(10))] == ["S02-20020726T170500000Z"]
    assert tracker.take_superseded_ids() == []
    tracker.observe(start(0))
    assert [a.attempt_id for a in tracker.judge(at(10))] == ["S02-20020726T170000000Z"]
    assert tracker.take_superseded_ids() == ["S02-20020726T170500000Z"]
    assert tracker.take_superseded_ids() == []


def test_attempts_dropped_for_age_are_not_reported_as_superseded() -> None:
    tracker = SiteTracker("S02")
    for number in range(MAX_ATTEMPTS_KEPT + 3):
        tracker.observe(start(number * 10))
        tracker.observe(failure(number * 10 + 1))
        tracker.judge(at(number * 10 + 2))
    judged = tracker.judge(at(1000))
    assert len(judged) == MAX_ATTEMPTS_KEPT and judged[0].attempt_number == 4
    assert tracker.take_superseded_ids() == []

FILES = ("bootstrap", "setup", "smsexec")
KINDS = ("record", "record", "error", "started", "failed", "succeeded", "stopped")


@st.composite
def site_documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A site's documents from several files: each file in time order, markers and ordinary records
    (some error records with codes) at minutes that collide and leave gaps longer than the window."""
    docs = []
    for file_index, file_id in enumerate(FILES):
        minutes = sorted(draw(st.lists(st.integers(min_value=0, max_value=400), max_size=7)))
        for position, minute in enumerate(minutes):
            kind = draw(st.sampled_from(KINDS))
            message = f"{file_id} record {position}"
            if kind == "record":
                doc = record(minute, message, host=f"SEC0{file_index}")
            elif kind == "error":
                doc = record(minute, message, level="error", code=f"0x8007000{file_index}", hint=file_id)
            elif kind == "failed":
                doc = failure(minute, code=f"0x8007001{position % 10}", hint=message)
            else:
                doc = record(minute, message, f"install.{kind}" if kind != "stopped" else "bootstrap.stopped")
            docs.append(in_file(doc, file_id, position * 100))
    return docs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_folding_the_documents_in_any_arrival_order_gives_the_time_ordered_attempts(
    data: st.DataObject,
) -> None:
    docs = data.draw(site_documents())
    arrival = data.draw(st.permutations(docs))
    in_time_order = tracker_with(*sorted(docs, key=time_order))
    as_arrived = tracker_with(*arrival)
    for as_of in (at(200), at(500)):
        assert as_arrived.judge(as_of) == in_time_order.judge(as_of)
    assert as_arrived.unattributed_records == in_time_order.unattributed_records


def test_every_judgment_carries_as_evidence_the_site_records_folded_and_a_resumed_tracker_counts_on() -> None:
    docs = s67_documents()
    tracker = tracker_with(docs["start"], docs["failure"], docs["stop"], docs["success"])
    tracker.observe(docs["stop"])  # the same record resent while still buffered: folded once
    assert [attempt.evidence for attempt in tracker.judge(at(95))] == [4]
    tracker.observe(docs["retry"])
    assert [attempt.evidence for attempt in tracker.judge(at(100))] == [5, 5]
    resumed = SiteTracker.from_attempt(tracker.latest(at(100)))
    resumed.observe(docs["progress"])
    assert resumed.latest(at(100)).evidence == 6
