"""Per-site install attempts: a pure (no I/O) state machine folding classified records into attempts.

Feed one site's `LogDocument`-shaped dicts (already classified: `event.action` set by the rules) with
`SiteTracker.observe`, shipper heartbeats with `observe_heartbeat`, and ask `judge(as_of)` for the
attempts as `SiteAttempt` documents. The store persists the latest attempt (optimistic concurrency is
its business); `SiteTracker.from_attempt` rebuilds a tracker from that stored document so a collector
can carry on incrementally.

How records become attempts:
- An attempt opens at an `install.started` record. A later start marker opens a NEW attempt only when
  the current one already failed or succeeded before it, or when nothing was recorded for longer than
  the stall window before it; otherwise it is a later stage of the same install (Bootstrap start, then
  Setup start; or the Bootstrap service restarting mid-install).
- `install.failed` does not close an attempt: a success later in the same attempt still makes it
  `succeeded` ("failure with no success after it"). `install.succeeded` closes it: later records are
  counted to no attempt, except a later `install.failed`, which opens an implicit attempt (a repair or
  reinstall whose start marker no rule knew). Repeated success markers (SMS_EXECUTIVE starting after
  every reboot) change nothing.
- Records before any start marker are counted to no attempt, except a failure or success marker when
  the site has no attempt at all: it opens an implicit attempt (`implicit_start`), so a site whose
  start marker was rotated away still shows its outcome.
- `bootstrap.stopped` is activity, not an end: after a failure it sets `ended_at`; without a failure
  the attempt stays open and is judged `stalled` once the silence outlasts the window.
- Out of order within reason: a record is attributed by its time to the latest attempt started at or
  before it; a start marker up to one stall window before an attempt's start moves that start back
  (the `attempt_id` stays the one given when the attempt opened).

Judging as of a time T (the wall clock live, the end of the data in replay; markers later than T are
not yet seen), first rule that holds:
1. `succeeded` - a success marker at or before T;
2. `failed_unreported` - a failure marker at or before T and no success after it;
3. `dark` - heartbeats exist for the site, were current when the attempt started, stopped more than
   the heartbeat timeout before T, and no record came after they stopped (without heartbeats: never);
4. `stalled` - no record for longer than the stall window before T (exactly the window is not yet);
5. `in_progress` otherwise.
An attempt superseded by a later one is judged as of the later one's start, and never `dark`.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from parsers.schema import AttemptState, SiteAttempt

DEFAULT_STALL_WINDOW = timedelta(hours=2)
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(minutes=15)
# A site retries a handful of times at most; older attempts are dropped so a tracker stays small.
MAX_ATTEMPTS_KEPT = 20
LAST_MESSAGE_MAX_CHARS = 2000

_PROBLEM_STATES: frozenset[AttemptState] = frozenset({"failed_unreported", "stalled", "dark"})


def parse_timestamp(value: str | datetime) -> datetime:
    """A document's `@timestamp` (ISO 8601, `Z`) as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is UTC:  # the stored `...Z` form: nothing to convert (this runs per record)
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(slots=True)
class _Attempt:
    """Raw facts about one attempt; its state is only derived when judged."""

    attempt_id: str
    started_at: datetime
    implicit_start: bool
    last_event_at: datetime
    record_count: int = 0
    host: str | None = None
    last_message: str | None = None
    failed_at: datetime | None = None
    succeeded_at: datetime | None = None
    stopped_at: datetime | None = None
    error_code: str | None = None
    error_at: datetime | None = None
    hint: str | None = None
    detected: tuple[AttemptState, datetime] | None = None

    def terminal_by(self, moment: datetime) -> bool:
        """Whether the attempt had failed or succeeded at or before `moment`."""
        return (self.failed_at is not None and self.failed_at <= moment) or (
            self.succeeded_at is not None and self.succeeded_at <= moment
        )


class SiteTracker:
    """Folds one site's classified records and heartbeats into install attempts (see module doc)."""

    def __init__(
        self,
        site: str,
        stall_window: timedelta = DEFAULT_STALL_WINDOW,
        heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
    ) -> None:
        if stall_window <= timedelta(0) or heartbeat_timeout <= timedelta(0):
            raise ValueError("stall_window and heartbeat_timeout must be positive")
        self.site = site
        self.stall_window = stall_window
        self.heartbeat_timeout = heartbeat_timeout
        self.shipper_last_seen: datetime | None = None
        self.unattributed_records = 0
        self._attempts: list[_Attempt] = []
        self._dropped_attempts = 0

    # ------------------------------------------------------------------ input

    def observe(self, doc: Mapping[str, Any]) -> None:
        """Fold one classified `LogDocument`-shaped dict (its `event.action` set by the rules)."""
        at = parse_timestamp(doc["@timestamp"])
        action = (doc.get("event") or {}).get("action")
        if action == "install.started":
            self._observe_start(at, doc)
            return
        attempt = self._attempt_at(at)
        if attempt is None:
            if action in ("install.failed", "install.succeeded") and not self._attempts:
                self._absorb(self._open(0, at, implicit=True), at, doc, action)
            else:
                self.unattributed_records += 1
            return
        if attempt.succeeded_at is not None and at > attempt.succeeded_at:
            if action == "install.failed" and attempt is self._attempts[-1]:
                self._absorb(self._open(len(self._attempts), at, implicit=True), at, doc, action)
            else:
                self.unattributed_records += 1
            return
        self._absorb(attempt, at, doc, action)

    def observe_heartbeat(self, at: datetime) -> None:
        """A shipper heartbeat for this site arrived at `at` (the collector's receive time)."""
        at = parse_timestamp(at)
        if self.shipper_last_seen is None or at > self.shipper_last_seen:
            self.shipper_last_seen = at

    # ------------------------------------------------------------------ output

    def attempts(self) -> list[SiteAttempt]:
        """Every kept attempt, judged as of the latest record or heartbeat seen."""
        return self.judge(self._data_end()) if self._attempts else []

    def judge(self, as_of: datetime) -> list[SiteAttempt]:
        """Every kept attempt that started by `as_of`, oldest first, judged as of `as_of`.

        Remembers when each attempt was first judged in a bad state (`detected_at`), so calling it on
        a schedule (the sweep) records when bootwatch noticed."""
        as_of = parse_timestamp(as_of)
        visible = [attempt for attempt in self._attempts if attempt.started_at <= as_of]
        judged = []
        for index, attempt in enumerate(visible):
            is_latest = index == len(visible) - 1
            horizon = as_of if is_latest else min(as_of, visible[index + 1].started_at)
            judged.append(self._judge_one(attempt, index, horizon, may_be_dark=is_latest))
        return judged

    def latest(self, as_of: datetime) -> SiteAttempt | None:
        """The site's latest attempt judged as of `as_of` (what `bootwatch-sites` shows), or None."""
        judged = self.judge(as_of)
        return judged[-1] if judged else None

    @classmethod
    def from_attempt(
        cls,
        stored: SiteAttempt,
        stall_window: timedelta = DEFAULT_STALL_WINDOW,
        heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
    ) -> SiteTracker:
        """A tracker that carries on from a stored latest attempt (older attempts are not needed)."""
        tracker = cls(stored.site, stall_window=stall_window, heartbeat_timeout=heartbeat_timeout)
        tracker.shipper_last_seen = stored.shipper_last_seen
        failed_at = stored.failed_at
        ended_at = stored.ended_at
        attempt = _Attempt(
            attempt_id=stored.attempt_id,
            started_at=stored.started_at,
            implicit_start=stored.implicit_start,
            last_event_at=stored.last_event_at,
            record_count=stored.record_count,
            host=stored.host,
            last_message=stored.last_message,
            failed_at=failed_at,
            succeeded_at=ended_at if stored.state == "succeeded" else None,
            stopped_at=ended_at if failed_at and ended_at and ended_at > failed_at else None,
            error_code=stored.error_code,
            # The stored code is the first so far; only a record older than the attempt could beat it.
            error_at=stored.started_at if stored.error_code else None,
            hint=stored.hint,
            detected=(stored.state, stored.detected_at) if stored.detected_at else None,
        )
        tracker._attempts.append(attempt)
        tracker._dropped_attempts = stored.attempt_number - 1
        return tracker

    # ------------------------------------------------------------------ folding

    def _observe_start(self, at: datetime, doc: Mapping[str, Any]) -> None:
        attempt = self._attempt_at(at)
        moving = attempt is not None and at - attempt.last_event_at <= self.stall_window
        if attempt is not None and moving and not attempt.terminal_by(at):
            self._absorb(attempt, at, doc, "install.started")
            return
        # A new attempt, unless the next known attempt starts within one stall window after this
        # marker: then the marker arrived late and is that attempt's real start.
        position = 0 if attempt is None else self._attempts.index(attempt) + 1
        following = self._attempts[position] if position < len(self._attempts) else None
        if following is not None and following.started_at - at <= self.stall_window:
            following.started_at = at
            following.implicit_start = False
            self._absorb(following, at, doc, "install.started")
            return
        self._absorb(self._open(position, at, implicit=False), at, doc, "install.started")

    def _open(self, position: int, at: datetime, *, implicit: bool) -> _Attempt:
        attempt = _Attempt(
            attempt_id=_attempt_id(self.site, at), started_at=at, implicit_start=implicit, last_event_at=at
        )
        self._attempts.insert(position, attempt)
        if len(self._attempts) > MAX_ATTEMPTS_KEPT:
            del self._attempts[0]
            self._dropped_attempts += 1
        return attempt

    def _absorb(self, attempt: _Attempt, at: datetime, doc: Mapping[str, Any], action: str | None) -> None:
        attempt.record_count += 1
        if at >= attempt.last_event_at:
            attempt.last_event_at = at
            message = doc.get("message")
            if message is not None:
                attempt.last_message = message[:LAST_MESSAGE_MAX_CHARS]
        host_fields = doc.get("host")
        if host_fields and host_fields.get("name"):
            attempt.host = host_fields["name"]
        if action == "install.failed":
            attempt.failed_at = at if attempt.failed_at is None else min(attempt.failed_at, at)
        elif action == "install.succeeded":
            attempt.succeeded_at = at if attempt.succeeded_at is None else min(attempt.succeeded_at, at)
        elif action == "bootstrap.stopped":
            attempt.stopped_at = at if attempt.stopped_at is None else max(attempt.stopped_at, at)
        error_fields = doc.get("error")
        code = error_fields.get("code") if error_fields else None
        if not code or (attempt.error_at is not None and at >= attempt.error_at):
            return
        if action == "install.failed" or (doc.get("log") or {}).get("level") == "error":
            attempt.error_code = code
            attempt.error_at = at
            attempt.hint = ((doc.get("sms") or {}).get("error") or {}).get("hint")

    def _attempt_at(self, at: datetime) -> _Attempt | None:
        """The latest attempt that started at or before `at`."""
        attempts = self._attempts
        if attempts and attempts[-1].started_at <= at:  # the in-order common case
            return attempts[-1]
        index = bisect.bisect_right([attempt.started_at for attempt in attempts], at)
        return attempts[index - 1] if index else None

    def _data_end(self) -> datetime:
        latest = max(attempt.last_event_at for attempt in self._attempts)
        return max(latest, self.shipper_last_seen) if self.shipper_last_seen else latest

    # ------------------------------------------------------------------ judging

    def _judge_one(self, attempt: _Attempt, index: int, at: datetime, *, may_be_dark: bool) -> SiteAttempt:
        ended_at: datetime | None = None
        failed_at = attempt.failed_at if attempt.failed_at is not None and attempt.failed_at <= at else None
        state: AttemptState
        if attempt.succeeded_at is not None and attempt.succeeded_at <= at:
            state, ended_at = "succeeded", attempt.succeeded_at
        elif failed_at is not None:
            state = "failed_unreported"
            stopped = attempt.stopped_at
            ended_at = stopped if stopped is not None and failed_at <= stopped <= at else failed_at
        elif may_be_dark and self._went_dark(attempt, at):
            state = "dark"
        elif at - min(attempt.last_event_at, at) > self.stall_window:
            state = "stalled"
        else:
            state = "in_progress"
        return SiteAttempt(
            site=self.site,
            host=attempt.host,
            attempt_id=attempt.attempt_id,
            attempt_number=self._dropped_attempts + index + 1,
            state=state,
            implicit_start=attempt.implicit_start,
            started_at=attempt.started_at,
            last_event_at=attempt.last_event_at,
            ended_at=ended_at,
            failed_at=failed_at,
            detected_at=self._detected_at(attempt, state, at),
            last_message=attempt.last_message,
            error_code=attempt.error_code,
            hint=attempt.hint,
            shipper_last_seen=self.shipper_last_seen,
            record_count=attempt.record_count,
            judged_as_of=at,
        )

    def _went_dark(self, attempt: _Attempt, at: datetime) -> bool:
        """Heartbeats were current when the attempt started, stopped before `at`, and no record came
        after they stopped (a record arriving later proves the shipper still delivers)."""
        seen = self.shipper_last_seen
        if seen is None:
            return False
        silent_since = seen + self.heartbeat_timeout
        return attempt.started_at <= silent_since < at and attempt.last_event_at <= silent_since

    @staticmethod
    def _detected_at(attempt: _Attempt, state: AttemptState, at: datetime) -> datetime | None:
        if state not in _PROBLEM_STATES:
            attempt.detected = None
            return None
        if attempt.detected is None or attempt.detected[0] != state or attempt.detected[1] > at:
            attempt.detected = (state, at)
        return attempt.detected[1]


def _attempt_id(site: str, opened_at: datetime) -> str:
    """`S02-20020726T171201234Z`: the site and the time of the record that opened the attempt."""
    return f"{site}-{opened_at:%Y%m%dT%H%M%S}{opened_at.microsecond // 1000:03d}Z"


class FleetTracker:
    """One `SiteTracker` per site code, for callers that see a mixed stream (replay, the collector)."""

    def __init__(
        self,
        stall_window: timedelta = DEFAULT_STALL_WINDOW,
        heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
    ) -> None:
        self.stall_window = stall_window
        self.heartbeat_timeout = heartbeat_timeout
        self.trackers: dict[str, SiteTracker] = {}

    def tracker(self, site: str) -> SiteTracker:
        """The site's tracker, created on first use."""
        tracker = self.trackers.get(site)
        if tracker is None:
            tracker = self.trackers[site] = SiteTracker(site, self.stall_window, self.heartbeat_timeout)
        return tracker

    def observe(self, doc: Mapping[str, Any]) -> bool:
        """Route a document by `sms.site.code`; False (and nothing recorded) when it has no site."""
        site = ((doc.get("sms") or {}).get("site") or {}).get("code")
        if not site:
            return False
        self.tracker(site).observe(doc)
        return True

    def observe_heartbeat(self, site: str, at: datetime) -> None:
        self.tracker(site).observe_heartbeat(at)

    def judge(self, as_of: datetime) -> dict[str, list[SiteAttempt]]:
        """Every site's attempts judged as of `as_of`, by site code."""
        return {site: tracker.judge(as_of) for site, tracker in sorted(self.trackers.items())}
