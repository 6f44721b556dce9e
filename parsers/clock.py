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

Conversions are cached per (zone, local hour), per file and for all files at once (uncorrected
zones convert alike everywhere): the hot path appends minute and seconds to a cached UTC date-hour.
A file uses the shared cache until one of its STATMSG lines actually corrects something: most only
confirm the zone, and a file that went private after every STATMSG would convert each hour again.
An hour holding a DST transition is converted minute by minute. Offsets are whole minutes (a
zone's pre-1900 local mean time, with seconds, is rounded to the minute).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from parsers.formats.record import LocalMinute, ParsedRecord
from parsers.formats.statmsg import zone_offset_from_statmsg
from parsers.times import ZoneSpec, bias_label, fixed_offset_zone, local_offset, resolve_zone

# A STATMSG offset beyond the widest offsets in use (UTC-12 .. UTC+14) is ignored: its GMTDATE is
# then not comparable with the local time (a garbled line, a message logged long after it was made).
_MAX_OFFSET_MIN = 14 * 60
_CACHE_LIMIT = 8192

# A zone token: None = the host zone, str = a zone name written in the record, int = a bias.
ZoneToken = None | str | int
# Conversion of one local minute: (UTC "YYYY-MM-DDTHH:MM:" prefix, zone label).
_Converted = tuple[str, str]
# Cached per (zone token, local hour): (UTC "YYYY-MM-DDTHH:" prefix when the offset is whole hours,
# else None; offset in minutes east; zone label).
_HourEntry = tuple[str | None, int, str]
_MINUTES_PER_DAY = 1440
_MINUTE_TEXT = tuple(f"{minute:02d}:" for minute in range(60))
# Two-digit fields of a timestamp, looked up rather than formatted (a format spec per field costs
# more than the rest of a conversion).
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))


class FileClock:
    """Converts one file's records to UTC; holds what its STATMSG lines said about its zone."""

    def __init__(self, host: ZoneSpec) -> None:
        self._host = host
        # While no STATMSG has corrected anything, conversions depend only on the host zone: the hour
        # cache is shared by every clock with that host zone (short files would otherwise start cold).
        self._hours = _uncorrected_hours(host)
        self._hours_shared = True
        # Set once a STATMSG was observed while the cache is still shared: a zone name met from then
        # on must be judged against that observation before a shared (uncorrected) entry may serve it.
        self._judge_zone_names = False
        self._observed_offset: int | None = None  # east-positive minutes, from the latest STATMSG
        self._observed_at: datetime | None = None  # that STATMSG's GMTDATE (aware UTC)
        self._zone_deltas: dict[str, int] = {}  # zone label -> minutes added to its offset
        self._bias_flip = False
        self._bias_delta = 0
        self._last_minute: LocalMinute | None = None
        self._last_token: ZoneToken = None
        self._last_converted: _Converted | None = None

    @property
    def host_label(self) -> str:
        return self._host.label

    def timestamp(self, record: ParsedRecord) -> tuple[str, str] | None:
        """(`@timestamp`, `event.timezone`) of a record with a local time; None if out of range."""
        minute = record.minute
        if minute is None:
            return None
        token: ZoneToken = record.bias if record.bias is not None else record.zone_name
        # Consecutive records often share zone and minute (the minute tuples are shared objects
        # from the formats' caches): an identity check skips even the hour lookup.
        if minute is self._last_minute and token == self._last_token:
            converted = self._last_converted
        else:
            if self._judge_zone_names and token.__class__ is str:
                self._judge_zone_name(token)  # type: ignore[arg-type]
            hour = self._hours.get((token, minute[:4]))
            if hour is not None and hour[0] is not None:
                # The usual case, `_convert`'s cache hit on a whole-hour offset, without the call.
                converted = hour[0] + _MINUTE_TEXT[minute[4]], hour[2]
            else:
                converted = self._convert(token, minute)
            self._last_minute, self._last_token, self._last_converted = minute, token, converted
        if converted is None:
            return None
        return converted[0] + record.seconds + "Z", converted[1]

    def observe_status_message(self, record: ParsedRecord, gmt: datetime) -> None:
        """Compare a STATMSG line's local trailer time with its GMTDATE; correct the zones if needed."""
        if record.minute is None:
            return
        local = datetime(*record.minute) + timedelta(seconds=float(record.seconds))
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
            if not self._hours_shared:
                self._hours.clear()
            elif bias_flip or bias_delta or any(zone_deltas.values()):
                self._own_hours()
            self._last_minute = None
        if self._hours_shared:
            # The conversion remembered for the last record may be of a zone name not judged yet.
            self._judge_zone_names, self._last_minute = True, None

    def _judge_zone_name(self, name: str) -> None:
        """Judge a zone name against the latest STATMSG; a zone it corrects makes the cache private."""
        zone = self._zone_of(name)
        if zone is not None and self._zone_delta(zone):
            self._own_hours()

    def _own_hours(self) -> None:
        """From now on this clock's conversions are corrected: they get a cache of their own."""
        self._hours, self._hours_shared, self._judge_zone_names = {}, False, False
        self._last_minute = None

    # ------------------------------------------------------------------ conversion

    def _convert(self, token: ZoneToken, minute: LocalMinute) -> _Converted | None:
        key = (token, minute[:4])
        hour = self._hours.get(key)
        if hour is None:
            try:
                entry = self._hour_entry(token, minute)
            except (OverflowError, ValueError):
                # A year-1 or year-9999 local time shifted out of datetime's range: no usable time.
                return None
            if entry is None:
                return self._convert_minute(token, minute)
            if len(self._hours) >= _CACHE_LIMIT:
                self._hours.clear()
            hour = self._hours[key] = entry
        hour_prefix, offset, label = hour
        if hour_prefix is not None:
            return hour_prefix + _MINUTE_TEXT[minute[4]], label
        try:
            return _utc_prefix(minute, offset), label
        except (OverflowError, ValueError):
            return None

    def _hour_entry(self, token: ZoneToken, minute: LocalMinute) -> _HourEntry | None:
        """How a whole local hour converts; None when the zone's offset changes inside it."""
        hour = minute[:4]
        if isinstance(token, int):
            if not self._bias_flip and not self._bias_delta:
                return _bias_hour_entry(token, hour)
            return _offset_hour_entry(hour, (token if self._bias_flip else -token) + self._bias_delta)
        zone = self._zone_of(token) or self._host
        delta = self._zone_delta(zone)
        if not delta:
            return _zone_hour_entry(zone, hour)
        zone_offset = _hour_offset(zone, hour)
        if zone_offset is None:
            return None
        return _offset_hour_entry(hour, zone_offset + delta)

    def _convert_minute(self, token: ZoneToken, minute: LocalMinute) -> _Converted | None:
        """A minute in an hour where the zone's offset changes (a DST transition): not cached."""
        zone = self._zone_of(token) or self._host  # only zone tokens reach here: a bias is fixed
        try:
            offset = _offset_at(zone, datetime(*minute))
            delta = self._zone_delta(zone)
            label = fixed_offset_zone(offset + delta).label if delta else zone.label
            return _utc_prefix(minute, offset + delta), label
        except (OverflowError, ValueError):
            return None

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


@lru_cache(maxsize=256)
def _uncorrected_hours(host: ZoneSpec) -> dict[tuple[ZoneToken, tuple[int, ...]], _HourEntry]:
    """The hour cache of every clock with this host zone that has seen no STATMSG yet."""
    return {}


def _utc_prefix(minute: tuple[int, ...], offset: int) -> str:
    """"YYYY-MM-DDTHH:MM:" of a local minute at `offset` minutes east of UTC (UTC = local - offset)."""
    year, month, day, hour, minute_of_hour = minute
    in_day = hour * 60 + minute_of_hour - offset
    if not 0 <= in_day < _MINUTES_PER_DAY:
        shifted = date(year, month, day) + timedelta(days=in_day // _MINUTES_PER_DAY)
        year, month, day = shifted.year, shifted.month, shifted.day
        in_day %= _MINUTES_PER_DAY
    year_text = str(year) if year >= 1000 else f"{year:04d}"
    utc_hour, utc_minute = divmod(in_day, 60)
    two = _TWO_DIGITS
    return f"{year_text}-{two[month]}-{two[day]}T{two[utc_hour]}:{two[utc_minute]}:"


def _hour_entry(hour: tuple[int, ...], offset: int, label: str) -> _HourEntry:
    if offset % 60:
        return None, offset, label
    return _utc_prefix((*hour, 0), offset)[:-3], offset, label


# Conversions are the same for every stream with the same zone and correction: cached once for all.
@lru_cache(maxsize=16384)
def _bias_hour_entry(bias: int, hour: tuple[int, ...]) -> _HourEntry:
    return _hour_entry(hour, -bias, bias_label(bias))


@lru_cache(maxsize=16384)
def _offset_hour_entry(hour: tuple[int, ...], offset: int) -> _HourEntry:
    """A corrected conversion: a fixed offset, labelled as one."""
    return _hour_entry(hour, offset, fixed_offset_zone(offset).label)


@lru_cache(maxsize=16384)
def _zone_hour_entry(zone: ZoneSpec, hour: tuple[int, ...]) -> _HourEntry | None:
    offset = _hour_offset(zone, hour)
    return None if offset is None else _hour_entry(hour, offset, zone.label)


@lru_cache(maxsize=16384)
def _hour_offset(zone: ZoneSpec, hour: tuple[int, ...]) -> int | None:
    """The zone's offset through a whole local hour, or None when it changes inside that hour."""
    start = datetime(*hour)
    offset = _offset_at(zone, start)
    return offset if _offset_at(zone, start.replace(minute=59)) == offset else None


def _offset_at(zone: ZoneSpec, local: datetime) -> int:
    return round(local_offset(local, zone).total_seconds() / 60)
