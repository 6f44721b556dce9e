"""The Kibana NDJSON: committed file = generator output, every reference resolves, every embedded JSON parses,
version stamps stay at or below Kibana 8.9's, ids are stable, and every Lucene string runs on the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootwatch.cli import main
from dashboards.kibana.export import render_ndjson, saved_objects
from dashboards.kibana.rules import render_rules, rule_payloads
from dashboards.queries import bundled_queries
from parsers.store.connect import Store
from parsers.store.templates import install_templates

KIBANA_DIR = Path(__file__).resolve().parents[3] / "dashboards" / "kibana"
COMMITTED_NDJSON = KIBANA_DIR / "bootwatch.ndjson"
COMMITTED_RULES = KIBANA_DIR / "bootwatch-rules.json"


def _objects() -> list[dict]:
    return [json.loads(line) for line in COMMITTED_NDJSON.read_text(encoding="utf-8").splitlines()]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_committed_ndjson_is_what_the_generator_writes() -> None:
    assert COMMITTED_NDJSON.read_text(encoding="utf-8") == render_ndjson(saved_objects())


def test_committed_rules_are_what_the_generator_writes() -> None:
    assert COMMITTED_RULES.read_text(encoding="utf-8") == render_rules(rule_payloads())


def test_export_command_writes_the_committed_files(tmp_path: Path) -> None:
    out, rules_out = tmp_path / "objects.ndjson", tmp_path / "rules.json"
    assert main(["dashboards", "export", "--out", str(out), "--rules-out", str(rules_out)]) == 0
    assert out.read_bytes() == COMMITTED_NDJSON.read_bytes()
    assert rules_out.read_bytes() == COMMITTED_RULES.read_bytes()


def test_every_reference_resolves_to_an_object_in_the_file() -> None:
    objects = _objects()
    present = {(obj["type"], obj["id"]) for obj in objects}
    assert len(present) == len(objects), "duplicate (type, id)"
    for obj in objects:
        for reference in obj["references"]:
            assert (reference["type"], reference["id"]) in present, (obj["id"], reference)


def test_data_views_cover_logs_sites_and_alerts() -> None:
    titles = {obj["attributes"]["title"] for obj in _objects() if obj["type"] == "index-pattern"}
    assert {"bootwatch-logs-*", "bootwatch-sites", "bootwatch-alerts"} <= titles


def test_one_lucene_saved_search_per_saved_query_referencing_its_data_view() -> None:
    objects = _objects()
    views = {obj["id"]: obj["attributes"]["title"] for obj in objects if obj["type"] == "index-pattern"}
    searches = {obj["id"]: obj for obj in objects if obj["type"] == "search"}
    assert len(searches) == len(bundled_queries())
    for query in bundled_queries():
        search = searches[f"bootwatch-search-{query.id}"]
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert source["query"] == {"query": query.query, "language": "lucene"}
        (reference,) = [ref for ref in search["references"] if ref["name"] == source["indexRefName"]]
        assert views[reference["id"]] == query.index
        assert search["attributes"]["columns"] == query.columns


def test_lens_charts_reference_a_data_view_per_layer() -> None:
    lenses = [obj for obj in _objects() if obj["type"] == "lens"]
    assert {obj["attributes"]["title"] for obj in lenses} == {
        "Failed installs over time, by state",
        "Failure rate: share of finished attempts by state",
        "Top error codes of failed installs",
        "Sites by install state",
    }
    for lens in lenses:
        layers = lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        names = {ref["name"] for ref in lens["references"]}
        for layer_id, layer in layers.items():
            assert f"indexpattern-datasource-layer-{layer_id}" in names
            assert sorted(layer["columnOrder"]) == sorted(layer["columns"])


def test_dashboard_panels_match_its_references() -> None:
    (dashboard,) = [obj for obj in _objects() if obj["type"] == "dashboard"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    json.loads(dashboard["attributes"]["optionsJSON"])
    json.loads(dashboard["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    references = {ref["name"]: ref for ref in dashboard["references"]}
    assert len(panels) == len(references) == 6
    for panel in panels:
        reference = references[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert reference["type"] == panel["type"]
        grid = panel["gridData"]
        assert grid["x"] + grid["w"] <= 48


def test_version_stamps_never_exceed_kibana_8_9() -> None:
    # Kibana 8.9's newest migrations: core 8.8.0; index-pattern 8.0.0, search 7.9.3, lens and dashboard 8.9.0.
    newest = {"index-pattern": "8.0.0", "search": "7.9.3", "lens": "8.9.0", "dashboard": "8.9.0"}
    for obj in _objects():
        assert _version(obj["coreMigrationVersion"]) <= (8, 8, 0)
        assert _version(obj["typeMigrationVersion"]) <= _version(newest[obj["type"]])
    (dashboard,) = [obj for obj in _objects() if obj["type"] == "dashboard"]
    for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
        assert _version(panel["version"]) <= (8, 9, 0)


def test_object_ids_are_stable_names() -> None:
    ids = [obj["id"] for obj in _objects()]
    assert ids[:4] == [
        "bootwatch-dv-logs",
        "bootwatch-dv-sites",
        "bootwatch-dv-alerts",
        "bootwatch-dv-deadletter",
    ]
    assert "bootwatch-search-silent-install-failures" in ids
    assert ids[-1] == "bootwatch-dashboard-fleet"
    assert [obj["id"] for obj in saved_objects()] == ids


def test_rule_payloads_are_es_query_rules_with_known_params_only() -> None:
    # The params Kibana 8.9's .es-query schema accepts for searchType esQuery (unknown keys are refused).
    known = {
        "size",
        "timeWindowSize",
        "excludeHitsFromPreviousRun",
        "timeWindowUnit",
        "threshold",
        "thresholdComparator",
        "searchType",
        "timeField",
        "esQuery",
        "index",
    }
    payloads = rule_payloads()
    alerting = [query for query in bundled_queries() if query.alert is not None]
    assert [payload["id"] for payload in payloads] == [f"bootwatch-rule-{query.id}" for query in alerting]
    for payload, query in zip(payloads, alerting, strict=True):
        body = payload["body"]
        assert body["rule_type_id"] == ".es-query"
        assert body["params"]["searchType"] == "esQuery"
        assert set(body["params"]) <= known
        es_query = json.loads(body["params"]["esQuery"])
        assert es_query == {"query": {"query_string": {"query": query.query}}}
        assert body["params"]["index"] == [query.index]


@pytest.mark.integration
def test_every_lucene_string_in_the_file_runs_on_the_engine(clean_store: Store) -> None:
    install_templates(clean_store)
    objects = _objects()
    views = {obj["id"]: obj["attributes"]["title"] for obj in objects if obj["type"] == "index-pattern"}
    checked = 0
    for obj in objects:
        if obj["type"] == "search":
            source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            query, view_id = source["query"]["query"], obj["references"][0]["id"]
        elif obj["type"] == "lens":
            query, view_id = obj["attributes"]["state"]["query"]["query"], obj["references"][0]["id"]
        else:
            continue
        if query:
            clean_store.client.search(
                index=views[view_id], query={"query_string": {"query": query}}, ignore_unavailable=True
            )
        checked += 1
    assert checked == len(bundled_queries()) + 4
