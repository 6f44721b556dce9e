"""Times: Windows zone names, bias numbers and the SMS timestamp layouts, turned into UTC.

SMS and ConfigMgr logs write local wall-clock time in four layouts (LOG_FORMATS.md sections 1-5):

- ctime-like, optionally followed by a Windows zone *display name*:
  ``Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time`` / ``Wed May 21 17:09:27 1997~``
  (`parse_ctime`; the STATMSG ``GMTDATE`` uses the same layout, in UTC);
- ``MM-DD-YYYY HH:MM:SS[.fff]`` with an optional bias, ``07-26-2002 09:05:01.234+420``
  (`parse_mdy`: legacy layout C and the setup style);
- CMTrace ``time="9:05:01.2345678+420" date="7-26-2002"`` (`parse_cmtrace`);
- provider style ``Fri 07/26/2002 10:12:01`` (`parse_provider`).

Every parser takes only the timestamp text, returns a `LocalStamp` (naive local time plus the
bias or zone name written beside it) or None when the text is not that layout: they never raise.
They use one compiled regex (ASCII digits only) and `datetime(...)`, never `strptime` (several times
slower).

Turning a stamp into UTC:

- bias (`bias_to_utc`): **UTC = local + bias minutes**, the Windows `TIME_ZONE_INFORMATION.Bias`
  rule; ``+420`` is US Pacific summer time (UTC-7);
- zone display name or host zone (`resolve_zone` + `local_to_utc`): IANA rules from the table in
  ``data/windows_zones.tsv``; a *daylight* display name settles the repeated hour at fall-back;
- no zone in the record: `host_zone(name)`, the caller's zone or UTC.

The label that goes into ``event.timezone`` is `ZoneSpec.label` (an IANA name) or `bias_label`
(a fixed offset such as ``-07:00``). Which one applies to a record, and the correction from
STATMSG ``GMTDATE``, is the stream's clock (`parsers/clock.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOWS_ZONES_PATH = Path(__file__).parent / "data" / "windows_zones.tsv"


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A resolved zone: the rules, the name to report, and what the written name said about DST."""

    tz: tzinfo
    label: str
    daylight: bool | None = None


@dataclass(frozen=True, slots=True)
class WindowsZone:
    """One row of the Windows zone table."""

    zone_id: str | None
    standard_name: str
    daylight_name: str
    iana: str
    retired: bool


class LocalStamp(NamedTuple):
    """A parsed timestamp: naive local wall-clock time and the zone information written beside it."""

    local: datetime
    bias: int | None = None
    zone_name: str | None = None


UTC_ZONE = ZoneSpec(tz=ZoneInfo("UTC"), label="UTC")


# --------------------------------------------------------------------------- zone table


def load_windows_zones(path: Path = WINDOWS_ZONES_PATH) -> tuple[WindowsZone, ...]:
    """Read the Windows zone table (tab separated; `#` comments; rows after `# retired` are old)."""
    zones: list[WindowsZone] = []
    retired = False
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            retired = retired or line.strip() == "# retired"
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise ValueError(f"{path}:{line_number}: expected 4 tab-separated fields, got {len(fields)}")
        zone_id, standard_name, daylight_name, iana = (field.strip() for field in fields)
        zones.append(
            WindowsZone(None if zone_id == "-" else zone_id, standard_name, daylight_name, iana, retired)
        )
    return tuple(zones)


def _name_key(name: str) -> str:
    # Logs and registries disagree on case ("Turks And Caicos" / "Turks and Caicos") and spacing.
    return " ".join(name.split()).casefold()


@lru_cache(maxsize=1)
def _windows_name_index() -> dict[str, tuple[str, bool | None]]:
    """Display name or zone ID (normalised) -> (IANA name, daylight flag of that name).

    Display names are indexed before zone IDs, and current zones before retired ones, so a name
    keeps its current meaning. A zone whose standard and daylight names are the same ("UTC-11",
    "Coordinated Universal Time") says nothing about DST. A zone ID containing "Standard Time"
    counts as a standard name, and its "Daylight Time" wording as a daylight name: that is what
    older Windows versions wrote ("Israel Standard Time", "Russian Daylight Time") before the
    display names were changed.
    """
    index: dict[str, tuple[str, bool | None]] = {}
    zones = load_windows_zones()
    for zone in zones:
        same = _name_key(zone.standard_name) == _name_key(zone.daylight_name)
        index.setdefault(_name_key(zone.standard_name), (zone.iana, None if same else False))
        index.setdefault(_name_key(zone.daylight_name), (zone.iana, None if same else True))
    for zone in zones:
        if zone.zone_id is None:
            continue
        if "Standard Time" in zone.zone_id:
            index.setdefault(_name_key(zone.zone_id), (zone.iana, False))
            daylight_wording = zone.zone_id.replace("Standard Time", "Daylight Time")
            index.setdefault(_name_key(daylight_wording), (zone.iana, True))
        else:
            index.setdefault(_name_key(zone.zone_id), (zone.iana, None))
    return index


@lru_cache(maxsize=256)
def _zoneinfo(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a valid key ("../x", absolute paths); OSError: a directory such as "America".
        return None


@lru_cache(maxsize=1024)
def resolve_zone(name: str | None) -> ZoneSpec | None:
    """IANA name, Windows zone ID or Windows standard/daylight display name -> `ZoneSpec`; else None.

    `.daylight` is True for a daylight display name, False for a standard one (zone IDs ending in
    "Standard Time" included), None for IANA names and names that say nothing about DST. IANA
    names are tried first for names without spaces, so "UTC" is the IANA zone; every Windows name
    with a space goes to the table.
    """
    if not name:
        return None
    text = name.strip().strip("~").strip()
    if not text:
        return None
    if " " not in text:
        tz = _zoneinfo(text)
        if tz is not None:
            return ZoneSpec(tz=tz, label=text)
    found = _windows_name_index().get(_name_key(text))
    if found is None:
        return None
    iana, daylight = found
    tz = _zoneinfo(iana)
    if tz is None:
        return None
    return ZoneSpec(tz=tz, label=iana, daylight=daylight)


def host_zone(name: str | None) -> ZoneSpec:
    """The zone for records that carry none: the caller's zone (IANA or Windows name), else UTC.

    The DST hint of a display name is dropped: a host zone says where the machine is, not
    whether a given record was written in daylight time.
    """
    zone = resolve_zone(name)
    if zone is None:
        return UTC_ZONE
    return ZoneSpec(tz=zone.tz, label=zone.label) if zone.daylight is not None else zone


@lru_cache(maxsize=256)
def fixed_offset_zone(offset_minutes_east: int) -> ZoneSpec:
    """A fixed UTC offset as a zone (east positive), labelled like "+02:00" in `event.timezone`."""
    offset = timedelta(minutes=offset_minutes_east)
    return ZoneSpec(tz=timezone(offset), label=_offset_label(offset_minutes_east))


# --------------------------------------------------------------------------- conversions


def local_to_utc(naive: datetime, zone: ZoneSpec) -> datetime:
    """Local wall-clock time in `zone` -> aware UTC datetime.

    Repeated hour at fall-back (two instants share the wall time): a daylight display name picks
    the first (daylight) instant, a standard display name the second; no hint picks the first.
    Skipped hour at spring-forward (the wall time never existed): with a daylight name the time is
    read with the daylight offset (the writer had already switched), otherwise with the offset in
    force before the jump (the writer's clock had not moved yet). Raises OverflowError only when
    the result falls outside datetime's range (local times in year 1 or 9999).
    """
    return (naive - local_offset(naive, zone)).replace(tzinfo=UTC)


def local_offset(naive: datetime, zone: ZoneSpec) -> timedelta:
    """The UTC offset (east positive) of local wall-clock time `naive` in `zone`, the repeated and
    skipped hours settled as `local_to_utc` describes."""
    tz = zone.tz
    # The zone's rules read a naive time as local wall time, with its `fold` picking the
    # occurrence: asked directly, not through an aware copy (each copy costs far more than a rule
    # look-up, and the clock asks this for every new local hour).
    first = tz.utcoffset(naive.replace(fold=0) if naive.fold else naive)
    second = tz.utcoffset(naive.replace(fold=1))
    if first is None or second is None:
        raise ValueError(f"zone {zone.label} gives no UTC offset for {naive.isoformat()}")
    if first != second:
        if first > second:
            # Fall-back: `first` is the earlier, daylight occurrence.
            return second if zone.daylight is False else first
        if zone.daylight is True:
            # Spring-forward gap: `second` is the offset after the jump.
            return second
    return first


@lru_cache(maxsize=256)
def _bias_delta(bias_minutes: int) -> timedelta:
    return timedelta(minutes=bias_minutes)


def bias_to_utc(naive: datetime, bias_minutes: int) -> datetime:
    """UTC = local + bias minutes (Windows bias: ``+420`` is UTC-7, ``-60`` is UTC+1).

    Raises OverflowError when the result falls outside datetime's range.
    """
    return (naive + _bias_delta(bias_minutes)).replace(tzinfo=UTC)


def _offset_label(offset_minutes_east: int) -> str:
    sign = "+" if offset_minutes_east >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes_east), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


@lru_cache(maxsize=256)
def bias_label(bias_minutes: int) -> str:
    """The fixed offset a bias stands for, as written in `event.timezone`: ``+420`` -> ``"-07:00"``."""
    return _offset_label(-bias_minutes)


def format_utc_millis(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`: the one timestamp form every index stores."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``, the one stored form (same result as `format_utc_millis`)."""
    if moment.tzinfo is not UTC:
        return format_utc_millis(moment)
    # Already UTC (what every converter here returns): %-formatting costs a third of strftime.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


# --------------------------------------------------------------------------- timestamp layouts

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}


def _microseconds(fraction: str | None) -> int:
    # 1..7 digits; beyond microseconds (CMTrace writes 100 ns ticks) the digits are dropped, not
    # rounded, so 23:59:59.9999999 stays in its second.
    if not fraction:
        return 0
    return int((fraction + "00000")[:6])


def _build(
    year: str, month: int, day: str, hour: str, minute: str, second: str, fraction: str | None
) -> datetime | None:
    # A leap second (60) is held at :59 so the record stays in its minute, as the format modules do.
    whole_second = 59 if second == "60" else int(second)
    try:
        microsecond = _microseconds(fraction)
        return datetime(int(year), month, int(day), int(hour), int(minute), whole_second, microsecond)
    except ValueError:
        return None


def _bias(text: str | None) -> int | None:
    return int(text) if text else None


# Layout A/B and GMTDATE: "Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time", "Wed May 21 17:09:27 1997~"
_CTIME = re.compile(
    r"\s*[A-Za-z]{3},?\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?\s+(\d{4})"
    r"(?:\s+([^~]*?))?[\s~]*",
    re.ASCII,
)


def parse_ctime(text: str) -> LocalStamp | None:
    """``Www Mmm D H:MM:SS[.fff] YYYY[ zone name]`` (tilde or spaces may follow) -> stamp, else None."""
    match = _CTIME.fullmatch(text)
    if match is None:
        return None
    month_name, day, hour, minute, second, fraction, year, zone_name = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    local = _build(year, month, day, hour, minute, second, fraction)
    if local is None:
        return None
    return LocalStamp(local, None, zone_name or None)


# Layout C and setup style: "07-26-2002 09:05:01.234+420", "06-21-1999 15:45:51"
_MDY = re.compile(
    r"\s*(\d{1,2})-(\d{1,2})-(\d{4})\s+(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?\s*([+-]\d{1,4})?\s*",
    re.ASCII,
)


def parse_mdy(text: str) -> LocalStamp | None:
    """``MM-DD-YYYY HH:MM:SS[.fff...][+-bias]`` -> stamp (bias as written, if any), else None."""
    match = _MDY.fullmatch(text)
    if match is None:
        return None
    month, day, year, hour, minute, second, fraction, bias = match.groups()
    local = _build(year, int(month), day, hour, minute, second, fraction)
    if local is None:
        return None
    return LocalStamp(local, _bias(bias))


# CMTrace: time="10:12:01.234+420" (3..7 fraction digits, bias optional), date="7-26-2002"
_CMTRACE_TIME = re.compile(r"\s*(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?([+-]\d{1,4})?\s*", re.ASCII)
_CMTRACE_DATE = re.compile(r"\s*(\d{1,2})-(\d{1,2})-(\d{4})\s*", re.ASCII)


def parse_cmtrace(time_text: str, date_text: str) -> LocalStamp | None:
    """CMTrace ``time`` and ``date`` attribute values -> stamp (bias as written, if any), else None."""
    time_match = _CMTRACE_TIME.fullmatch(time_text)
    if time_match is None:
        return None
    date_match = _CMTRACE_DATE.fullmatch(date_text)
    if date_match is None:
        return None
    hour, minute, second, fraction, bias = time_match.groups()
    month, day, year = date_match.groups()
    local = _build(year, int(month), day, hour, minute, second, fraction)
    if local is None:
        return None
    return LocalStamp(local, _bias(bias))


# Provider style: "Fri 07/26/2002 10:12:01"
_PROVIDER = re.compile(
    r"\s*(?:[A-Za-z]{3}\s+)?(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?\s*",
    re.ASCII,
)


def parse_provider(text: str) -> LocalStamp | None:
    """``Ddd MM/DD/YYYY HH:MM:SS`` -> stamp (local time, no zone), else None."""
    match = _PROVIDER.fullmatch(text)
    if match is None:
        return None
    month, day, year, hour, minute, second, fraction = match.groups()
    local = _build(year, int(month), day, hour, minute, second, fraction)
    if local is None:
        return None
    return LocalStamp(local)
