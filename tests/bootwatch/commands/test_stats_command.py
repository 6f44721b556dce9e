"""`bootwatch stats`: window options, JSON / table / HTML output and the mistakes it names."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bootwatch.cli import main
from bootwatch.simulate import Fleet, FleetPlan
from parsers.schema import format_utc_millis
from parsers.store.connect import Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replayed(es_store: Store, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, FleetPlan]:
    """One block of ten simulated sites (every scenario) replayed into the session store."""
    for name in list(es_store.client.indices.get(index="bootwatch-*", expand_wildcards="all")):
        es_store.client.indices.delete(index=name)
    out = tmp_path_factory.mktemp("fleet")
    plan = Fleet.plan(10, seed=7)
    plan.write_all(out)
    assert main(["replay", str(out), "--es-url", es_store.url, "--json"]) == 0
    es_store.client.indices.refresh(index="bootwatch-*")
    return es_store, plan


def _stats(store: Store, capsys: pytest.CaptureFixture[str], *arguments: str) -> dict:
    capsys.readouterr()
    assert main(["stats", "--es-url", store.url, "--json", *arguments]) == 0
    return json.loads(capsys.readouterr().out)


def test_since_before_the_as_of_time_counts_the_replayed_fleet(
    replayed: tuple[Store, FleetPlan], capsys: pytest.CaptureFixture[str]
) -> None:
    store, plan = replayed
    stats = _stats(store, capsys, "--as-of", format_utc_millis(plan.end), "--since", "30d")
    sites = [site.truth for site in plan.sites]
    assert stats["totals"]["started"] == sum(site["attempts"] for site in sites)
    assert stats["totals"]["stalled"] == Counter(site["outcome"] for site in sites)["stalled"]
    assert stats["by"] == "day"
    assert {row["site"] for row in stats["silent_sites"]} == {
        site["site"] for site in sites if site["outcome"] in ("failed_unreported", "stalled")
    }


def test_from_to_window_and_by_error_group_the_failures_by_code(
    replayed: tuple[Store, FleetPlan], capsys: pytest.CaptureFixture[str]
) -> None:
    store, plan = replayed
    stats = _stats(
        store,
        capsys,
        "--from",
        format_utc_millis(plan.start),
        "--to",
        format_utc_millis(plan.end),
        "--as-of",
        format_utc_millis(plan.end),
        "--by",
        "error",
    )
    failed_by_code = {group["key"]: group["counts"]["failed_unreported"] for group in stats["groups"]}
    assert sum(failed_by_code.values()) == stats["totals"]["failed_unreported"]
    for site in plan.sites:
        if site.truth["outcome"] == "failed_unreported":
            assert failed_by_code[site.truth["error_code"]] >= 1


def test_empty_window_says_where_the_data_is(
    replayed: tuple[Store, FleetPlan], capsys: pytest.CaptureFixture[str]
) -> None:
    store, plan = replayed
    assert main(["stats", "--es-url", store.url, "--since", "7d"]) == 0
    error = capsys.readouterr().err
    assert "no attempt started in the window" in error
    assert f"--as-of {format_utc_millis(plan.sites[0].events[0].at)[:4]}" in error


def test_table_and_html_outputs_show_the_same_figures(
    replayed: tuple[Store, FleetPlan], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, plan = replayed
    as_of = format_utc_millis(plan.end)
    stats = _stats(store, capsys, "--as-of", as_of)
    assert main(["stats", "--es-url", store.url, "--as-of", as_of]) == 0
    table = capsys.readouterr().out
    total_line = next(line for line in table.splitlines() if line.split()[:1] == ["total"])
    totals = stats["totals"]
    assert total_line.split()[1:4] == [
        str(totals["started"]),
        str(totals["succeeded"]),
        str(totals["failed_unreported"]),
    ]
    report = tmp_path / "report.html"
    assert main(["stats", "--es-url", store.url, "--as-of", as_of, "--html", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    assert f'<div class="value">{stats["totals"]["started"]}</div><div class="label">installs started' in page
    for row in stats["silent_sites"]:
        assert f"<td>{row['site']}</td>" in page


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "7d", "--from", "2002-10-25T00:00:00Z"], "either --since or --from/--to"),
        (["--to", "2002-10-25T00:00:00Z"], "--to needs --from"),
        (["--since", "soon"], "is not a duration"),
        (["--as-of", "yesterday"], "--as-of"),
        (["--from", "2002-10-28T00:00:00Z", "--to", "2002-10-25T00:00:00Z"], "starts"),
    ],
)
def test_window_mistakes_are_one_line_user_errors(
    arguments: list[str], message: str, es_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--es-url", es_store.url, *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert "Traceback" not in error


def test_an_empty_embedded_store_is_a_user_error_naming_where_data_comes_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BOOTWATCH_ES_URL", raising=False)
    monkeypatch.delenv("BOOTWATCH_CONFIG", raising=False)
    assert main(["stats"]) == 2
    error = capsys.readouterr().err
    assert "holds no install attempt" in error and "bootwatch demo" in error
