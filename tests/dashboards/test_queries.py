"""Saved queries: the definitions load, date math resolves like Elasticsearch's, and every query runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboards.queries import (
    bundled_queries,
    find_query,
    format_duration,
    load_queries,
    parse_duration,
    parse_instant,
    resolve_now,
    run_saved_query,
)
from parsers.store.connect import Store
from parsers.store.templates import install_templates
from tests.dashboards.support import index_attempts, site_attempt

AS_OF = datetime(2002, 10, 27, 8, 0, tzinfo=UTC)


def test_the_issue_s_seven_queries_are_defined_once_each() -> None:
    titles = [query.title for query in bundled_queries()]
    for title in (
        "Silent install failures",
        "Failed but never reported",
        "Stalled installs",
        "Sites gone dark",
        "Bootstrap errors, last 24 hours",
        "Records that did not parse",
        "Installs that succeeded",
    ):
        assert titles.count(title) == 1, title
    ids = [query.id for query in bundled_queries()]
    assert len(ids) == len(set(ids))


def test_silent_failures_query_alerts_on_failed_unreported_and_stalled() -> None:
    query = find_query("silent-install-failures")
    assert query.query == "state:(failed_unreported OR stalled)"
    assert query.alert is not None
    assert query.alert.schedule == timedelta(minutes=5)
    assert query.alert.severity == "critical"


def test_date_math_is_resolved_at_the_given_time() -> None:
    now = datetime(2002, 3, 31, 12, 30, tzinfo=UTC)
    assert resolve_now("@timestamp:[now-24h TO now]", now) == (
        "@timestamp:[2002-03-30T12:30:00.000Z TO 2002-03-31T12:30:00.000Z]"
    )
    # one month back from March 31 clamps to February 28; /d rounds down to midnight
    assert (
        resolve_now("t:[now-1M/d TO now+1y]", now)
        == "t:[2002-02-28T00:00:00.000Z TO 2003-03-31T12:30:00.000Z]"
    )
    assert resolve_now("t:>=now-90m", now) == "t:>=2002-03-31T11:00:00.000Z"


def test_the_word_now_outside_a_range_is_left_alone() -> None:
    now = datetime(2002, 3, 31, 12, 30, tzinfo=UTC)
    assert resolve_now('message:now AND message:"do it now" AND nowhere', now) == (
        'message:now AND message:"do it now" AND nowhere'
    )


def test_durations_parse_and_format_round_trip() -> None:
    assert parse_duration("5m") == timedelta(minutes=5)
    assert parse_duration("24h") == timedelta(hours=24)
    assert format_duration(parse_duration("90m")) == "90m"
    assert format_duration(parse_duration("48h")) == "2d"
    for bad in ("5", "0m", "5 minutes", "-1h"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_as_of_times_without_a_zone_are_utc() -> None:
    assert parse_instant("2002-10-27T08:00:00") == AS_OF
    assert parse_instant("2002-10-27T10:00:00+02:00") == AS_OF
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_instant("yesterday")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queries.toml"
    path.write_text(text, encoding="utf-8")
    return path


_QUERY = """
[[query]]
id = "{id}"
title = "t"
description = "d"
index = "{index}"
query = "state:dark"
columns = ["site"]
sort = [["started_at", "desc"]]
time_field = "started_at"
"""


def test_only_site_queries_may_alert(tmp_path: Path) -> None:
    text = (
        _QUERY.format(id="x", index="bootwatch-logs-*")
        + '[query.alert]\nschedule="5m"\nseverity="info"\nrenotify="1h"\n'
    )
    with pytest.raises(ValueError, match="only queries on bootwatch-sites can alert"):
        load_queries(_write(tmp_path, text))


def test_an_unknown_key_in_the_queries_file_is_named(tmp_path: Path) -> None:
    text = _QUERY.format(id="x", index="bootwatch-sites") + 'colour = "red"\n'
    with pytest.raises(ValueError, match=r"query\.0\.colour"):
        load_queries(_write(tmp_path, text))


def test_duplicate_query_ids_are_refused(tmp_path: Path) -> None:
    text = _QUERY.format(id="x", index="bootwatch-sites") * 2
    with pytest.raises(ValueError, match="duplicate id"):
        load_queries(_write(tmp_path, text))


@pytest.mark.integration
def test_every_saved_query_runs_on_the_engine_as_kibana_and_as_bootwatch_send_it(clean_store: Store) -> None:
    install_templates(clean_store)
    index_attempts(clean_store, site_attempt("S01", "stalled"))
    for query in bundled_queries():
        # as Kibana sends it (date math left to the server) ...
        clean_store.client.search(
            index=query.index, query={"query_string": {"query": query.query}}, ignore_unavailable=True
        )
        # ... and as bootwatch sends it (date math resolved), with the query's sort
        result = run_saved_query(clean_store.client, query, AS_OF)
        assert result.total >= 0
        assert "now" not in result.sent_query


@pytest.mark.integration
def test_site_queries_match_exactly_the_attempts_in_their_states(clean_store: Store) -> None:
    index_attempts(
        clean_store,
        site_attempt("S01", "failed_unreported"),
        site_attempt("S02", "stalled"),
        site_attempt("S03", "succeeded"),
        site_attempt("S04", "dark"),
        site_attempt("S05", "in_progress"),
    )

    def sites(query_id: str) -> set[str]:
        return {
            hit.source["site"]
            for hit in run_saved_query(clean_store.client, find_query(query_id), AS_OF).hits
        }

    assert sites("silent-install-failures") == {"S01", "S02"}
    assert sites("failed-unreported") == {"S01"}
    assert sites("stalled-installs") == {"S02"}
    assert sites("sites-gone-dark") == {"S04"}
    assert sites("succeeded-installs") == {"S03"}


@pytest.mark.integration
def test_log_query_window_follows_the_as_of_time(clean_store: Store) -> None:
    install_templates(clean_store)
    document = {
        "@timestamp": "2002-10-27T01:00:00.000Z",
        "message": "ERROR - Setup failed, Win32 error = 53",
        "event": {"original": "x", "dataset": "sms.bootstrap", "timezone": "UTC"},
        "log": {
            "level": "error",
            "logger": "SMS_BOOTSTRAP",
            "file": {"path": "C:\\SMS_BOOTSTRAP.log"},
            "offset": 0,
        },
        "sms": {"log": {"format": "sms_legacy", "file_id": "f1"}, "site": {"code": "S01"}},
    }
    clean_store.client.index(index="bootwatch-logs-2002.10", id="one", document=document, refresh=True)
    query = find_query("bootstrap-errors-24h")
    assert run_saved_query(clean_store.client, query, AS_OF).total == 1
    assert run_saved_query(clean_store.client, query, AS_OF + timedelta(days=2)).total == 0
    assert run_saved_query(clean_store.client, query, datetime(2002, 10, 26, tzinfo=UTC)).total == 0
