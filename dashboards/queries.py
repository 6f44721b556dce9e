"""Saved queries: each defined once (in `dashboards/data/queries.toml`), used everywhere.

`bootwatch queries`, the alert runner, the Kibana saved searches and the Kibana rule payloads all read
the same `SavedQuery` objects, so a query fixed here is fixed in every place people look.

Query strings are Lucene syntax, so one string runs in Kibana's Lucene mode and in Elasticsearch
`query_string`. Time ranges are written with date math relative to `now` (`@timestamp:[now-24h TO now]`),
which Kibana evaluates against the wall clock. bootwatch evaluates that date math itself and substitutes
the resulting UTC instant before sending the query: live that instant comes from the wall clock, for
replayed history from `--as-of`, so logs from 2002 are judged as of 2002.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from elasticsearch import Elasticsearch
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from parsers.schema import format_utc_millis
from parsers.store.templates import (
    ALERTS_INDEX,
    DEADLETTER_INDEX,
    HEARTBEATS_INDEX,
    LOGS_INDEX_PREFIX,
    SITES_INDEX,
)

DEFAULT_QUERIES_FILE = Path(__file__).parent / "data" / "queries.toml"
KNOWN_INDICES = (f"{LOGS_INDEX_PREFIX}-*", SITES_INDEX, HEARTBEATS_INDEX, DEADLETTER_INDEX, ALERTS_INDEX)

# --------------------------------------------------------------------------- durations

_DURATION = re.compile(r"\A\s*(\d+)\s*([smhd])\s*\Z")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`"30s"`, `"5m"`, `"24h"`, `"7d"` -> timedelta (the one duration form in configs and flags)."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 24h or 7d")
    return timedelta(seconds=int(match.group(1)) * _DURATION_SECONDS[match.group(2)])


def format_duration(duration: timedelta) -> str:
    """The shortest `Ns`/`Nm`/`Nh`/`Nd` spelling of a duration (inverse of `parse_duration`)."""
    seconds = int(duration.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _DURATION_SECONDS[unit] == 0:
            return f"{seconds // _DURATION_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def _duration_field(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration_field)]

# --------------------------------------------------------------------------- instants and date math


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time (`2002-05-01T12:00:00Z`, or without zone = UTC) -> aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time like 2002-05-01T12:00:00Z") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# `now`, then any number of `+N<unit>` / `-N<unit>`, then an optional rounding `/<unit>`: the date math
# Elasticsearch and Kibana accept. Recognized only where a range bound stands (after `[`, `{`, `TO `, or a
# comparison `>`, `<`, `=`), so the word "now" in a message search is left alone.
_DATE_MATH = re.compile(r"(?:(?<=[\[{<>=])|(?<=\bTO ))now((?:[+-]\d+[yMwdhHms])*)(?:/([yMwdhHms]))?(?![\w.])")
_DATE_MATH_STEP = re.compile(r"([+-])(\d+)([yMwdhHms])")
_FIXED_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "H": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _round_down(moment: datetime, unit: str) -> datetime:
    if unit == "y":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        start = moment - timedelta(days=moment.weekday())
        return start.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in "hH":
        return moment.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    return moment.replace(microsecond=0)


def evaluate_date_math(steps: str, rounding: str | None, now: datetime) -> datetime:
    """The instant `now<steps>/<rounding>` names (Elasticsearch semantics; rounding rounds down)."""
    moment = now
    for sign, amount_text, unit in _DATE_MATH_STEP.findall(steps):
        amount = int(amount_text) * (1 if sign == "+" else -1)
        if unit == "y":
            moment = _add_months(moment, 12 * amount)
        elif unit == "M":
            moment = _add_months(moment, amount)
        else:
            moment = moment + amount * _FIXED_UNITS[unit]
    return _round_down(moment, rounding) if rounding else moment


def resolve_now(query: str, now: datetime) -> str:
    """The query with every `now...` date-math expression replaced by the UTC instant it names.

    The instant is written unquoted (`[2002-04-30T12:00:00.000Z TO 2002-05-01T12:00:00.000Z]`): inside a
    range the Lucene grammar accepts colons unquoted, and every engine reads that form.
    """
    utc_now = now.astimezone(UTC)
    return _DATE_MATH.sub(
        lambda match: format_utc_millis(evaluate_date_math(match.group(1), match.group(2), utc_now)), query
    )


# --------------------------------------------------------------------------- definitions


class AlertSettings(BaseModel):
    """How the alert runner treats a query: how often it runs, how loud, how often it repeats itself."""

    model_config = ConfigDict(extra="forbid")

    schedule: Duration = Field(description="How often the runner evaluates the query, e.g. 5m")
    severity: Literal["critical", "warning", "info"] = Field(description="Severity sent to the channels")
    renotify: Duration = Field(description="A match still open is sent again after this long, e.g. 24h")
    default_on: bool = Field(True, description="Run it unless the alert config's `queries` says otherwise")


class SavedQuery(BaseModel):
    """One saved query, as Kibana and the alert runner both use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$", description="Stable id: Kibana object ids derive from it"
    )
    title: str
    description: str
    index: str = Field(description="Index or pattern the query runs on")
    query: str = Field(min_length=1, description="Lucene query string, date math relative to `now`")
    columns: list[str] = Field(min_length=1, description="Fields shown in Kibana and by `queries run`")
    sort: list[tuple[str, Literal["asc", "desc"]]] = Field(description="[[field, order], ...]")
    time_field: str = Field(description="The date field that says when a hit happened (Kibana rules use it)")
    alert: AlertSettings | None = Field(None, description="Present on alerting queries")

    @model_validator(mode="after")
    def _check(self) -> SavedQuery:
        if self.index not in KNOWN_INDICES:
            raise ValueError(f"index {self.index!r} is none of bootwatch's: {', '.join(KNOWN_INDICES)}")
        if self.alert is not None and self.index != SITES_INDEX:
            raise ValueError(f"only queries on {SITES_INDEX} can alert: an alert is about one site attempt")
        return self

    def resolved_query(self, now: datetime) -> str:
        """The query string with `now` date math evaluated at `now`."""
        return resolve_now(self.query, now)


class _QueriesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: list[SavedQuery] = Field(min_length=1)


def load_queries(path: Path | None = None) -> tuple[SavedQuery, ...]:
    """Every saved query of a TOML file (default: the bundled `dashboards/data/queries.toml`)."""
    source = path or DEFAULT_QUERIES_FILE
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
        parsed = _QueriesFile.model_validate(document)
    except OSError as exc:
        raise ValueError(f"cannot read saved queries file {source}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"saved queries file {source} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"saved queries file {source}: {where}: {first['msg']}") from None
    ids = [query.id for query in parsed.query]
    duplicates = sorted({query_id for query_id in ids if ids.count(query_id) > 1})
    if duplicates:
        raise ValueError(f"saved queries file {source}: duplicate id(s) {', '.join(duplicates)}")
    return tuple(parsed.query)


@cache
def bundled_queries() -> tuple[SavedQuery, ...]:
    """The bundled saved queries (read once per process)."""
    return load_queries()


def find_query(query_id: str, queries: tuple[SavedQuery, ...] | None = None) -> SavedQuery:
    """The saved query with this id; KeyError names the known ids."""
    pool = bundled_queries() if queries is None else queries
    for query in pool:
        if query.id == query_id:
            return query
    raise KeyError(f"no saved query {query_id!r}; known: {', '.join(query.id for query in pool)}")


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, slots=True)
class QueryHit:
    """One matching document: its `_id`, its index and its source."""

    id: str
    index: str
    source: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What a saved query matched at `as_of`: the total and up to `size` hits in the query's sort order."""

    query: SavedQuery
    as_of: datetime
    sent_query: str
    total: int
    hits: tuple[QueryHit, ...]


def run_saved_query(
    client: Elasticsearch, query: SavedQuery, as_of: datetime, size: int = 1000
) -> QueryResult:
    """Run one saved query with `now` = `as_of`; an index that does not exist yet matches nothing."""
    sent = query.resolved_query(as_of)
    response = client.search(
        index=query.index,
        query={"query_string": {"query": sent}},
        sort=[{field: {"order": order, "unmapped_type": "date"}} for field, order in query.sort],
        size=size,
        track_total_hits=True,
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    hits_section = response["hits"]
    total = hits_section["total"]
    hits = tuple(
        QueryHit(id=hit["_id"], index=hit["_index"], source=hit["_source"]) for hit in hits_section["hits"]
    )
    return QueryResult(
        query=query,
        as_of=as_of,
        sent_query=sent,
        total=total["value"] if isinstance(total, dict) else int(total),
        hits=hits,
    )
