"""The alert runner: evaluates the alerting saved queries, decides what to send, sends it, remembers it.

One evaluation (`AlertRunner.evaluate`, as of a time):
1. each alerting query runs against `bootwatch-sites` with `now` = the as-of time;
2. a hit counts only if it is its site's latest attempt: a site that retried is judged by the retry, so
   an old failed attempt neither alerts again nor blocks the resolved notice;
3. a (query, site, attempt) not yet open is `raised`; one still open is sent again (`repeat`) once the
   query's re-notify interval has passed, or at once to any channel that missed it last time;
   an open one that no longer matches is `resolved`, with the attempt's current state;
4. every channel gets the events meant for it, retried by its policy; one failing channel is reported
   and never stops the others;
5. every event is written to `bootwatch-alerts` with the channels that got it: the runner's state.

`run_forever` repeats this, each query on its own schedule (or every `--every`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError

from dashboards.alerts.config import AlertConfig
from dashboards.alerts.events import AlertEvent, AlertKey, Delivery, RunReport
from dashboards.alerts.notifiers import DeliveryError, Notifier, build_notifier
from dashboards.alerts.notifiers.alert_index import AlertIndex, OpenAlert, scan
from dashboards.queries import SavedQuery, bundled_queries, run_saved_query
from parsers.store.connect import Store
from parsers.store.templates import SITES_INDEX

# Most hits one alerting query is read for per evaluation; more is reported, not silently cut.
MAX_MATCHES_PER_QUERY = 10_000
LAST_MESSAGE_CHARS = 200
_SITE_FIELDS = [
    "site",
    "host",
    "attempt_id",
    "attempt_number",
    "state",
    "started_at",
    "last_event_at",
    "last_message",
    "error_code",
    "hint",
]


class UnknownQueryError(ValueError):
    """The config names a query that does not exist or cannot alert."""


def select_queries(config: AlertConfig, queries: Sequence[SavedQuery]) -> tuple[SavedQuery, ...]:
    """The alerting queries the runner evaluates: the config's list, else every one with `default_on`."""
    alerting = {query.id: query for query in queries if query.alert is not None}
    if config.queries is None:
        return tuple(query for query in alerting.values() if query.alert and query.alert.default_on)
    unknown = [query_id for query_id in config.queries if query_id not in alerting]
    if unknown:
        raise UnknownQueryError(
            f"alert config queries: {', '.join(unknown)} is not an alerting query; "
            f"choose from {', '.join(alerting)}"
        )
    return tuple(alerting[query_id] for query_id in config.queries)


@dataclass(frozen=True, slots=True)
class _Attempts:
    """Every attempt in `bootwatch-sites` by id, and the latest attempt id of each site."""

    by_id: Mapping[str, Mapping[str, Any]]
    latest_of_site: Mapping[str, str]


def _attempt_order(source: Mapping[str, Any]) -> tuple[str, int]:
    return str(source.get("started_at") or ""), int(source.get("attempt_number") or 0)


def _short(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= LAST_MESSAGE_CHARS else flat[: LAST_MESSAGE_CHARS - 3] + "..."


class AlertRunner:
    """Evaluates alerting queries against one store and notifies the configured channels."""

    def __init__(
        self,
        store: Store,
        config: AlertConfig,
        queries: Sequence[SavedQuery] | None = None,
        notifiers: Sequence[Notifier] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.client = store.client
        self.queries = select_queries(config, bundled_queries() if queries is None else queries)
        self.notifiers: tuple[Notifier, ...] = (
            tuple(notifiers) if notifiers is not None else tuple(build_notifier(c) for c in config.channel)
        )
        self.alert_index = AlertIndex(self.client)
        self._sleep = sleep or time.sleep

    # ----------------------------------------------------------------- reading

    def _attempts(self) -> _Attempts:
        by_id: dict[str, Mapping[str, Any]] = {}
        latest: dict[str, Mapping[str, Any]] = {}
        for hit in scan(self.client, SITES_INDEX, [{"attempt_id": {"order": "asc"}}], _SITE_FIELDS):
            source = hit["_source"]
            attempt_id = source.get("attempt_id") or hit["_id"]
            by_id[attempt_id] = source
            site = source.get("site")
            if site is not None and (
                site not in latest or _attempt_order(source) > _attempt_order(latest[site])
            ):
                latest[site] = source
        return _Attempts(
            by_id=by_id,
            latest_of_site={site: source.get("attempt_id") or "" for site, source in latest.items()},
        )

    # ----------------------------------------------------------------- deciding

    def _raised(
        self, query: SavedQuery, key: AlertKey, source: Mapping[str, Any], as_of: datetime, **extra: Any
    ) -> AlertEvent:
        state = source.get("state")
        host = source.get("host")
        where = f"{key.site} ({host})" if host else key.site
        message = f"{where}: {query.title}: attempt {key.attempt} is {state}"
        if source.get("last_event_at"):
            message += f", last record at {source['last_event_at']}"
        if source.get("error_code"):
            message += f"; error {source['error_code']}"
        if source.get("last_message"):
            message += f"; last record: {_short(source.get('last_message'))}"
        assert query.alert is not None
        return AlertEvent(
            key=key,
            action="raised",
            at=as_of,
            query_title=query.title,
            severity=query.alert.severity,
            state=state,
            host=host,
            message=message,
            error_code=source.get("error_code"),
            hint=source.get("hint"),
            last_event_at=source.get("last_event_at"),
            **extra,
        )

    def _resolved(self, query: SavedQuery, key: AlertKey, attempts: _Attempts, as_of: datetime) -> AlertEvent:
        current = attempts.by_id.get(key.attempt, {})
        latest_id = attempts.latest_of_site.get(key.site)
        state = current.get("state")
        if latest_id and latest_id != key.attempt:
            latest = attempts.by_id.get(latest_id, {})
            reason = f"superseded by attempt {latest_id}, which is {latest.get('state')}"
        elif current:
            reason = f"attempt {key.attempt} is now {state}"
        else:
            reason = f"attempt {key.attempt} is no longer in {SITES_INDEX}"
        assert query.alert is not None
        return AlertEvent(
            key=key,
            action="resolved",
            at=as_of,
            query_title=query.title,
            severity=query.alert.severity,
            state=state,
            host=current.get("host"),
            message=f"{key.site}: no longer {query.title.lower()}: {reason}",
            error_code=current.get("error_code"),
            hint=current.get("hint"),
            last_event_at=current.get("last_event_at"),
        )

    def _decide(
        self,
        query: SavedQuery,
        as_of: datetime,
        attempts: _Attempts,
        open_alerts: Mapping[AlertKey, OpenAlert],
        report: RunReport,
    ) -> list[AlertEvent]:
        assert query.alert is not None
        try:
            result = run_saved_query(self.client, query, as_of, size=MAX_MATCHES_PER_QUERY)
        except (ApiError, TransportError) as exc:
            report.failed_queries[query.id] = str(exc)
            return []
        if result.total > len(result.hits):
            report.failed_queries[query.id] = (
                f"{result.total} matches, only the first {len(result.hits)} evaluated; nothing resolved"
            )
        matched: dict[AlertKey, Mapping[str, Any]] = {}
        for hit in result.hits:
            site = hit.source.get("site")
            attempt = hit.source.get("attempt_id") or hit.id
            if site is None or attempts.latest_of_site.get(site, attempt) != attempt:
                continue
            matched[AlertKey(query.id, site, attempt)] = hit.source
        channel_names = frozenset(notifier.name for notifier in self.notifiers)
        events: list[AlertEvent] = []
        for key, source in matched.items():
            existing = open_alerts.get(key)
            if existing is None:
                events.append(self._raised(query, key, source, as_of))
            elif as_of - existing.last_sent_at >= query.alert.renotify:
                events.append(self._raised(query, key, source, as_of, repeat=True))
            elif channel_names - existing.notified:
                # A channel that failed last time is owed this alert; the others already have it.
                events.append(
                    self._raised(
                        query,
                        key,
                        source,
                        as_of,
                        repeat=True,
                        channels=channel_names - existing.notified,
                        already_notified=tuple(sorted(existing.notified)),
                    )
                )
        if query.id in report.failed_queries:
            return events
        for key in open_alerts:
            if key.query == query.id and key not in matched:
                events.append(self._resolved(query, key, attempts, as_of))
        return events

    # ----------------------------------------------------------------- sending

    def _deliver(self, events: Sequence[AlertEvent], report: RunReport) -> dict[AlertEvent, list[str]]:
        notified: dict[AlertEvent, list[str]] = {event: list(event.already_notified) for event in events}
        for notifier in self.notifiers:
            batch = [event for event in events if event.for_channel(notifier.name)]
            if not batch:
                continue
            try:
                _, tries = notifier.retry.run(lambda n=notifier, b=batch: n.send(b), sleep=self._sleep)
            except DeliveryError as exc:
                report.deliveries.append(
                    Delivery(notifier.name, len(batch), ok=False, tries=exc.tries, error=str(exc))
                )
                continue
            report.deliveries.append(Delivery(notifier.name, len(batch), ok=True, tries=tries))
            for event in batch:
                notified[event].append(notifier.name)
        return notified

    # ----------------------------------------------------------------- public

    def evaluate(self, as_of: datetime, queries: Iterable[SavedQuery] | None = None) -> RunReport:
        """One evaluation of `queries` (default: all selected) with `now` = `as_of`."""
        as_of = as_of.astimezone(UTC)
        report = RunReport(as_of=as_of)
        attempts = self._attempts()
        open_alerts = self.alert_index.open_alerts()
        for query in self.queries if queries is None else queries:
            report.events.extend(self._decide(query, as_of, attempts, open_alerts, report))
        notified = self._deliver(report.events, report)
        self.alert_index.record(report.events, notified)
        return report

    def run_forever(
        self,
        stop: threading.Event,
        on_report: Callable[[RunReport], None],
        every: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wait: Callable[[float], object] | None = None,
    ) -> None:
        """Evaluate each query when due (its schedule, or `every` for all) until `stop` is set.

        `wait(seconds)` sleeps until the next query is due; the default, `stop.wait`, wakes up at once
        when `stop` is set (SIGTERM, Ctrl-C)."""
        wait = wait or stop.wait
        next_due = {query.id: clock() for query in self.queries}
        while not stop.is_set():
            now = clock()
            due = [query for query in self.queries if next_due[query.id] <= now]
            if due:
                on_report(self.evaluate(now, due))
                for query in due:
                    assert query.alert is not None
                    next_due[query.id] = now + (every or query.alert.schedule)
            if not stop.is_set():
                wait(max(0.0, (min(next_due.values()) - clock()).total_seconds()))
