"""Crash: records from several real shippers while the collector is SIGKILLed at random moments, the
store is unreachable once, and shippers are SIGKILLed and restarted; every record lands exactly once.

The default run keeps a version of seconds; `-m long` runs the issue's sizes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.scenarios import CrashPlan, run_crash


def _assert_every_record_exactly_once(plan: CrashPlan, workdir: Path) -> None:
    report = run_crash(plan, workdir)
    delivery = report.delivery
    assert report.collector_kills == plan.collector_kills
    assert report.shipper_kills == plan.shipper_kills
    assert (delivery.lost, delivery.duplicates) == (0, 0), (delivery, report.faults)
    assert delivery.records_indexed_distinct == delivery.records_sent == plan.records


def test_sigkilled_collector_store_outage_and_killed_shippers_lose_and_repeat_nothing(tmp_path: Path) -> None:
    plan = CrashPlan(
        shippers=3,
        records=1500,
        collector_kills=2,
        shipper_kills=1,
        outage_s=4.0,
        write_s=8.0,
        sink="engine",
        drain_timeout_s=60.0,
    )
    _assert_every_record_exactly_once(plan, tmp_path)


@pytest.mark.long
def test_a_million_records_from_twenty_shippers_through_ten_collector_kills_arrive_once(
    tmp_path: Path,
) -> None:
    # The ledger sink keeps the id set across SIGKILLs (an engine would need ~12 GB for a million
    # documents); its outage is the sink refusing writes for 60 s, the path a store outage takes.
    plan = CrashPlan(
        shippers=20,
        records=1_000_000,
        collector_kills=10,
        shipper_kills=5,
        outage_s=60.0,
        write_s=240.0,
        sink="ledger",
        drain_timeout_s=900.0,
    )
    _assert_every_record_exactly_once(plan, tmp_path)


@pytest.mark.long
def test_a_store_unreachable_for_a_minute_behind_ten_collector_kills_loses_nothing(tmp_path: Path) -> None:
    plan = CrashPlan(
        shippers=20,
        records=20_000,
        collector_kills=10,
        shipper_kills=5,
        outage_s=60.0,
        write_s=120.0,
        sink="engine",
        drain_timeout_s=300.0,
    )
    _assert_every_record_exactly_once(plan, tmp_path)
