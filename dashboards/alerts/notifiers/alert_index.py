"""The alert-document channel: every event becomes an `AlertDocument` in `bootwatch-alerts`.

Those documents are Kibana's alert history and also the runner's memory: `open_alerts()` folds them
(oldest first) into the alerts still open, when each was last sent and to which channels, so a restarted
runner neither re-sends everything nor forgets what it owes a channel that was down. The channel cannot be
switched off for that reason; a failed write fails the run (the next run then re-sends: at least once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from dashboards.alerts.events import AlertEvent, AlertKey
from parsers.schema import AlertDocument
from parsers.store.templates import ALERTS_INDEX

PAGE_SIZE = 1000


class AlertStateError(Exception):
    """The alert documents could not be read or written."""


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An alert raised and not yet resolved: when it was last sent, and which channels got it."""

    key: AlertKey
    last_sent_at: datetime
    notified: frozenset[str]


def alert_document_id(event: AlertEvent) -> str:
    """Deterministic: the same event recorded again (a re-run at one `--as-of`) overwrites, not duplicates."""
    key = "\x1f".join(
        (event.key.query, event.key.site, event.key.attempt, event.action, event.at.isoformat())
    )
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def alert_document(event: AlertEvent, notified: Sequence[str]) -> AlertDocument:
    return AlertDocument(
        at=event.at,
        query=event.key.query,
        site=event.key.site,
        host=event.host,
        attempt_id=event.key.attempt,
        state=event.state,  # type: ignore[arg-type]  # an AttemptState read back from bootwatch-sites
        action=event.action,
        message=event.message,
        notified=sorted(notified),
    )


def scan(
    client: Elasticsearch, index: str, sort: list[dict[str, Any]], source: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Every document of `index` in `sort` order, paged with `search_after` (a missing index is empty)."""
    search_after: list[Any] | None = None
    while True:
        response = client.search(
            index=index,
            query={"match_all": {}},
            sort=sort,
            size=PAGE_SIZE,
            source=source if source is not None else True,
            search_after=search_after,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        hits = response["hits"]["hits"]
        yield from hits
        if len(hits) < PAGE_SIZE:
            return
        search_after = hits[-1]["sort"]


class AlertIndex:
    """Reads and writes `bootwatch-alerts`."""

    name = "alert-index"

    def __init__(self, client: Elasticsearch, index: str = ALERTS_INDEX) -> None:
        self.client = client
        self.index = index

    def open_alerts(self) -> dict[AlertKey, OpenAlert]:
        """The alerts whose latest document is `raised`, folded from every document oldest first."""
        open_alerts: dict[AlertKey, OpenAlert] = {}
        sort = [
            {"at": {"order": "asc"}},
            {"query": {"order": "asc"}},
            {"site": {"order": "asc"}},
            {"attempt_id": {"order": "asc"}},
            {"action": {"order": "asc"}},
        ]
        for hit in scan(self.client, self.index, sort):
            source: Mapping[str, Any] = hit["_source"]
            key = AlertKey(source["query"], source["site"], source.get("attempt_id") or "")
            if source["action"] == "resolved":
                open_alerts.pop(key, None)
                continue
            open_alerts[key] = OpenAlert(
                key=key,
                last_sent_at=datetime.fromisoformat(source["at"]),
                notified=frozenset(source.get("notified") or ()),
            )
        return open_alerts

    def record(self, events: Sequence[AlertEvent], notified: Mapping[AlertEvent, Sequence[str]]) -> None:
        """Write one document per event (`notified`: the channels that got it), visible to the next search."""
        if not events:
            return
        operations: list[dict[str, Any]] = []
        for event in events:
            document = alert_document(event, notified.get(event, ()))
            operations.append({"index": {"_index": self.index, "_id": alert_document_id(event)}})
            operations.append(document.model_dump(mode="json", by_alias=True))
        response = self.client.bulk(operations=operations, refresh=True)
        if response.get("errors"):
            reasons = [
                str(next(iter(item.values())).get("error"))
                for item in response["items"]
                if next(iter(item.values())).get("error")
            ]
            raise AlertStateError(
                f"{len(reasons)} alert document(s) not written to {self.index}: {reasons[0]}"
            )
