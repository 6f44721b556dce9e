"""`bootwatch queries list` and `bootwatch queries run ID [--json] [--as-of T]`."""

from __future__ import annotations

import json

import pytest

from bootwatch.cli import main
from dashboards.queries import bundled_queries
from parsers.store.connect import Store
from tests.dashboards.support import index_attempts, site_attempt


def test_list_shows_every_saved_query_with_its_lucene_string(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queries", "list"]) == 0
    out = capsys.readouterr().out
    for query in bundled_queries():
        assert query.id in out and query.query in out
    assert "every 5m critical" in out


@pytest.mark.integration
def test_run_json_prints_the_matching_attempts(
    clean_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    index_attempts(clean_store, site_attempt("S01", "stalled"), site_attempt("S02", "succeeded"))
    arguments = ["queries", "run", "stalled-installs", "--json", "--as-of", "2002-10-27T08:00:00Z"]
    assert main([*arguments, "--es-url", clean_store.url]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["query"] == "stalled-installs"
    assert answer["as_of"] == "2002-10-27T08:00:00.000Z"
    assert answer["total"] == 1
    assert [hit["site"] for hit in answer["hits"]] == ["S01"]


@pytest.mark.integration
def test_run_table_shows_the_query_columns(clean_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    index_attempts(clean_store, site_attempt("S01", "failed_unreported", error_code="0x80070005"))
    assert main(["queries", "run", "failed-unreported", "--es-url", clean_store.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Failed but never reported: 1 match(es) as of ")
    assert lines[1].split()[:3] == ["site", "host", "started_at"]
    assert lines[2].split()[0] == "S01" and "0x80070005" in lines[2]


def test_an_unknown_query_id_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queries", "run", "no-such-query"]) == 2
    assert "no saved query 'no-such-query'; known: silent-install-failures" in capsys.readouterr().err


def test_a_bad_as_of_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queries", "run", "stalled-installs", "--as-of", "yesterday"]) == 2
    assert "--as-of" in capsys.readouterr().err
