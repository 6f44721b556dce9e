"""Kibana alerting rule payloads (`.es-query`, `searchType: esQuery`) for every alerting saved query.

For sites that prefer Kibana's own rules to `bootwatch alerts run`. Each payload is the body of
`POST /api/alerting/rule/<id>` (Kibana 8.9+). Params use only fields the 8.9 rule schema knows
(`aggType`/`groupBy` came later and default to count/all): Kibana's params schema rejects unknown keys.

A rule fires when the query matches documents whose `time_field` lies inside the last schedule
interval: on `bootwatch-sites` that is `detected_at`, the time an attempt was first judged bad, so each
silent death fires once. `actions` is left empty: the connectors that would carry the alert out (webhook,
email, Slack) need a paid Kibana licence; the index and server-log connectors are free (dashboards/README.md).
"""

from __future__ import annotations

import json
from typing import Any

from dashboards.queries import SavedQuery, bundled_queries

RULE_TYPE_ID = ".es-query"
CONSUMER = "stackAlerts"
MAX_HITS_PER_RUN = 100


def rule_id(query: SavedQuery) -> str:
    return f"bootwatch-rule-{query.id}"


def _window(seconds: int) -> tuple[int, str]:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return seconds // size, unit
    return seconds, "s"


def rule_payload(query: SavedQuery) -> dict[str, Any]:
    """The create-rule request body for one alerting query."""
    if query.alert is None:
        raise ValueError(f"saved query {query.id!r} has no alert settings")
    window_size, window_unit = _window(int(query.alert.schedule.total_seconds()))
    return {
        "name": f"bootwatch: {query.title}",
        "rule_type_id": RULE_TYPE_ID,
        "consumer": CONSUMER,
        "enabled": query.alert.default_on,
        "schedule": {"interval": f"{window_size}{window_unit}"},
        "tags": ["bootwatch", query.alert.severity],
        "actions": [],
        "params": {
            "searchType": "esQuery",
            "esQuery": json.dumps({"query": {"query_string": {"query": query.query}}}, sort_keys=True),
            "index": [query.index],
            "timeField": query.time_field,
            "timeWindowSize": window_size,
            "timeWindowUnit": window_unit,
            "threshold": [0],
            "thresholdComparator": ">",
            "size": MAX_HITS_PER_RUN,
            "excludeHitsFromPreviousRun": True,
        },
    }


def rule_payloads(queries: tuple[SavedQuery, ...] | None = None) -> list[dict[str, Any]]:
    """`[{"id": rule id, "body": payload}, ...]` for every alerting query, in definition order."""
    pool = bundled_queries() if queries is None else queries
    return [{"id": rule_id(query), "body": rule_payload(query)} for query in pool if query.alert is not None]


def render_rules(payloads: list[dict[str, Any]]) -> str:
    return json.dumps(payloads, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
