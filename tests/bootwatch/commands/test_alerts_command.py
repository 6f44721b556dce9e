"""`bootwatch alerts run` end to end on the real engine: simulate a fleet, replay it, run the alerts.

Exactly the sites whose truth is failed_unreported or stalled are alerted; a second run sends nothing new;
a site whose failed attempt is followed by a successful retry gets a resolved notice.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bootwatch.cli import main
from bootwatch.simulate import Fleet
from dashboards.queries import parse_instant
from parsers.schema import format_utc_millis
from parsers.store.connect import Store

pytestmark = pytest.mark.integration

SILENT = {"failed_unreported", "stalled"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve sites of every outcome; some succeed only on their second attempt."""
    out = tmp_path_factory.mktemp("fleet")
    Fleet.plan(12, seed=3).write_all(out)
    return out


def _truth(fleet: Path) -> dict[str, Any]:
    return json.loads((fleet / "truth.json").read_text(encoding="utf-8"))


def _alerts(store: Store, capsys: pytest.CaptureFixture[str], as_of: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["alerts", "run", "--once", "--json", "--as-of", as_of, "--es-url", store.url]) == 0
    return json.loads(capsys.readouterr().out)


def test_exactly_the_silently_failed_sites_are_alerted_once(
    clean_store: Store, fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = _truth(fleet)
    expected = {site["site"] for site in truth["sites"] if site["outcome"] in SILENT}
    assert expected and len(expected) < len(truth["sites"])
    assert main(["replay", str(fleet), "--es-url", clean_store.url]) == 0

    first = _alerts(clean_store, capsys, truth["end"])
    assert {alert["site"] for alert in first} == expected
    assert len(first) == len(expected)
    outcome = {site["site"]: site["outcome"] for site in truth["sites"]}
    for alert in first:
        assert alert["action"] == "raised"
        assert alert["query"] == "silent-install-failures"
        assert alert["state"] == outcome[alert["site"]]
        assert alert["attempt"]

    assert _alerts(clean_store, capsys, truth["end"]) == []


def test_a_site_that_later_succeeds_gets_a_resolved_notice(
    clean_store: Store, fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = _truth(fleet)
    retried = [site for site in truth["sites"] if site["outcome"] == "succeeded" and site["attempts"] > 1]
    assert retried, "the fleet must hold a site that succeeded on a retry"
    site = retried[0]
    # Just before the successful retry started, the site's latest attempt was the failed one.
    before_retry = format_utc_millis(parse_instant(site["started_at"]) - timedelta(seconds=1))
    assert main(["replay", str(fleet), "--as-of", before_retry, "--es-url", clean_store.url]) == 0
    raised = _alerts(clean_store, capsys, before_retry)
    (failed,) = [alert for alert in raised if alert["site"] == site["site"]]
    assert (failed["action"], failed["state"]) == ("raised", "failed_unreported")

    assert main(["replay", str(fleet), "--es-url", clean_store.url]) == 0
    later = _alerts(clean_store, capsys, truth["end"])
    (resolved,) = [alert for alert in later if alert["site"] == site["site"]]
    assert resolved["action"] == "resolved"
    assert resolved["attempt"] == failed["attempt"]
    assert "succeeded" in resolved["message"]
    open_after = {alert["site"] for alert in later if alert["action"] == "raised"}
    assert open_after <= {entry["site"] for entry in truth["sites"] if entry["outcome"] in SILENT}


def test_alerts_run_text_output_and_exit_code(
    clean_store: Store, fleet: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    truth = _truth(fleet)
    assert main(["replay", str(fleet), "--es-url", clean_store.url]) == 0
    capsys.readouterr()
    assert main(["alerts", "run", "--once", "--as-of", truth["end"], "--es-url", clean_store.url]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith(f"alerts as of {truth['end']}")
    assert "bootwatch alert [critical] raised:" in captured.err  # the default log channel, on stderr


def test_bad_alert_options_are_one_line_user_errors(
    es_store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["alerts", "run", "--as-of", "2002-10-27T00:00:00Z", "--es-url", es_store.url]) == 2
    assert "--as-of needs --once" in capsys.readouterr().err
    assert main(["alerts", "run", "--once", "--every", "soon", "--es-url", es_store.url]) == 2
    assert "--every" in capsys.readouterr().err
    config = tmp_path / "alerts.toml"
    config.write_text('[[channel]]\ntype = "webhook"\nname = "h"\nurl = "ftp://x"\n', encoding="utf-8")
    assert main(["alerts", "run", "--once", "--config", str(config), "--es-url", es_store.url]) == 2
    error = capsys.readouterr().err
    assert "channel[0].url" in error and len(error.strip().splitlines()) == 1
