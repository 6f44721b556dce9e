"""Fleet-wide install statistics computed from the store: the numbers behind `bootwatch stats` and its report.

Everything is counted on install attempts (`bootwatch-sites`, one document per attempt), selected by
the time the attempt started, exactly as the Kibana Lens charts count them (`dashboards/kibana/export.py`):
- installs started = attempts that started in the window; succeeded / failed_unreported / stalled /
  dark / in_progress = those attempts by their stored state;
- failure rate = (failed_unreported + stalled + dark) / attempts no longer in progress;
- top error codes = the first error code of each failed_unreported attempt, with its known cause;
- time to failure = `failed_at - started_at`; time to detect = `detected_at - failed_at`;
- worst sites = the sites with the most attempts that ended badly in the window;
- silent sites = sites whose latest attempt (as of the as-of time, whenever it started) is
  failed_unreported, stalled or dark: the sites that need a person now.

"version" groups sites by the SMS generation their logs show: a site that wrote any CMTrace-format
record is a ConfigMgr (2007 and later) site, a site with only legacy SMS logs an SMS 2.0/2003 one.
The documents carry no product version number, but the log format changed with the product.

Counts, groups, the timeline, error codes, worst and silent sites come from aggregations (terms,
filters, date_histogram, cardinality, top_hits). The two durations are differences between two
fields of a document, which needs a script in an aggregation, and bootwatch uses no scripts
(DESIGN.md: no Painless; the embedded engine has none): they are computed from `search_after` pages
of just the attempts that failed, holding three date fields each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from parsers.lifecycle.attempts import parse_timestamp
from parsers.schema import AttemptState, Keyword, Strict, UtcMillis, format_utc_millis
from parsers.store.connect import Store
from parsers.store.templates import LOGS_INDEX_PREFIX, SITES_INDEX

GroupBy = Literal["day", "week", "site", "error", "version"]
GROUP_BY_CHOICES: tuple[str, ...] = ("day", "week", "site", "error", "version")
STATES: tuple[AttemptState, ...] = ("succeeded", "failed_unreported", "stalled", "dark", "in_progress")
BAD_STATES: tuple[AttemptState, ...] = ("failed_unreported", "stalled", "dark")
ERAS: dict[str, str] = {"configmgr": "ConfigMgr (CMTrace logs)", "sms2": "SMS 2.0/2003 (legacy logs)"}
NO_CODE = "(no code)"

MAX_SITES = 10_000  # one terms bucket per site
TOP_ERRORS = 10
WORST_SITES = 10
PAGE_SIZE = 500
# Beyond this many days a daily timeline has too many bars to read: it becomes weekly.
DAILY_TIMELINE_MAX_DAYS = 120
# Human bins for the duration histograms (upper bounds; the last bin is open).
DURATION_BINS: tuple[tuple[str, timedelta | None], ...] = (
    ("< 5 min", timedelta(minutes=5)),
    ("5-15 min", timedelta(minutes=15)),
    ("15-60 min", timedelta(hours=1)),
    ("1-2 h", timedelta(hours=2)),
    ("2-6 h", timedelta(hours=6)),
    ("6-24 h", timedelta(days=1)),
    ("1-3 d", timedelta(days=3)),
    ("3-7 d", timedelta(days=7)),
    ("> 7 d", None),
)


# --------------------------------------------------------------------------- result (contract with report)


class StateCounts(Strict):
    """Install attempts by state, and the failure rate among those that are no longer running."""

    started: int = Field(0, ge=0, description="Attempts that started in the period")
    succeeded: int = Field(0, ge=0)
    failed_unreported: int = Field(0, ge=0)
    stalled: int = Field(0, ge=0)
    dark: int = Field(0, ge=0)
    in_progress: int = Field(0, ge=0)
    failure_rate: float | None = Field(
        None, description="(failed_unreported + stalled + dark) / attempts not in progress; None: none ended"
    )

    @classmethod
    def from_state_buckets(cls, buckets: list[dict[str, Any]]) -> StateCounts:
        """From a `terms` aggregation on `state`."""
        by_state = {bucket["key"]: int(bucket["doc_count"]) for bucket in buckets}
        counts = {state: by_state.get(state, 0) for state in STATES}
        finished = sum(counts.values()) - counts["in_progress"]
        bad = sum(counts[state] for state in BAD_STATES)
        return cls(
            started=sum(by_state.values()),
            failure_rate=bad / finished if finished else None,
            **counts,
        )

    @property
    def bad(self) -> int:
        return self.failed_unreported + self.stalled + self.dark


class Group(Strict):
    """One row of a breakdown: a period, a site, an error code or an SMS generation."""

    key: Keyword = Field(description="Bucket key: ISO date of the period start, site code, code or era")
    label: str = Field(description="How a person reads the key")
    counts: StateCounts


class ErrorCodeCount(Strict):
    code: Keyword
    hint: str | None = Field(None, description="Known cause of the code")
    attempts: int = Field(ge=0, description="failed_unreported attempts whose first error was this code")
    sites: int = Field(ge=0, description="Distinct sites among them")


class DurationBin(Strict):
    label: str
    upper_s: float | None = Field(description="Upper bound of the bin in seconds; None: open-ended")
    count: int = Field(ge=0)


class DurationStats(Strict):
    """A distribution of durations in seconds (nearest-rank percentiles)."""

    count: int = Field(0, ge=0)
    min_s: float | None = None
    median_s: float | None = None
    p90_s: float | None = None
    max_s: float | None = None
    bins: list[DurationBin] = Field(default_factory=list)

    @classmethod
    def from_samples(cls, samples: list[float]) -> DurationStats:
        ordered = sorted(samples)
        bins = [
            DurationBin(label=label, upper_s=upper.total_seconds() if upper else None, count=0)
            for label, upper in DURATION_BINS
        ]
        for value in ordered:
            for duration_bin in bins:
                if duration_bin.upper_s is None or value < duration_bin.upper_s:
                    duration_bin.count += 1
                    break
        if not ordered:
            return cls(bins=bins)
        return cls(
            count=len(ordered),
            min_s=ordered[0],
            median_s=_nearest_rank(ordered, 0.5),
            p90_s=_nearest_rank(ordered, 0.9),
            max_s=ordered[-1],
            bins=bins,
        )


class SiteRow(Strict):
    """A site with its latest attempt (and, in `worst_sites`, how many of its attempts ended badly)."""

    site: Keyword
    host: Keyword | None = None
    state: AttemptState
    attempt_id: Keyword
    attempts: int = Field(ge=1, description="Number of the latest attempt: how many the site has made")
    bad_attempts: int = Field(0, ge=0, description="Attempts in the window that ended badly")
    started_at: UtcMillis
    last_event_at: UtcMillis
    failed_at: UtcMillis | None = None
    detected_at: UtcMillis | None = None
    error_code: Keyword | None = None
    hint: str | None = None
    last_message: str | None = None


class FleetStats(Strict):
    """Everything `bootwatch stats` prints and the HTML report draws."""

    as_of: UtcMillis = Field(description="Attempts that started later are not counted; `--since` ends here")
    window_start: UtcMillis = Field(description="First instant of the window (attempt start times)")
    window_end: UtcMillis = Field(description="Last instant of the window")
    by: GroupBy
    sites: int = Field(ge=0, description="Distinct sites with an attempt in the window")
    totals: StateCounts
    groups: list[Group] = Field(description="The `--by` breakdown")
    timeline_interval: Literal["day", "week"]
    timeline: list[Group] = Field(description="Attempts by start day (or week), every period of the window")
    top_errors: list[ErrorCodeCount]
    failed_without_code: int = Field(ge=0, description="failed_unreported attempts with no error code")
    time_to_failure: DurationStats = Field(description="failed_at - started_at of failed attempts")
    time_to_detect: DurationStats = Field(description="detected_at - failed_at of failed attempts")
    worst_sites: list[SiteRow]
    silent_sites: list[SiteRow] = Field(description="Sites whose latest attempt is failed, stalled or dark")


# --------------------------------------------------------------------------- the question


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """Which attempts to count: started in [start, end] and not after `as_of`."""

    start: datetime
    end: datetime
    as_of: datetime
    by: GroupBy = "day"

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(
                f"the window starts ({format_utc_millis(self.start)}) after it ends "
                f"({format_utc_millis(self.end)})"
            )

    @property
    def last_instant(self) -> datetime:
        return min(self.end, self.as_of)

    def window_filter(self) -> dict[str, Any]:
        return {
            "range": {
                "started_at": {
                    "gte": format_utc_millis(self.start),
                    "lte": format_utc_millis(self.last_instant),
                }
            }
        }

    @property
    def timeline_interval(self) -> Literal["day", "week"]:
        if self.by == "week" or self.end - self.start > timedelta(days=DAILY_TIMELINE_MAX_DAYS):
            return "week"
        return "day"


# --------------------------------------------------------------------------- computing


def compute_stats(store: Store, query: StatsQuery) -> FleetStats:
    """The fleet statistics for `query` from the store's attempts (and logs, for `--by version`)."""
    client = store.client
    in_window = {"bool": {"filter": [query.window_filter()]}}
    interval = query.timeline_interval
    aggregations: dict[str, Any] = {
        "states": {"terms": {"field": "state", "size": len(STATES)}},
        "sites": {"cardinality": {"field": "site"}},
        "timeline": {
            "date_histogram": {
                "field": "started_at",
                "calendar_interval": interval,
                "min_doc_count": 0,
                "extended_bounds": {
                    "min": format_utc_millis(query.start),
                    "max": format_utc_millis(query.last_instant),
                },
            },
            "aggs": {"states": {"terms": {"field": "state", "size": len(STATES)}}},
        },
        "failed": {
            "filter": {"term": {"state": "failed_unreported"}},
            "aggs": {
                "codes": {
                    "terms": {"field": "error_code", "size": TOP_ERRORS},
                    "aggs": {
                        "sites": {"cardinality": {"field": "site"}},
                        "hint": {
                            "top_hits": {"size": 1, "_source": ["hint"], "sort": [{"attempt_id": "asc"}]}
                        },
                    },
                },
                "with_code": {"filter": {"exists": {"field": "error_code"}}},
            },
        },
        "worst": {
            "terms": {"field": "site", "size": WORST_SITES, "order": [{"bad": "desc"}, {"_key": "asc"}]},
            "aggs": {
                "bad": {"filter": {"terms": {"state": list(BAD_STATES)}}},
                "latest": _latest_attempt_hit(),
            },
        },
    }
    group_aggregation = _group_aggregation(store, query)
    if group_aggregation is not None:
        aggregations["groups"] = group_aggregation
    answer = client.search(
        index=SITES_INDEX, size=0, query=in_window, aggs=aggregations, ignore_unavailable=True
    )
    found = answer.get("aggregations") or {}
    timeline = [_period_group(bucket, interval) for bucket in _buckets(found, "timeline")]
    failed = found.get("failed", {})
    top_errors = [
        ErrorCodeCount(
            code=bucket["key"],
            hint=_first_source(bucket["hint"]).get("hint"),
            attempts=bucket["doc_count"],
            sites=int(bucket["sites"]["value"]),
        )
        for bucket in failed.get("codes", {}).get("buckets", [])
    ]
    worst_sites = [
        _site_row(_first_source(bucket["latest"]), bad_attempts=bucket["bad"]["doc_count"])
        for bucket in _buckets(found, "worst")
        if bucket["bad"]["doc_count"] > 0
    ]
    to_failure, to_detect = _failure_durations(store, query)
    return FleetStats(
        as_of=query.as_of,
        window_start=query.start,
        window_end=query.last_instant,
        by=query.by,
        sites=int(found.get("sites", {}).get("value") or 0),
        totals=StateCounts.from_state_buckets(_buckets(found, "states")),
        groups=timeline if group_aggregation is None else _groups(query.by, found["groups"]),
        timeline_interval=interval,
        timeline=timeline,
        top_errors=top_errors,
        failed_without_code=int(failed.get("doc_count", 0))
        - int(failed.get("with_code", {}).get("doc_count", 0)),
        time_to_failure=DurationStats.from_samples(to_failure),
        time_to_detect=DurationStats.from_samples(to_detect),
        worst_sites=worst_sites,
        silent_sites=silent_sites(store, query.as_of),
    )


def silent_sites(store: Store, as_of: datetime) -> list[SiteRow]:
    """Sites whose latest attempt started by `as_of` is failed_unreported, stalled or dark, by site code."""
    answer = store.client.search(
        index=SITES_INDEX,
        size=0,
        query={"range": {"started_at": {"lte": format_utc_millis(as_of)}}},
        aggs={
            "sites": {
                "terms": {"field": "site", "size": MAX_SITES, "order": {"_key": "asc"}},
                "aggs": {"latest": _latest_attempt_hit()},
            }
        },
        ignore_unavailable=True,
    )
    rows = [
        _site_row(_first_source(bucket["latest"])) for bucket in _buckets(answer.get("aggregations"), "sites")
    ]
    return [row for row in rows if row.state in BAD_STATES]


def attempt_time_range(store: Store) -> tuple[datetime, datetime] | None:
    """When the store's first and last attempts started (None: no attempt stored)."""
    answer = store.client.search(
        index=SITES_INDEX,
        size=0,
        aggs={"first": {"min": {"field": "started_at"}}, "last": {"max": {"field": "started_at"}}},
        ignore_unavailable=True,
    )
    found = answer.get("aggregations") or {}
    first = (found.get("first") or {}).get("value_as_string")
    last = (found.get("last") or {}).get("value_as_string")
    if not first or not last:
        return None
    return parse_timestamp(first), parse_timestamp(last)


def site_eras(store: Store) -> dict[str, str]:
    """`configmgr` for every site that wrote a CMTrace-format record (see the module doc)."""
    answer = store.client.search(
        index=f"{LOGS_INDEX_PREFIX}-*",
        size=0,
        query={"term": {"sms.log.format": "cmtrace"}},
        aggs={"sites": {"terms": {"field": "sms.site.code", "size": MAX_SITES}}},
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    return {bucket["key"]: "configmgr" for bucket in _buckets(answer.get("aggregations"), "sites")}


# --------------------------------------------------------------------------- helpers


def _nearest_rank(ordered: list[float], share: float) -> float:
    rank = max(1, -(-len(ordered) * share // 1))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def _buckets(found: dict[str, Any] | None, name: str) -> list[dict[str, Any]]:
    return list(((found or {}).get(name) or {}).get("buckets", []))


def _first_source(top_hits: dict[str, Any]) -> dict[str, Any]:
    hits = top_hits.get("hits", {}).get("hits", [])
    return dict(hits[0]["_source"]) if hits else {}


def _latest_attempt_hit() -> dict[str, Any]:
    return {"top_hits": {"size": 1, "sort": [{"attempt_number": {"order": "desc"}}]}}


def _site_row(source: dict[str, Any], bad_attempts: int = 0) -> SiteRow:
    return SiteRow(
        site=source["site"],
        host=source.get("host"),
        state=source["state"],
        attempt_id=source["attempt_id"],
        attempts=source["attempt_number"],
        bad_attempts=bad_attempts,
        started_at=source["started_at"],
        last_event_at=source["last_event_at"],
        failed_at=source.get("failed_at"),
        detected_at=source.get("detected_at"),
        error_code=source.get("error_code"),
        hint=source.get("hint"),
        last_message=source.get("last_message"),
    )


def _period_group(bucket: dict[str, Any], interval: str) -> Group:
    start = parse_timestamp(bucket["key_as_string"])
    label = f"{start:%Y-%m-%d}" if interval == "day" else f"week of {start:%Y-%m-%d}"
    return Group(
        key=f"{start:%Y-%m-%d}",
        label=label,
        counts=StateCounts.from_state_buckets(_buckets(bucket, "states")),
    )


def _group_aggregation(store: Store, query: StatsQuery) -> dict[str, Any] | None:
    """The aggregation of the `--by` breakdown; None when the breakdown is the timeline itself."""
    states = {"states": {"terms": {"field": "state", "size": len(STATES)}}}
    if query.by in ("day", "week"):
        return None
    if query.by == "site":
        return {"terms": {"field": "site", "size": MAX_SITES, "order": {"_key": "asc"}}, "aggs": states}
    if query.by == "error":
        return {
            "terms": {"field": "error_code", "size": MAX_SITES, "missing": NO_CODE},
            "aggs": states,
        }
    configmgr_sites = sorted(site_eras(store))
    return {
        "filters": {
            "filters": {
                "configmgr": {"terms": {"site": configmgr_sites}},
                "sms2": {"bool": {"must_not": [{"terms": {"site": configmgr_sites}}]}},
            }
        },
        "aggs": states,
    }


def _groups(by: GroupBy, found: dict[str, Any]) -> list[Group]:
    buckets = found.get("buckets", [])
    if by == "version":
        return [
            Group(
                key=era,
                label=ERAS[era],
                counts=StateCounts.from_state_buckets(_buckets(buckets[era], "states")),
            )
            for era in ERAS
            if buckets.get(era, {}).get("doc_count")
        ]
    groups = [
        Group(
            key=bucket["key"],
            label=bucket["key"],
            counts=StateCounts.from_state_buckets(_buckets(bucket, "states")),
        )
        for bucket in buckets
    ]
    if by == "error":
        # the codes that hurt most first; attempts without a code (mostly successes) last
        groups.sort(key=lambda group: (group.key == NO_CODE, -group.counts.failed_unreported, group.key))
    return groups


def _failure_durations(store: Store, query: StatsQuery) -> tuple[list[float], list[float]]:
    """Seconds from start to failure, and from failure to detection, of the window's failed attempts."""
    to_failure: list[float] = []
    to_detect: list[float] = []
    search_query = {"bool": {"filter": [query.window_filter(), {"term": {"state": "failed_unreported"}}]}}
    after: list[Any] | None = None
    while True:
        page = store.client.search(
            index=SITES_INDEX,
            query=search_query,
            sort=[{"started_at": "asc"}, {"attempt_id": "asc"}],
            size=PAGE_SIZE,
            search_after=after,
            source_includes=["started_at", "failed_at", "detected_at"],
            ignore_unavailable=True,
        )
        hits = page["hits"]["hits"]
        for hit in hits:
            source = hit["_source"]
            if not source.get("failed_at"):
                continue
            failed_at = parse_timestamp(source["failed_at"])
            to_failure.append((failed_at - parse_timestamp(source["started_at"])).total_seconds())
            if source.get("detected_at"):
                to_detect.append((parse_timestamp(source["detected_at"]) - failed_at).total_seconds())
        if len(hits) < PAGE_SIZE:
            return to_failure, to_detect
        after = hits[-1]["sort"]
