"""Site install state in the store: attempts in `bootwatch-sites`, heartbeats, and the sweep.

One document per install attempt (`_id` = `attempt_id`), written with optimistic concurrency
(`if_seq_no` / `if_primary_term`): an update reads the stored attempt, applies a change function and
writes only if nobody wrote in between; on a 409 it reads again and re-applies. So several collectors
can update the same site without a lock, and a replay that judges the same as before writes nothing.

Which judgment of an attempt wins (`merge_attempt`): every judgment carries its `evidence`, the number
of the site's records the judging tracker had folded (a tracker rebuilt from the store starts from the
stored count, so it only grows). A fresh judgment replaces the stored one when it was made on at least
as much evidence (on equal evidence, when judged as of a time no earlier), whatever its facts: a tracker
that re-derived the site from more records is right even where its attempt has an earlier last record
and fewer records than before (a late start marker split the attempt). A writer with less evidence -
a collector that has not seen the site's newest records - cannot overwrite a better judgment, and a
sweep's re-judgment (same evidence, later as-of) is not undone by a collector still judging as of an
earlier time. Every save rewrites all the attempts the tracker judged, so all of them carry its
evidence; an attempt id the tracker took back (`SiteTracker.take_superseded_ids`) is deleted
(`delete_superseded`) unless a judgment on more evidence still has it, and a leftover stale document
(a delete that failed, a writer that never saw the late record) carries less evidence than the live
ones, so `latest_attempts` ranks by (evidence, attempt number, start) and never picks it.
Limitation: the evidence of two collectors that each saw a disjoint part of one site's records is not
comparable; the one that has seen more wins. A shipper sends a site's files to one collector at a time
and fails over only when that collector is gone, and the new one resumes from the stored attempt.

Heartbeats go to `bootwatch-heartbeats`; the latest per site is the shipper's last-seen time. The sweep
re-judges every site's open latest attempt as of a given time, so a site that stops moving becomes
`stalled` (or `dark`, when its shipper stopped too) without any new record arriving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError

from parsers.lifecycle.attempts import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_STALL_WINDOW,
    SiteTracker,
    parse_timestamp,
)
from parsers.schema import AttemptState, HeartbeatDocument, SiteAttempt, format_utc_millis
from parsers.store.connect import Store
from parsers.store.errors import StoreUnavailable
from parsers.store.retry import ItemOutcome, RetryPolicy
from parsers.store.templates import HEARTBEATS_INDEX, SITES_INDEX

OPEN_STATES: frozenset[AttemptState] = frozenset({"in_progress", "stalled", "dark"})
MAX_SITES = 10_000  # one terms bucket per site in the last-seen aggregation
PAGE_SIZE = 500

AttemptChange = Callable[[SiteAttempt | None], SiteAttempt | None]


@dataclass(slots=True)
class SaveResult:
    """What `save_attempts` / `sweep` did."""

    written: int = 0
    unchanged: int = 0
    deleted: int = 0  # superseded attempt documents removed
    conflicts: int = 0  # optimistic-concurrency conflicts met (and resolved by re-reading)


def attempt_source(attempt: SiteAttempt) -> dict[str, Any]:
    """The JSON document stored for an attempt."""
    return attempt.model_dump(mode="json", by_alias=True, exclude_none=True)


class SiteStore:
    """Attempts and heartbeats of the fleet in one store."""

    def __init__(self, store: Store, *, policy: RetryPolicy | None = None) -> None:
        # the policy is the only retry layer: the transport must not resend on its own
        self.client: Elasticsearch = store.client.options(max_retries=0, retry_on_status=())
        self.policy = policy or RetryPolicy()

    # ------------------------------------------------------------------ attempts

    def get(self, attempt_id: str) -> tuple[SiteAttempt, int, int] | None:
        """The stored attempt with its `_seq_no` and `_primary_term`, or None."""
        try:
            found = self._call(self.client.get, index=SITES_INDEX, id=attempt_id)
        except NotFoundError:
            return None
        return SiteAttempt.model_validate(found["_source"]), found["_seq_no"], found["_primary_term"]

    def update(
        self, attempt_id: str, change: AttemptChange, result: SaveResult | None = None
    ) -> SiteAttempt | None:
        """Read-modify-write one attempt under optimistic concurrency; re-reads and re-applies on conflict.

        `change` gets the stored attempt (None when there is none) and returns the attempt to store, or
        None to leave it as it is. Returns what is stored afterwards."""
        result = result if result is not None else SaveResult()
        attempt = 0
        while True:
            attempt += 1
            stored = self.get(attempt_id)
            current = stored[0] if stored else None
            wanted = change(current)
            if wanted is None or wanted == current:
                result.unchanged += 1
                return current
            try:
                if stored is None:
                    self._call(
                        self.client.create, index=SITES_INDEX, id=attempt_id, document=attempt_source(wanted)
                    )
                else:
                    _, seq_no, primary_term = stored
                    self._call(
                        self.client.index,
                        index=SITES_INDEX,
                        id=attempt_id,
                        document=attempt_source(wanted),
                        if_seq_no=seq_no,
                        if_primary_term=primary_term,
                    )
            except ConflictError:
                self._after_conflict(result, attempt_id, attempt)
                continue
            result.written += 1
            return wanted

    def save(self, attempts: Iterable[SiteAttempt]) -> SaveResult:
        """Store freshly judged attempts, merged with what is stored (see `merge_attempt`)."""
        result = SaveResult()
        for fresh in attempts:
            self.update(fresh.attempt_id, lambda stored, fresh=fresh: merge_attempt(stored, fresh), result)
        return result

    def iter_attempts(self, site: str | None = None) -> Iterator[SiteAttempt]:
        """Every stored attempt (of one site, or all), by site then attempt number (`search_after` pages)."""
        query: dict[str, Any] = {"term": {"site": site}} if site else {"match_all": {}}
        sort = [{"site": "asc"}, {"attempt_number": "asc"}, {"attempt_id": "asc"}]
        after: list[Any] | None = None
        while True:
            page = self._call(
                self.client.search,
                index=SITES_INDEX,
                query=query,
                sort=sort,
                size=PAGE_SIZE,
                search_after=after,
                ignore_unavailable=True,
            )
            hits = page["hits"]["hits"]
            for hit in hits:
                yield SiteAttempt.model_validate(hit["_source"])
            if len(hits) < PAGE_SIZE:
                return
            after = hits[-1]["sort"]

    def latest_attempts(self) -> dict[str, SiteAttempt]:
        """Each site's latest stored attempt, by site code (ranked by `latest_rank`)."""
        latest: dict[str, SiteAttempt] = {}
        for attempt in self.iter_attempts():
            known = latest.get(attempt.site)
            if known is None or latest_rank(attempt) > latest_rank(known):
                latest[attempt.site] = attempt
        return latest

    def latest_attempt(self, site: str) -> SiteAttempt | None:
        """One site's latest stored attempt (ranked by `latest_rank`), or None when none is stored."""
        page = self._call(
            self.client.search,
            index=SITES_INDEX,
            query={"term": {"site": site}},
            sort=[{"evidence": "desc"}, {"attempt_number": "desc"}, {"started_at": "desc"}],
            size=1,
            ignore_unavailable=True,
        )
        hits = page["hits"]["hits"]
        return SiteAttempt.model_validate(hits[0]["_source"]) if hits else None

    def delete_superseded(
        self, attempt_ids: Iterable[str], evidence: int, result: SaveResult | None = None
    ) -> SaveResult:
        """Delete attempts a tracker judging on `evidence` records took back (a late record re-derived
        them), each only if no judgment on more evidence stored it since (optimistic concurrency)."""
        result = result if result is not None else SaveResult()
        for attempt_id in attempt_ids:
            tries = 0
            while True:
                tries += 1
                stored = self.get(attempt_id)
                if stored is None or stored[0].evidence > evidence:
                    result.unchanged += 1
                    break
                _, seq_no, primary_term = stored
                try:
                    self._call(
                        self.client.delete,
                        index=SITES_INDEX,
                        id=attempt_id,
                        if_seq_no=seq_no,
                        if_primary_term=primary_term,
                    )
                except NotFoundError:
                    result.unchanged += 1  # deleted by another collector meanwhile
                    break
                except ConflictError:
                    self._after_conflict(result, attempt_id, tries)
                    continue
                result.deleted += 1
                break
        return result

    # ------------------------------------------------------------------ heartbeats

    def record_heartbeat(self, heartbeat: HeartbeatDocument) -> None:
        """Index one heartbeat (idempotent: the same heartbeat received twice is stored once)."""
        stamp = format_utc_millis(heartbeat.timestamp)
        heartbeat_id = f"{heartbeat.site}|{heartbeat.host}|{stamp}"
        source = heartbeat.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            self._call(self.client.create, index=HEARTBEATS_INDEX, id=heartbeat_id, document=source)
        except ConflictError:
            # already stored: a shipper resent it after a lost ack
            return

    def shipper_last_seen(self) -> dict[str, datetime]:
        """The latest heartbeat time of every site that sent one."""
        answer = self._call(
            self.client.search,
            index=HEARTBEATS_INDEX,
            size=0,
            aggs={
                "sites": {
                    "terms": {"field": "site", "size": MAX_SITES},
                    "aggs": {"last": {"max": {"field": "@timestamp"}}},
                }
            },
            ignore_unavailable=True,
        )
        buckets = (answer.get("aggregations") or {}).get("sites", {}).get("buckets", [])
        return {
            bucket["key"]: parse_timestamp(bucket["last"]["value_as_string"])
            for bucket in buckets
            if bucket["last"].get("value_as_string")
        }

    # ------------------------------------------------------------------ sweep

    def sweep(
        self,
        as_of: datetime,
        *,
        stall_window: timedelta = DEFAULT_STALL_WINDOW,
        heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
    ) -> SaveResult:
        """Re-judge every site's open latest attempt as of `as_of`, with the shipper's last-seen time."""
        result = SaveResult()
        last_seen = self.shipper_last_seen()
        for site, latest in self.latest_attempts().items():
            if latest.state not in OPEN_STATES:
                continue

            rejudge = partial(
                _rejudge_change,
                as_of=as_of,
                shipper_last_seen=last_seen.get(site),
                stall_window=stall_window,
                heartbeat_timeout=heartbeat_timeout,
            )
            self.update(latest.attempt_id, rejudge, result)
        return result

    # ------------------------------------------------------------------ transport

    def _after_conflict(self, result: SaveResult, attempt_id: str, tries: int) -> None:
        """Count an optimistic-concurrency conflict and wait before the next try; StoreUnavailable
        once the retry policy gives up."""
        result.conflicts += 1
        if not self.policy.should_retry(tries):
            raise StoreUnavailable(
                f"attempt {attempt_id} kept changing under us ({tries} conflicts); try again"
            ) from None
        self.policy.wait(tries)

    def _call(self, request: Callable[..., Any], **arguments: Any) -> Any:
        """`request(**arguments)` under the retry policy: 429, 5xx and connection errors are retried."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return request(**arguments)
            except (TransportConnectionError, ConnectionTimeout) as exc:
                failure: Exception = exc
            except ApiError as exc:
                if RetryPolicy.outcome(exc.status_code) is not ItemOutcome.RETRY:
                    raise
                failure = exc
            if not self.policy.should_retry(attempt):
                raise StoreUnavailable(
                    f"the store kept failing after {attempt} attempts: {failure}"
                ) from failure
            self.policy.wait(attempt)


def latest_rank(attempt: SiteAttempt) -> tuple[int, int, datetime]:
    """Order of a site's stored attempts, the latest last: the newest judgment's attempts first (a stale
    leftover carries less evidence), then the attempt number, then the start."""
    return attempt.evidence, attempt.attempt_number, attempt.started_at


def _judgment_rank(attempt: SiteAttempt) -> tuple[int, datetime]:
    return attempt.evidence, attempt.judged_as_of


def merge_attempt(stored: SiteAttempt | None, fresh: SiteAttempt) -> SiteAttempt | None:
    """Which judgment of an attempt to keep (see the module doc): the fresh one when made on at least the
    stored evidence (equal evidence: judged as of no earlier a time), else the stored one; the shipper's
    last-seen time is the later of both. None = keep what is stored."""
    if stored is None:
        return fresh
    seen_times = [
        moment for moment in (stored.shipper_last_seen, fresh.shipper_last_seen) if moment is not None
    ]
    last_seen = max(seen_times) if seen_times else None
    winner = fresh if _judgment_rank(fresh) >= _judgment_rank(stored) else stored
    merged = (
        winner
        if winner.shipper_last_seen == last_seen
        else winner.model_copy(update={"shipper_last_seen": last_seen})
    )
    return None if merged == stored else merged


def _rejudge_change(
    stored: SiteAttempt | None,
    *,
    as_of: datetime,
    shipper_last_seen: datetime | None,
    stall_window: timedelta,
    heartbeat_timeout: timedelta,
) -> SiteAttempt | None:
    return rejudge_attempt(stored, as_of, shipper_last_seen, stall_window, heartbeat_timeout)


def rejudge_attempt(
    stored: SiteAttempt | None,
    as_of: datetime,
    shipper_last_seen: datetime | None,
    stall_window: timedelta,
    heartbeat_timeout: timedelta,
) -> SiteAttempt | None:
    """A stored open attempt judged again as of `as_of` (never backwards in time); None = unchanged."""
    if stored is None or stored.state not in OPEN_STATES or as_of < stored.judged_as_of:
        return None
    tracker = SiteTracker.from_attempt(stored, stall_window=stall_window, heartbeat_timeout=heartbeat_timeout)
    if shipper_last_seen is not None:
        tracker.observe_heartbeat(shipper_last_seen)
    judged = tracker.latest(as_of)
    if judged is None:
        return None
    # a new as-of alone is not worth a write: only a changed judgment is
    if judged.model_copy(update={"judged_as_of": stored.judged_as_of}) == stored:
        return None
    return judged
