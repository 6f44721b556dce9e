"""One file's clock: local record times -> UTC `@timestamp`, with the zone its STATMSG lines justify.

Which zone a record's local time is read in (LOG_FORMATS.md sections 1-3):
- a bias written in the record (legacy layout C, CMTrace): UTC = local + bias;
- else a zone display name written in the record (legacy layout B);
- else the host zone the caller gave (`--timezone`, the shipper's report; UTC when none).

`STATMSG:` lines carry `GMTDATE`, the status message's UTC time, beside the local trailer time of
the same line: their difference is the writer's true UTC offset at that moment (rounded to 15
minutes by `parsers.formats.statmsg`). `observe_status_message` compares it with the offset the
zone in use claims at that same instant; when they disagree, later conversions of records read in
that zone add the difference, and `event.timezone` then names the fixed offset actually used
(e.g. "-07:00") instead of the zone. A zone that agrees is confirmed and keeps its name. Records
that state a bias are checked only against a STATMSG line that itself states a bias: an observed
offset equal to the bias read with the opposite sign means the writer used east-positive offsets,
and the sign is flipped for the file.

Conversions are cached per (zone, local minute): the hot path formats only the seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from parsers.formats.record import LocalMinute, ParsedRecord
from parsers.formats.statmsg import zone_offset_from_statmsg
from parsers.times import ZoneSpec, bias_label, fixed_offset_zone, local_to_utc, resolve_zone

# A STATMSG offset beyond the widest offsets in use (UTC-12 .. UTC+14) is ignored: its GMTDATE is
# then not comparable with the local time (a garbled line, a message logged long after it was made).
_MAX_OFFSET_MIN = 14 * 60
_CACHE_LIMIT = 8192

# A zone token: None = the host zone, str = a zone name written in the record, int = a bias.
ZoneToken = None | str | int
# Cached conversion of one local minute: (UTC "YYYY-MM-DDTHH:MM:" prefix, or None when the offset
# has seconds and the minute start itself must be kept; the UTC minute start; the zone label).
_Converted = tuple[str | None, datetime, str]


class FileClock:
    """Converts one file's records to UTC; holds what its STATMSG lines said about its zone."""

    def __init__(self, host: ZoneSpec) -> None:
        self._host = host
        self._cache: dict[tuple[ZoneToken, LocalMinute], _Converted | None] = {}
        self._observed_offset: int | None = None  # east-positive minutes, from the latest STATMSG
        self._observed_at: datetime | None = None  # that STATMSG's GMTDATE (aware UTC)
        self._zone_deltas: dict[str, int] = {}  # zone label -> minutes added to its offset
        self._bias_flip = False
        self._bias_delta = 0

    @property
    def host_label(self) -> str:
        return self._host.label

    def timestamp(self, record: ParsedRecord) -> tuple[str, str] | None:
        """(`@timestamp`, `event.timezone`) of a record with a local time; None if out of range."""
        minute = record.minute
        if minute is None:
            return None
        token: ZoneToken = record.bias if record.bias is not None else record.zone_name
        key = (token, minute)
        if key in self._cache:
            converted = self._cache[key]
        else:
            converted = self._remember(key, self._convert(token, minute))
        if converted is None:
            return None
        prefix, minute_start, label = converted
        if prefix is not None:
            return f"{prefix}{record.second:02d}.{record.millis:03d}Z", label
        moment = minute_start + timedelta(seconds=record.second, milliseconds=record.millis)
        return _format(moment), label

    def observe_status_message(self, record: ParsedRecord, gmt: datetime) -> None:
        """Compare a STATMSG line's local trailer time with its GMTDATE; correct the zones if needed."""
        if record.minute is None:
            return
        local = datetime(*record.minute, record.second, record.millis * 1000)
        observed = round(zone_offset_from_statmsg(local, gmt).total_seconds() / 60)
        if abs(observed) > _MAX_OFFSET_MIN:
            return
        observed_at = gmt.astimezone(UTC) if gmt.tzinfo is not None else gmt.replace(tzinfo=UTC)
        bias_flip, bias_delta = self._bias_flip, self._bias_delta
        if record.bias is not None:
            claimed = -record.bias
            bias_flip = observed != claimed and observed == -claimed
            bias_delta = 0 if observed == claimed or bias_flip else observed - claimed
        zone_deltas: dict[str, int] = {}
        own_zone = self._zone_of(record.zone_name) if record.bias is None else None
        for zone in {zone.label: zone for zone in (own_zone, self._host) if zone is not None}.values():
            zone_deltas[zone.label] = self._delta(zone, observed, observed_at)
        for label in self._zone_deltas:
            zone = self._zone_of(label)
            if zone is not None and label not in zone_deltas:
                zone_deltas[label] = self._delta(zone, observed, observed_at)
        changed = (zone_deltas != self._zone_deltas or bias_flip != self._bias_flip
                   or bias_delta != self._bias_delta)
        self._observed_offset, self._observed_at = observed, observed_at
        if changed:
            self._zone_deltas, self._bias_flip, self._bias_delta = zone_deltas, bias_flip, bias_delta
            self._cache.clear()

    # ------------------------------------------------------------------ conversion

    def _remember(self, key: tuple[ZoneToken, LocalMinute], value: _Converted | None) -> _Converted | None:
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = value
        return value

    def _convert(self, token: ZoneToken, minute: LocalMinute) -> _Converted | None:
        local = datetime(*minute)
        try:
            if isinstance(token, int):
                return self._convert_bias(local, token)
            zone = self._zone_of(token) or self._host
            utc = local_to_utc(local, zone)
            delta = self._zone_delta(zone)
            if delta:
                offset = round((local - utc.replace(tzinfo=None)).total_seconds() / 60) + delta
                return _converted(utc - timedelta(minutes=delta), fixed_offset_zone(offset).label)
            return _converted(utc, zone.label)
        except (OverflowError, ValueError):
            # A year-1 or year-9999 local time shifted out of datetime's range: no usable time.
            return None

    def _convert_bias(self, local: datetime, bias: int) -> _Converted:
        if not self._bias_flip and not self._bias_delta:
            return _converted((local + timedelta(minutes=bias)).replace(tzinfo=UTC), bias_label(bias))
        offset = (bias if self._bias_flip else -bias) + self._bias_delta
        utc = (local - timedelta(minutes=offset)).replace(tzinfo=UTC)
        return _converted(utc, fixed_offset_zone(offset).label)

    def _zone_of(self, name: str | None) -> ZoneSpec | None:
        return resolve_zone(name) if name else None

    def _zone_delta(self, zone: ZoneSpec) -> int:
        if self._observed_offset is None or self._observed_at is None:
            return 0
        delta = self._zone_deltas.get(zone.label)
        if delta is None:
            # A zone first met after the STATMSG: judge it against the same observation.
            delta = self._delta(zone, self._observed_offset, self._observed_at)
            self._zone_deltas[zone.label] = delta
        return delta

    @staticmethod
    def _delta(zone: ZoneSpec, observed: int, observed_at: datetime) -> int:
        claimed = observed_at.astimezone(zone.tz).utcoffset()
        if claimed is None:
            return 0
        return observed - round(claimed.total_seconds() / 60)


def _converted(utc: datetime, label: str) -> _Converted:
    if utc.second or utc.microsecond:
        return None, utc, label
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:", utc, label


def _format(moment: datetime) -> str:
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")
