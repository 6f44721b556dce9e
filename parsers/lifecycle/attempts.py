"""Per-site install attempts: a pure (no I/O) state machine folding classified records into attempts.

Feed one site's `LogDocument`-shaped dicts (already classified: `event.action` set by the rules) with
`SiteTracker.observe`, shipper heartbeats with `observe_heartbeat`, and ask `judge(as_of)` for the
attempts as `SiteAttempt` documents, each carrying as `evidence` how many of the site's records the
tracker had folded. The store persists the attempts (optimistic concurrency is its business; it lets a
judgment replace a stored one made on no more evidence); `SiteTracker.from_attempt` rebuilds a tracker
from a stored latest attempt (its evidence included) so a collector can carry on incrementally. A late
record can re-derive attempts so that an attempt id handed out before disappears (a late start marker
moves the start, hence the id): `take_superseded_ids` lists those once, for the caller to delete what
it stored under them.

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

Arrival order does not matter (live collection interleaves a site's files): the attempts are those of
folding the documents in time order, ties broken by (file identity, offset), whatever order they came
in. The tracker keeps a reorder buffer of compact entries (not whole documents) sorted by that key; the
attempts are the settled state with the buffer folded on. A document arriving at the end of the buffer
(the usual case) is one more fold step; one arriving in the middle (a late start marker from another
file, say) marks the fold stale, and it is re-derived from the settled state and the buffer when next
asked for. The same record delivered twice (same file identity and offset) is folded once while it is
in the buffer. Memory is bounded: an entry leaves the buffer, folded for good in time order, once it is
`reorder_window` (`DEFAULT_REORDER_WINDOW`) older than the site's newest record, or when more than
`max_pending` (`MAX_PENDING_ENTRIES`) entries wait. So the result is exact when every document arrives
while the records of its site already there and later than it span less than the window and number
fewer than the cap. A document later than that, and everything folded onto a tracker rebuilt by
`from_attempt`, goes through the best-effort rules:
- a record is attributed by its time to the latest attempt started at or before it;
- a start marker up to one stall window before an attempt's start moves that start back (the
  `attempt_id` stays the one given when the attempt opened);
- a start marker that opens a new attempt inside an earlier one takes over the earlier one's success,
  stop and latest-record time after it; the records already counted stay counted where they were.

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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from parsers.schema import AttemptState, SiteAttempt

DEFAULT_STALL_WINDOW = timedelta(hours=2)
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(minutes=15)
# A site retries a handful of times at most; older attempts are dropped so a tracker stays small.
MAX_ATTEMPTS_KEPT = 20
# The reorder buffer (see the module doc): entries newer than this, counted back from the site's
# newest record, stay re-derivable; beyond MAX_PENDING_ENTRIES the oldest are folded for good anyway.
DEFAULT_REORDER_WINDOW = timedelta(hours=24)
MAX_PENDING_ENTRIES = 2000
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

    def terminal_by(self, moment: datetime) -> bool:
        """Whether the attempt had failed or succeeded at or before `moment`."""
        return (self.failed_at is not None and self.failed_at <= moment) or (
            self.succeeded_at is not None and self.succeeded_at <= moment
        )


# (time, file_id, offset, message): the fold order. Within a file it is file order; records of
# different files at the same instant are ordered by file identity, arbitrary but the same every time.
EntryKey = tuple[datetime, str, int, str]


@dataclass(slots=True)
class _Entry:
    """One document reduced to what the fold reads (so the reorder buffer does not hold whole dicts)."""

    key: EntryKey
    at: datetime  # key[0], kept apart because the fold reads it for every entry
    action: str | None
    message: str | None
    host: str | None
    error_code: str | None  # set only when it counts: a failure marker's or an error record's code
    hint: str | None
    identified: bool  # has a file identity, so an equal key means the same record delivered twice

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> _Entry:
        at = parse_timestamp(doc["@timestamp"])
        action = (doc.get("event") or {}).get("action")
        log_fields = doc.get("log") or {}
        file_id = ((doc.get("sms") or {}).get("log") or {}).get("file_id")
        offset = log_fields.get("offset")
        message = doc.get("message")
        error_fields = doc.get("error")
        code = error_fields.get("code") if error_fields else None
        counts = bool(code) and (action == "install.failed" or log_fields.get("level") == "error")
        host_fields = doc.get("host")
        return cls(
            key=(at, file_id or "", -1 if offset is None else offset, message or ""),
            at=at,
            action=action,
            message=None if message is None else message[:LAST_MESSAGE_MAX_CHARS],
            host=(host_fields.get("name") or None) if host_fields else None,
            error_code=code if counts else None,
            hint=((doc.get("sms") or {}).get("error") or {}).get("hint") if counts else None,
            identified=bool(file_id) and offset is not None,
        )


class _Fold:
    """Attempts folded from entries. Exact when entries come in key order; an entry older than what
    is already folded is placed by the out-of-order rules of the module doc (best effort)."""

    def __init__(self, site: str, stall_window: timedelta) -> None:
        self.site = site
        self.stall_window = stall_window
        self.attempts: list[_Attempt] = []
        self.dropped_attempts = 0
        self.unattributed_records = 0

    def copy(self) -> _Fold:
        twin = _Fold(self.site, self.stall_window)
        twin.attempts = [replace(attempt) for attempt in self.attempts]
        twin.dropped_attempts = self.dropped_attempts
        twin.unattributed_records = self.unattributed_records
        return twin

    def observe(self, entry: _Entry) -> None:
        at, action = entry.at, entry.action
        if action == "install.started":
            self._observe_start(entry)
            return
        attempt = self._attempt_at(at)
        if attempt is None:
            if action in ("install.failed", "install.succeeded") and not self.attempts:
                self._absorb(self._open(0, at, implicit=True), entry)
            else:
                self.unattributed_records += 1
            return
        if attempt.succeeded_at is not None and at > attempt.succeeded_at:
            if action == "install.failed" and attempt is self.attempts[-1]:
                self._absorb(self._open(len(self.attempts), at, implicit=True), entry)
            else:
                self.unattributed_records += 1
            return
        self._absorb(attempt, entry)

    def _observe_start(self, entry: _Entry) -> None:
        at = entry.at
        attempt = self._attempt_at(at)
        moving = attempt is not None and at - attempt.last_event_at <= self.stall_window
        if attempt is not None and moving and not attempt.terminal_by(at):
            self._absorb(attempt, entry)
            return
        # A new attempt, unless the next known attempt starts within one stall window after this
        # marker: then the marker arrived late and is that attempt's real start.
        position = 0 if attempt is None else self.attempts.index(attempt) + 1
        following = self.attempts[position] if position < len(self.attempts) else None
        if following is not None and following.started_at - at <= self.stall_window:
            following.started_at = at
            following.implicit_start = False
            self._absorb(following, entry)
            return
        opened = self._open(position, at, implicit=False)
        if attempt is not None:
            _hand_over_later_facts(attempt, opened)
        self._absorb(opened, entry)

    def _open(self, position: int, at: datetime, *, implicit: bool) -> _Attempt:
        attempt = _Attempt(
            attempt_id=_attempt_id(self.site, at), started_at=at, implicit_start=implicit, last_event_at=at
        )
        self.attempts.insert(position, attempt)
        if len(self.attempts) > MAX_ATTEMPTS_KEPT:
            del self.attempts[0]
            self.dropped_attempts += 1
        return attempt

    @staticmethod
    def _absorb(attempt: _Attempt, entry: _Entry) -> None:
        at, action = entry.at, entry.action
        attempt.record_count += 1
        if at >= attempt.last_event_at:
            attempt.last_event_at = at
            if entry.message is not None:
                attempt.last_message = entry.message
        if entry.host:
            attempt.host = entry.host
        if action == "install.failed":
            attempt.failed_at = at if attempt.failed_at is None else min(attempt.failed_at, at)
        elif action == "install.succeeded":
            attempt.succeeded_at = at if attempt.succeeded_at is None else min(attempt.succeeded_at, at)
        elif action == "bootstrap.stopped":
            attempt.stopped_at = at if attempt.stopped_at is None else max(attempt.stopped_at, at)
        if entry.error_code and (attempt.error_at is None or at < attempt.error_at):
            attempt.error_code = entry.error_code
            attempt.error_at = at
            attempt.hint = entry.hint

    def _attempt_at(self, at: datetime) -> _Attempt | None:
        """The latest attempt that started at or before `at`."""
        attempts = self.attempts
        if attempts and attempts[-1].started_at <= at:  # the in-order common case
            return attempts[-1]
        index = bisect.bisect_right([attempt.started_at for attempt in attempts], at)
        return attempts[index - 1] if index else None


def _hand_over_later_facts(earlier: _Attempt, opened: _Attempt) -> None:
    """A start marker folded after later records opened `opened` inside `earlier`: the outcome markers
    after the new start belong to the new attempt. Only the best-effort path gets here (an entry older
    than what is settled, or a rebuilt tracker); the records' count and messages stay where they were."""
    start = opened.started_at
    if earlier.succeeded_at is not None and earlier.succeeded_at > start:
        opened.succeeded_at, earlier.succeeded_at = earlier.succeeded_at, None
    if earlier.stopped_at is not None and earlier.stopped_at > start:
        opened.stopped_at = earlier.stopped_at
        earlier.stopped_at = None
    if earlier.last_event_at > start:
        opened.last_event_at, opened.last_message, opened.host = (
            earlier.last_event_at,
            earlier.last_message,
            earlier.host,
        )
        known = (earlier.started_at, earlier.failed_at, earlier.stopped_at)
        earlier.last_event_at = max(moment for moment in known if moment is not None and moment <= start)


class SiteTracker:
    """Folds one site's classified records and heartbeats into install attempts (see module doc)."""

    def __init__(
        self,
        site: str,
        stall_window: timedelta = DEFAULT_STALL_WINDOW,
        heartbeat_timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
        *,
        reorder_window: timedelta = DEFAULT_REORDER_WINDOW,
        max_pending: int = MAX_PENDING_ENTRIES,
    ) -> None:
        if stall_window <= timedelta(0) or heartbeat_timeout <= timedelta(0):
            raise ValueError("stall_window and heartbeat_timeout must be positive")
        if reorder_window < timedelta(0) or max_pending < 0:
            raise ValueError("reorder_window and max_pending must not be negative")
        self.site = site
        self.stall_window = stall_window
        self.heartbeat_timeout = heartbeat_timeout
        self.reorder_window = reorder_window
        self.max_pending = max_pending
        self.shipper_last_seen: datetime | None = None
        # Records of the site folded (each distinct record once while buffered): the `evidence` of every
        # judgment, so the store can tell a judgment made on more of the site's records from a stale one.
        self.records_seen = 0
        # Entries folded for good, in key order; then the reorder buffer, sorted by key; and the two
        # folded together (None when an entry went into the middle of the buffer: re-derived on demand).
        self._settled = _Fold(site, stall_window)
        self._pending: list[_Entry] = []
        self._newest: datetime | None = None
        self._live: _Fold | None = self._settled.copy()
        # Per attempt id: the bad state it was first judged in and when (survives re-deriving).
        self._detected: dict[str, tuple[AttemptState, datetime]] = {}
        # Ids `judge` handed out (with their start), and those a re-derivation since took back.
        self._handed_out: dict[str, datetime] = {}
        self._superseded: set[str] = set()

    # ------------------------------------------------------------------ input

    def observe(self, doc: Mapping[str, Any]) -> None:
        """Fold one classified `LogDocument`-shaped dict (its `event.action` set by the rules)."""
        entry = _Entry.of(doc)
        pending = self._pending
        if not pending or entry.key > pending[-1].key:  # the usual case: the next step of the fold
            pending.append(entry)
            if self._live is not None:
                self._live.observe(entry)
        else:
            position = bisect.bisect_left(pending, entry.key, key=_entry_key)
            if entry.identified and pending[position].key == entry.key:
                return  # the same record delivered again (a resent batch)
            pending.insert(position, entry)
            self._live = None
        self.records_seen += 1
        if self._newest is None or entry.at > self._newest:
            self._newest = entry.at
        self._settle()

    def observe_heartbeat(self, at: datetime) -> None:
        """A shipper heartbeat for this site arrived at `at` (the collector's receive time)."""
        at = parse_timestamp(at)
        if self.shipper_last_seen is None or at > self.shipper_last_seen:
            self.shipper_last_seen = at

    @property
    def unattributed_records(self) -> int:
        """Records counted to no attempt (before any start marker, or after a success)."""
        return self._folded().unattributed_records

    # ------------------------------------------------------------------ output

    def attempts(self) -> list[SiteAttempt]:
        """Every kept attempt, judged as of the latest record or heartbeat seen."""
        return self.judge(self._data_end()) if self._folded().attempts else []

    def judge(self, as_of: datetime) -> list[SiteAttempt]:
        """Every kept attempt that started by `as_of`, oldest first, judged as of `as_of`.

        Remembers when each attempt was first judged in a bad state (`detected_at`), so calling it on
        a schedule (the sweep) records when bootwatch noticed."""
        as_of = parse_timestamp(as_of)
        fold = self._folded()
        visible = [attempt for attempt in fold.attempts if attempt.started_at <= as_of]
        judged = []
        for index, attempt in enumerate(visible):
            is_latest = index == len(visible) - 1
            horizon = as_of if is_latest else min(as_of, visible[index + 1].started_at)
            judged.append(self._judge_one(fold, attempt, index, horizon, may_be_dark=is_latest))
        self._forget_vanished(fold, judged)
        return judged

    def take_superseded_ids(self) -> list[str]:
        """Attempt ids `judge` returned earlier that the attempts no longer have, because a late record
        re-derived them (a late start marker moved an attempt's start, so its id, or merged two
        attempts); each id is returned once. A caller that stored those attempts deletes them. Attempts
        dropped for being older than the `MAX_ATTEMPTS_KEPT` kept are not superseded and not listed."""
        superseded = sorted(self._superseded)
        self._superseded.clear()
        return superseded

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
        """A tracker that carries on from a stored latest attempt (older attempts are not needed).

        The stored attempt is settled state: records arriving afterwards are folded onto it, and one
        older than its facts is placed by the best-effort out-of-order rules (see the module doc)."""
        tracker = cls(stored.site, stall_window=stall_window, heartbeat_timeout=heartbeat_timeout)
        tracker.shipper_last_seen = stored.shipper_last_seen
        tracker.records_seen = stored.evidence
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
            # a failed attempt's end is the stop after the failure; a succeeded one's is its success
            stopped_at=ended_at
            if stored.state == "failed_unreported" and failed_at and ended_at and ended_at > failed_at
            else None,
            error_code=stored.error_code,
            # The stored code is the first so far; only a record older than the attempt could beat it.
            error_at=stored.started_at if stored.error_code else None,
            hint=stored.hint,
        )
        tracker._settled.attempts.append(attempt)
        tracker._settled.dropped_attempts = stored.attempt_number - 1
        tracker._live = tracker._settled.copy()
        if stored.detected_at:
            tracker._detected[stored.attempt_id] = (stored.state, stored.detected_at)
        return tracker

    def _forget_vanished(self, fold: _Fold, judged: list[SiteAttempt]) -> None:
        """Track the ids handed out; an id the fold no longer has is superseded unless it is older than
        every kept attempt (then it was dropped for age). Keeps both maps as small as the attempts."""
        kept_ids = {attempt.attempt_id for attempt in fold.attempts}
        oldest_kept = fold.attempts[0].started_at if fold.attempts else None
        for attempt_id, started_at in list(self._handed_out.items()):
            if attempt_id in kept_ids:
                continue
            del self._handed_out[attempt_id]
            if oldest_kept is not None and started_at >= oldest_kept:
                self._superseded.add(attempt_id)
        for attempt in judged:
            self._handed_out[attempt.attempt_id] = attempt.started_at
            self._superseded.discard(attempt.attempt_id)  # re-derived back into existence
        for attempt_id in [known for known in self._detected if known not in kept_ids]:
            del self._detected[attempt_id]

    # ------------------------------------------------------------------ reorder buffer

    def _settle(self) -> None:
        """Fold the oldest buffered entries for good once the buffer is over its size or time span.

        Settling takes them in key order, so it changes nothing while no later arrival is older than
        them; the folded view (`_live`) stays valid."""
        pending = self._pending
        newest = self._newest
        while pending and (
            len(pending) > self.max_pending
            or (newest is not None and newest - pending[0].at > self.reorder_window)
        ):
            self._settled.observe(pending.pop(0))

    def _folded(self) -> _Fold:
        """The settled attempts with the buffer folded on in key order (re-derived when stale)."""
        if self._live is None:
            live = self._settled.copy()
            for entry in self._pending:
                live.observe(entry)
            self._live = live
        return self._live

    def _data_end(self) -> datetime:
        latest = max(attempt.last_event_at for attempt in self._folded().attempts)
        return max(latest, self.shipper_last_seen) if self.shipper_last_seen else latest

    # ------------------------------------------------------------------ judging

    def _judge_one(
        self, fold: _Fold, attempt: _Attempt, index: int, at: datetime, *, may_be_dark: bool
    ) -> SiteAttempt:
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
            attempt_number=fold.dropped_attempts + index + 1,
            state=state,
            implicit_start=attempt.implicit_start,
            started_at=attempt.started_at,
            last_event_at=attempt.last_event_at,
            ended_at=ended_at,
            failed_at=failed_at,
            detected_at=self._detected_at(attempt.attempt_id, state, at),
            last_message=attempt.last_message,
            error_code=attempt.error_code,
            hint=attempt.hint,
            shipper_last_seen=self.shipper_last_seen,
            record_count=attempt.record_count,
            judged_as_of=at,
            evidence=self.records_seen,
        )

    def _went_dark(self, attempt: _Attempt, at: datetime) -> bool:
        """Heartbeats were current when the attempt started, stopped before `at`, and no record came
        after they stopped (a record arriving later proves the shipper still delivers)."""
        seen = self.shipper_last_seen
        if seen is None:
            return False
        silent_since = seen + self.heartbeat_timeout
        return attempt.started_at <= silent_since < at and attempt.last_event_at <= silent_since

    def _detected_at(self, attempt_id: str, state: AttemptState, at: datetime) -> datetime | None:
        if state not in _PROBLEM_STATES:
            self._detected.pop(attempt_id, None)
            return None
        detected = self._detected.get(attempt_id)
        if detected is None or detected[0] != state or detected[1] > at:
            detected = self._detected[attempt_id] = (state, at)
        return detected[1]


def _entry_key(entry: _Entry) -> EntryKey:
    return entry.key


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

    def resume(self, stored: SiteAttempt) -> SiteTracker:
        """The site's tracker, rebuilt from its stored latest attempt (`SiteTracker.from_attempt`) when
        this fleet has none yet: what a collector restarted against a durable store does on a site's
        first record, so new attempts continue the stored numbering and a late record finds the
        attempt it belongs to. A site already tracked keeps its tracker."""
        tracker = self.trackers.get(stored.site)
        if tracker is None:
            tracker = SiteTracker.from_attempt(stored, self.stall_window, self.heartbeat_timeout)
            self.trackers[stored.site] = tracker
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
