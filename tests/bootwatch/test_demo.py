"""`bootwatch demo` end to end: a small fleet shipped live through a real collector ends as its truth says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bootwatch.cli import main
from bootwatch.commands.demo import present
from bootwatch.demo import DemoOptions, DemoResult, Progress, expected_records, run_demo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, list[Progress]]:
    seen: list[Progress] = []
    options = DemoOptions(sites=10, duration_s=8.0, seed=3, work_dir=tmp_path_factory.mktemp("demo"))
    return run_demo(options, seen.append), seen


def test_every_record_the_fleet_wrote_is_shipped_and_indexed(demo: tuple[DemoResult, list[Progress]]) -> None:
    result, seen = demo
    assert result.records_expected == expected_records(result.plan) > 0
    assert result.records_indexed == result.records_expected
    assert [progress.stage for progress in seen][-1] == "judging"
    assert seen[-1].events_written == seen[-1].events_total


def test_every_sites_latest_attempt_ends_in_its_true_state(demo: tuple[DemoResult, list[Progress]]) -> None:
    result, _seen = demo
    truth = {site.site: site.truth for site in result.plan.sites}
    assert {site: attempt.state for site, attempt in result.latest.items()} == {
        site: facts["outcome"] for site, facts in truth.items()
    }
    for site, attempt in result.latest.items():
        assert attempt.attempt_number == truth[site]["attempts"], site
        if truth[site]["outcome"] == "failed_unreported":
            assert attempt.error_code == truth[site]["error_code"], site


def test_demo_statistics_count_every_attempt_of_the_truth(demo: tuple[DemoResult, list[Progress]]) -> None:
    result, _seen = demo
    sites = [site.truth for site in result.plan.sites]
    outcomes = Counter(site["outcome"] for site in sites)
    totals = result.stats.totals
    assert totals.started == sum(site["attempts"] for site in sites)
    assert totals.succeeded == outcomes["succeeded"]
    assert totals.failed_unreported == outcomes["failed_unreported"] + sum(
        site["attempts"] - 1 for site in sites
    )
    assert (totals.stalled, totals.in_progress, totals.dark) == (
        outcomes["stalled"],
        outcomes["in_progress"],
        0,
    )
    assert {row.site for row in result.stats.silent_sites} == {
        site["site"] for site in sites if site["outcome"] in ("failed_unreported", "stalled")
    }


def test_demo_command_rejects_a_report_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--sites", "2", "--report", str(tmp_path / "missing" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_summary_lists_each_silent_site_with_its_state_and_writes_the_report(
    demo: tuple[DemoResult, list[Progress]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, _seen = demo
    report = tmp_path / "bootwatch-report.html"
    present(result, report)
    printed = capsys.readouterr().out
    silent = [
        site.truth for site in result.plan.sites if site.truth["outcome"] in ("failed_unreported", "stalled")
    ]
    rows = {line.split()[0]: line.split() for line in printed.splitlines() if line.split()[:1]}
    for site in silent:
        assert site["site"] in rows and site["outcome"] in rows[site["site"]], site["site"]
    planted = len(silent)
    assert f"{planted} of the {planted} silent deaths it planted were found" in " ".join(printed.split())
    assert str(report.resolve()) in printed
    assert report.read_text(encoding="utf-8").count("<svg") == 5
    assert "bootwatch alerts run --once" in printed and "bootwatch dashboards export" in printed
