"""Load: many concurrent shipper connections sending heartbeats and records to one collector; the
collector drops none of them, and every frame is acked (ack latency percentiles measured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.scenarios import run_load


def test_three_hundred_connections_sending_records_and_heartbeats_are_all_held(tmp_path: Path) -> None:
    report = run_load(connections=300, duration_s=4.0, workdir=tmp_path, period_s=1.0)
    assert report.connections_opened == 300
    assert report.dropped_by_collector == 0
    assert report.connections_held == 300
    assert report.frames_acked >= 300
    assert report.ack_p99_s < 10.0


@pytest.mark.long
def test_two_thousand_connections_for_five_minutes_are_all_held(tmp_path: Path) -> None:
    report = run_load(connections=2000, duration_s=300.0, workdir=tmp_path, period_s=2.0)
    assert report.connections_opened == 2000
    assert report.dropped_by_collector == 0
    assert report.connections_held == 2000
    assert report.ack_p99_s < 10.0
