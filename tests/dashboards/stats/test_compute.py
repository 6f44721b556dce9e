"""Fleet statistics: every count of a replayed simulated fleet agrees with the simulator's truth.json."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from dashboards.stats.compute import DurationStats, FleetStats, StateCounts, StatsQuery, compute_stats
from parsers.lifecycle.attempts import parse_timestamp
from tests.dashboards.stats.support import ReplayedFleet

pytestmark = pytest.mark.integration


def _stats(fleet: ReplayedFleet, by: str = "day") -> FleetStats:
    plan = fleet.plan
    return compute_stats(fleet.store, StatsQuery(start=plan.start, end=plan.end, as_of=plan.end, by=by))


def _expected_counts(sites: list[dict]) -> dict[str, int]:
    """What the truth says about these sites' attempts: every earlier attempt failed unreported."""
    outcomes = Counter(site["outcome"] for site in sites)
    earlier_failures = sum(site["attempts"] - 1 for site in sites)
    return {
        "started": sum(site["attempts"] for site in sites),
        "succeeded": outcomes["succeeded"],
        "failed_unreported": outcomes["failed_unreported"] + earlier_failures,
        "stalled": outcomes["stalled"],
        "dark": 0,
        "in_progress": outcomes["in_progress"],
    }


def _counts(counts: StateCounts) -> dict[str, int]:
    return counts.model_dump(exclude={"failure_rate"})


def test_totals_and_failure_rate_match_the_truth(replayed_fleet: ReplayedFleet) -> None:
    stats = _stats(replayed_fleet)
    expected = _expected_counts(replayed_fleet.truth["sites"])
    assert _counts(stats.totals) == expected
    bad = expected["failed_unreported"] + expected["stalled"]
    assert stats.totals.failure_rate == pytest.approx(bad / (expected["started"] - expected["in_progress"]))
    assert stats.sites == len(replayed_fleet.truth["sites"])


def test_daily_timeline_adds_up_and_counts_each_latest_attempt_on_its_start_day(
    replayed_fleet: ReplayedFleet,
) -> None:
    stats = _stats(replayed_fleet)
    plan = replayed_fleet.plan
    assert [period.key for period in stats.timeline] == [
        f"{plan.start.date() + timedelta(days=day)}"
        for day in range((plan.end.date() - plan.start.date()).days + 1)
    ]
    for state, total in _counts(stats.totals).items():
        assert sum(getattr(period.counts, state) for period in stats.timeline) == total
    by_day = {period.key: period.counts for period in stats.timeline}
    latest_per_day = Counter(
        (site["started_at"][:10], site["outcome"]) for site in replayed_fleet.truth["sites"]
    )
    for (day, outcome), count in latest_per_day.items():
        assert getattr(by_day[day], outcome) >= count


def test_breakdown_by_site_matches_each_sites_truth(replayed_fleet: ReplayedFleet) -> None:
    stats = _stats(replayed_fleet, "site")
    groups = {group.key: _counts(group.counts) for group in stats.groups}
    assert groups == {site["site"]: _expected_counts([site]) for site in replayed_fleet.truth["sites"]}


def test_breakdown_by_version_follows_each_sites_sms_generation(replayed_fleet: ReplayedFleet) -> None:
    stats = _stats(replayed_fleet, "version")
    groups = {group.key: _counts(group.counts) for group in stats.groups}
    sites = replayed_fleet.truth["sites"]
    assert groups == {
        era: _expected_counts([site for site in sites if site["era"] == era])
        for era in sorted({site["era"] for site in sites})
    }


def test_silent_sites_are_exactly_the_failed_and_stalled_sites_with_their_codes(
    replayed_fleet: ReplayedFleet,
) -> None:
    stats = _stats(replayed_fleet)
    silent = {row.site: (row.state, row.error_code) for row in stats.silent_sites}
    assert silent == {
        site["site"]: (
            site["outcome"],
            site["error_code"] if site["outcome"] == "failed_unreported" else None,
        )
        for site in replayed_fleet.truth["sites"]
        if site["outcome"] in ("failed_unreported", "stalled")
    }
    assert all(row.hint for row in stats.silent_sites if row.error_code)


def test_top_error_codes_cover_every_failure_and_each_latest_failure_code(
    replayed_fleet: ReplayedFleet,
) -> None:
    stats = _stats(replayed_fleet)
    counted = {error.code: error.attempts for error in stats.top_errors}
    assert sum(counted.values()) + stats.failed_without_code == stats.totals.failed_unreported
    latest_codes = Counter(
        site["error_code"] for site in replayed_fleet.truth["sites"] if site["outcome"] == "failed_unreported"
    )
    for code, count in latest_codes.items():
        assert counted.get(code, 0) >= count, code
    assert all(error.hint for error in stats.top_errors)


def test_durations_cover_every_failure_and_bound_the_true_times_to_failure(
    replayed_fleet: ReplayedFleet,
) -> None:
    stats = _stats(replayed_fleet)
    failed = stats.totals.failed_unreported
    assert stats.time_to_failure.count == failed
    assert stats.time_to_detect.count == failed
    assert sum(duration_bin.count for duration_bin in stats.time_to_failure.bins) == failed
    true_seconds = [
        (parse_timestamp(site["failed_at"]) - parse_timestamp(site["started_at"])).total_seconds()
        for site in replayed_fleet.truth["sites"]
        if site["outcome"] == "failed_unreported"
    ]
    assert stats.time_to_failure.min_s <= min(true_seconds)
    assert stats.time_to_failure.max_s >= max(true_seconds)
    # replay judges as of the end of the data: nothing is detected before it failed
    assert stats.time_to_detect.min_s >= 0


def test_window_before_the_as_of_time_counts_only_attempts_started_in_it(
    replayed_fleet: ReplayedFleet,
) -> None:
    plan = replayed_fleet.plan
    first_day = _stats(replayed_fleet).timeline[0]
    day_end = parse_timestamp(f"{first_day.key}T23:59:59.999Z")
    stats = compute_stats(
        replayed_fleet.store, StatsQuery(start=plan.start - timedelta(days=1), end=day_end, as_of=plan.end)
    )
    assert stats.totals == first_day.counts
    before = compute_stats(
        replayed_fleet.store,
        StatsQuery(start=plan.start - timedelta(days=30), end=plan.start, as_of=plan.start),
    )
    assert before.totals.started == 0
    assert before.totals.failure_rate is None
    assert before.silent_sites == []


def test_duration_percentiles_are_nearest_rank_and_bins_are_human_spans() -> None:
    durations = DurationStats.from_samples([30.0, 600.0, 7200.0, 90_000.0])
    assert (durations.min_s, durations.median_s, durations.p90_s, durations.max_s) == (
        30.0,
        600.0,
        90_000.0,
        90_000.0,
    )
    assert {
        duration_bin.label: duration_bin.count for duration_bin in durations.bins if duration_bin.count
    } == {
        "< 5 min": 1,
        "5-15 min": 1,
        "2-6 h": 1,
        "1-3 d": 1,
    }
