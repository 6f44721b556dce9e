"""Embedded ``STATMSG:`` lines -> the `sms.status_message` object (LOG_FORMATS.md section 2).

Components log each status message they send as a line such as (constructed)::

    STATMSG: ID=3306 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_HIERARCHY_MANAGER" SYS=SRV01
    SITE=S01 PID=2168 TID=4888 GMTDATE=Wed Dec 21 16:15:08.957 2016 ISTR0="C:\\SMS\\x.SCU"
    ISTR1="" NUMATTRS=0

Space-separated ``KEY=value`` pairs, keys in upper case: a value is either quoted (it may hold
spaces; it ends at the quote that is followed by the next upper-case ``KEY=`` or the end of the
line, so a stray quote or a lower-case ``a=b`` inside does not cut it) or unquoted up to the
next ``KEY=`` (``GMTDATE`` is unquoted and holds spaces).
``GMTDATE`` is UTC in the ctime-like layout. Missing keys stay None, junk values (a non-numeric
``ID``) become None, unknown keys (``LE=``, ``AID0=``) are ignored: a broken line never raises.

This module is not a format family: the line is the message of a record of any family, so
normalization calls `parse_statmsg` on messages that contain ``STATMSG:``. The stream's clock
compares ``GMTDATE`` with the record's local time to check the file's zone
(`zone_offset_from_statmsg`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from parsers.times import format_utc, parse_ctime

MARKER = "STATMSG:"

# Keyword fields are capped like the schema's `Keyword` (1024) so one absurd line stays indexable.
_MAX_KEYWORD = 1024
_MAX_UINT32 = 2**32 - 1
_OFFSET_GRID = timedelta(minutes=15)
_SEVERITIES = frozenset({"I", "W", "E"})
_INSERTION_KEYS = {f"ISTR{index}": index for index in range(10)}
_KEYWORD_FIELDS = {"LEV": "level", "SOURCE": "source", "COMP": "component", "SYS": "system", "SITE": "site"}

# KEY=value; the lookahead `_NEXT` (another KEY= or the end) is what ends a value.
_NEXT = r"(?=\s+[A-Z][A-Z0-9_]*=|\s*$)"
# A key starts a word (never tried inside one: keeps the scan linear on long junk).
_PAIR = re.compile(
    r'(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]*)=(?:"(.*?)"' + _NEXT + r"|(.*?)" + _NEXT + r")", re.DOTALL
)
# Real STATMSG lines are well under 2 KB; a longer tail is another record's text glued on.
_MAX_SCAN = 8192

# The layout every SMS component writes (the example above): all keys once, in this order, single
# spaces, numbers of up to 10 digits (thread ids above 999999999 are common; one beyond 32 bits becomes
# None, as `_uint32` makes it), a known severity, the usual GMTDATE form (seconds below 60), no
# `=`, `"` or blank inside unquoted values and no `"` inside quoted ones. For such a line the pairs
# `_PAIR` would find are exactly these groups (a value holding neither `=` nor a blank followed by
# `KEY=` cannot end early, and none needs stripping but the quoted ones), so one anchored match
# replaces the scan with its per-character lookaheads (several times the cost). Any other line takes
# `_PAIR`.
_BARE = r'([^\s"=]*)'
_NUMBER = r"([0-9]{1,10})"
_STANDARD = re.compile(
    r" ID=" + _NUMBER + r" SEV=([IWE]) LEV=" + _BARE + r' SOURCE="([^"]*)" COMP="([^"]*)"'
    r" SYS=" + _BARE + r" SITE=" + _BARE + r" PID=" + _NUMBER + r" TID=" + _NUMBER
    + r" GMTDATE=[A-Za-z]{3} ([A-Za-z]{3}) ([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-5][0-9]\.[0-9]{3}) ([0-9]{4})"
    r'((?: ISTR[0-9]="[^"]*")*) NUMATTRS=' + _NUMBER + r"\s*\Z"
)
_INSERTION = re.compile(r' ISTR([0-9])="([^"]*)"')
# How the ISTR run of a line writing all ten in order splits at its quotes (keys at even positions).
_ALL_INSERTION_KEYS = [*(f" ISTR{index}=" for index in range(10)), ""]
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
# "MonDDYYYY" -> "YYYY-MM-DD" (None: not a real date); bounded like the formats' minute caches.
_gmt_dates: dict[str, str | None] = {}
_GMT_DATES_LIMIT = 4096


def parse_statmsg(message: str) -> dict[str, Any] | None:
    """The `sms.status_message` dict of a message holding ``STATMSG:``; None if it has no known key.

    Shape (JSON-ready, the `StatusMessage` model): ``id``, ``severity`` (I/W/E), ``level``,
    ``source``, ``component``, ``system``, ``site``, ``pid``, ``tid``, ``gmt_date`` (ISO 8601 UTC
    with milliseconds), ``insertion_strings`` (ISTR0.. in index order, gaps as "", trailing empty
    ones dropped), ``num_attrs``.
    """
    start = message.find(MARKER)
    if start < 0:
        return None
    body = message[start + len(MARKER) : start + len(MARKER) + _MAX_SCAN]
    standard = _STANDARD.match(body)
    if standard is not None:
        return _standard_status(standard.groups())
    values = _scanned_values(body)
    status: dict[str, Any] = {
        "id": _uint32(values.get("ID")),
        "severity": _severity(values.get("SEV")),
        "level": None,
        "source": None,
        "component": None,
        "system": None,
        "site": None,
        "pid": _uint32(values.get("PID")),
        "tid": _uint32(values.get("TID")),
        "gmt_date": None,
        "insertion_strings": _insertion_strings(values),
        "num_attrs": _uint32(values.get("NUMATTRS")),
    }
    for key, field in _KEYWORD_FIELDS.items():
        value = values.get(key)
        if value:
            status[field] = value[:_MAX_KEYWORD]
    gmt = parse_gmtdate(values.get("GMTDATE"))
    if gmt is not None:
        status["gmt_date"] = format_utc(gmt)
    if all(value is None or value == [] for value in status.values()):
        return None
    return status


def _scanned_values(body: str) -> dict[str, str]:
    """Every ``KEY=value`` pair of the text after ``STATMSG:``, the first of a repeated key winning."""
    values: dict[str, str] = {}
    for match in _PAIR.finditer(body):
        key = match.group(1)
        quoted, bare = match.group(2, 3)
        values.setdefault(key, (quoted if quoted is not None else bare).strip())
    return values


def _standard_status(groups: tuple[str, ...]) -> dict[str, Any]:
    """`parse_statmsg`'s result for a `_STANDARD` line, built straight from the match groups."""
    (message_id, severity, level, source, component, system, site, pid, tid, month_name, day, hour, minute,
     seconds, year, insertions, num_attrs) = groups
    source, component = source.strip(), component.strip()
    return {
        "id": _uint32_digits(message_id),
        "severity": severity,
        "level": level[:_MAX_KEYWORD] or None,
        "source": source[:_MAX_KEYWORD] or None,
        "component": component[:_MAX_KEYWORD] or None,
        "system": system[:_MAX_KEYWORD] or None,
        "site": site[:_MAX_KEYWORD] or None,
        "pid": _uint32_digits(pid),
        "tid": _uint32_digits(tid),
        "gmt_date": _gmt_text(month_name, day, hour, minute, seconds, year),
        "insertion_strings": list(_standard_insertions(insertions)),
        "num_attrs": _uint32_digits(num_attrs),
    }


# A component repeats the same few insertion runs (site codes, file names) line after line.
@lru_cache(maxsize=4096)
def _standard_insertions(text: str) -> tuple[str, ...]:
    """`_insertion_strings` of the ` ISTRn="..."` run of a `_STANDARD` match (a tuple: it is shared)."""
    parts = text.split('"')
    if parts[0::2] == _ALL_INSERTION_KEYS:
        strings = [value.strip() for value in parts[1::2]]
    else:
        values: dict[str, str] = {}
        for index, value in _INSERTION.findall(text):
            values.setdefault("ISTR" + index, value.strip())
        strings = _insertion_strings(values)
    while strings and not strings[-1]:
        strings.pop()
    return tuple(strings)


def _gmt_text(month_name: str, day: str, hour: str, minute: str, seconds: str, year: str) -> str | None:
    """`format_utc(parse_gmtdate(...))` of a GMTDATE in the `_STANDARD` form, without a datetime."""
    key = month_name + day + year
    date_text = _gmt_dates.get(key, False)
    if date_text is False:
        if len(_gmt_dates) >= _GMT_DATES_LIMIT:
            _gmt_dates.clear()
        date_text = _gmt_dates[key] = _gmt_date_text(month_name, day, year)
    if date_text is None or hour > "23" or minute > "59":
        return None
    return f"{date_text}T{hour}:{minute}:{seconds}Z"


def _gmt_date_text(month_name: str, day: str, year: str) -> str | None:
    """"YYYY-MM-DD" of a GMTDATE's date when it is a real date, else None."""
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    try:
        return date(int(year), month, int(day)).isoformat()
    except ValueError:
        return None


def parse_gmtdate(text: str | None) -> datetime | None:
    """``Www Mmm DD HH:MM:SS.mmm YYYY`` (UTC) -> aware UTC datetime, else None."""
    if not text:
        return None
    stamp = parse_ctime(text)
    if stamp is None or stamp.zone_name is not None:
        return None
    return stamp.local.replace(tzinfo=UTC)


def zone_offset_from_statmsg(local: datetime, gmt: datetime) -> timedelta:
    """The writer's UTC offset (east positive) shown by a local time and the GMTDATE of the same line.

    `local` is the record's naive local time, `gmt` the GMTDATE (naive = UTC, or aware). The two
    are written a few milliseconds apart, and every zone offset in use is a multiple of 15
    minutes, so the difference is rounded to the nearest 15 minutes (an exact half rounds to the
    even multiple). Whether the result is plausible (within UTC-12..UTC+14) is the caller's call.
    """
    gmt_naive = gmt.astimezone(UTC).replace(tzinfo=None) if gmt.tzinfo is not None else gmt
    steps = round((local - gmt_naive) / _OFFSET_GRID)
    return steps * _OFFSET_GRID


def _uint32_digits(digits: str) -> int | None:
    """`_uint32` of a text already known to be 1 to 10 ASCII digits."""
    number = int(digits)
    return number if number <= _MAX_UINT32 else None


def _uint32(text: str | None) -> int | None:
    if not text or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if number <= _MAX_UINT32 else None


def _severity(text: str | None) -> str | None:
    if not text:
        return None
    severity = text[:1].upper()
    return severity if severity in _SEVERITIES and len(text) == 1 else None


def _insertion_strings(values: dict[str, str]) -> list[str]:
    strings = [""] * 10
    for key, index in _INSERTION_KEYS.items():
        strings[index] = values.get(key, "")
    while strings and not strings[-1]:
        strings.pop()
    return strings
