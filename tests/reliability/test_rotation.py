"""Rotation storm: every log renamed `X.log` -> `X.lo_` every few hundred records while it is shipped;
no record is lost or repeated."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.scenarios import run_rotation_storm


def test_rotating_every_two_hundred_records_while_shipping_loses_and_repeats_nothing(tmp_path: Path) -> None:
    report = run_rotation_storm(shippers=2, records=1600, rotate_every=200, write_s=4.0, workdir=tmp_path)
    assert report.rotations >= 6
    assert (report.delivery.lost, report.delivery.duplicates) == (0, 0), report.delivery
    assert report.delivery.records_indexed_distinct == 1600


@pytest.mark.long
def test_a_long_rotation_storm_over_five_shippers_loses_and_repeats_nothing(tmp_path: Path) -> None:
    report = run_rotation_storm(
        shippers=5, records=100_000, rotate_every=300, write_s=120.0, workdir=tmp_path, drain_timeout_s=300.0
    )
    assert report.rotations >= 300
    assert (report.delivery.lost, report.delivery.duplicates) == (0, 0), report.delivery
    assert report.delivery.records_indexed_distinct == 100_000
