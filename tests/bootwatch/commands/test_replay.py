"""`bootwatch replay`: a simulated fleet replayed into the store ends in the states truth.json gives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bootwatch.cli import main
from bootwatch.simulate import Fleet
from parsers.store.connect import Store
from parsers.store.sites import SiteStore
from parsers.store.templates import SITES_INDEX

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten sites: one block of the simulator's scenarios (every outcome, retries included)."""
    out = tmp_path_factory.mktemp("fleet")
    Fleet.plan(10, seed=3).write_all(out)
    return out


def _replay(store: Store, *arguments: str) -> int:
    return main(["replay", *arguments, "--es-url", store.url])


def _records_stored(store: Store) -> int:
    store.client.indices.refresh(index="bootwatch-logs-*")
    return int(store.client.count(index="bootwatch-logs-*")["count"])


def test_every_replayed_site_ends_in_its_true_state(
    clean_store: Store, fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _replay(clean_store, str(fleet), "--json") == 0
    rows = {row["site"]: row for row in json.loads(capsys.readouterr().out)}
    truth = {site["site"]: site for site in json.loads((fleet / "truth.json").read_text())["sites"]}
    assert set(rows) == set(truth)
    for code, expected in truth.items():
        row = rows[code]
        assert (code, row["state"]) == (code, expected["outcome"])
        assert row["started_at"] == expected["started_at"]
        assert row["ended_at"] == expected["ended_at"]
        assert row["error_code"] == expected["error_code"]
        assert row["attempts"] == expected["attempts"]
    clean_store.client.indices.refresh(index=SITES_INDEX)
    stored = SiteStore(clean_store).latest_attempts()
    assert {code: attempt.state for code, attempt in stored.items()} == {
        code: expected["outcome"] for code, expected in truth.items()
    }


def test_replaying_twice_indexes_nothing_twice(
    clean_store: Store, fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _replay(clean_store, str(fleet), "--json") == 0
    first = capsys.readouterr()
    stored = _records_stored(clean_store)
    assert _replay(clean_store, str(fleet), "--json") == 0
    second = capsys.readouterr()
    assert _records_stored(clean_store) == stored
    assert " 0 indexed" in second.err and f"{stored} already stored" in second.err
    assert json.loads(second.out) == json.loads(first.out)


def test_an_as_of_before_the_failures_judges_the_sites_as_they_were(
    clean_store: Store, fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = json.loads((fleet / "truth.json").read_text())
    assert _replay(clean_store, str(fleet), "--json", "--as-of", truth["start"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["state"] for row in rows} <= {None, "in_progress"}
    assert all(row["started_at"] <= truth["start"] for row in rows if row["state"])


def test_an_unreadable_file_is_named_and_the_rest_replayed(
    clean_store: Store, fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "fleet"
    site = copy / "S01"
    site.mkdir(parents=True)
    for source in (fleet / "S01").iterdir():
        (site / source.name).write_bytes(source.read_bytes())
    # reading /proc/self/mem from offset 0 fails with EIO, even for root (chmod 000 would not)
    broken = site / "Broken.log"
    os.symlink("/proc/self/mem", broken)
    assert _replay(clean_store, str(copy)) == 2
    captured = capsys.readouterr()
    assert f"cannot read {broken}" in captured.err
    assert _records_stored(clean_store) > 0
    assert "S01" in captured.out


def test_rotated_files_are_read_before_their_log(tmp_path: Path) -> None:
    from bootwatch.commands._replay import discover_sites

    site = tmp_path / "S07"
    site.mkdir()
    for name in ("Sms_bootstrap.log", "Sms_bootstrap.lo_", "SMSsetup.log", "smssetup.lo_"):
        (site / name).write_text("x\n")
    (site / "site.json").write_text(json.dumps({"site": "S07", "host": "H7", "timezone": "Europe/Paris"}))
    (found,) = discover_sites(tmp_path, None)
    assert [path.name for path in found.files] == [
        "Sms_bootstrap.lo_",
        "Sms_bootstrap.log",
        "smssetup.lo_",
        "SMSsetup.log",
    ]
    assert (found.code, found.host, found.timezone) == ("S07", "H7", "Europe/Paris")


def test_a_missing_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
