"""Legacy SMS family: `MESSAGE  $$<COMPONENT><TIMESTAMP><thread=TID (0xHEX)>`.

All three timestamp layouts are accepted in every version (LOG_FORMATS.md section 1):
A (SMS 1.x ctime, no zone, no milliseconds), B (SMS 2.0/2003 ctime with milliseconds and a Windows
zone display name or no zone), C (ConfigMgr `MM-DD-YYYY HH:MM:SS.mmm+bias`). `~` in the message
stands for a line break.
"""

from __future__ import annotations

import re

from parsers.formats.record import (
    FormatContext,
    MinuteCache,
    ParsedRecord,
    fraction_to_millis,
    month_number,
    valid_minute,
    valid_second,
)
from parsers.formats.severity import infer_level

NAME = "sms_legacy"

_TRAILER_MARK = "$$<"

# Processing file D:\SMS\inboxes\hman.box\S02.SCU  $$<SMS_HIERARCHY_MANAGER><07-26-2016 17:09:27.113+300><thread=4840 (0x12E8)>  # noqa: E501
# Matched from the last `$$<`: the component ends only at `>` (it may hold spaces, `\`, `:`, `.`).
# The common shapes (layout C time, decimal thread with its hex echo) are read by this one pattern,
# in one `groups()` call; any other time or thread text falls into the catch-all alternatives.
_TRAILER = re.compile(
    r"\$\$<(?P<component>[^>]*)>"
    r"<(?:(?P<minute>(?P<month>\d{1,2})-(?P<day>\d{1,2})-(?P<year>\d{4}) (?P<hour>\d{1,2}):(?P<min>\d{1,2}))"
    r":(?P<second>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?(?P<bias>[+-]\d{1,4})?\s*|(?P<other_time>[^>]*))>"
    r"<thread=(?:(?P<thread>\d+) \(0x[0-9A-Fa-f]+\)|(?P<other_thread>[^>]*))>\s*\Z"
)
# The minute part of a layout C time, for the fast path's cache misses: 07-26-2016 17:09
_MINUTE_C = re.compile(r"(?P<month>\d{2})-(?P<day>\d{2})-(?P<year>\d{4}) (?P<hour>\d{2}):(?P<minute>\d{2})")
# Layout A: Wed May 21 17:09:27 1997~
# Layout B: Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time   (or no zone, maybe a trailing space)
_LAYOUT_AB = re.compile(
    r"(?:[A-Za-z]{3} +)?(?P<minute>(?P<month>[A-Za-z]{3}) +(?P<day>\d{1,2}) +(?P<hour>\d{1,2})"
    r":(?P<min>\d{1,2})):(?P<second>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?"
    r" +(?P<year>\d{4})(?P<zone>[^~]*?)[\s~]*\Z"
)
# Any other thread text: 281 (0x119) with odd spacing, or SMS 1.x hex only: DB
_THREAD_DECIMAL = re.compile(r"\s*(?P<decimal>\d+)\s*\(0x[0-9A-Fa-f]+\)\s*\Z")
_THREAD_HEX = re.compile(r"\s*(?:0x)?(?P<hex>[0-9A-Fa-f]{1,8})\s*\Z")

_MAX_THREAD = 2**32 - 1
_minutes_c = MinuteCache()
_minutes_ab = MinuteCache()


def matches(text: str) -> bool:
    return _TRAILER_MARK in text


def parse(text: str, context: FormatContext) -> ParsedRecord | None:
    start = text.rfind(_TRAILER_MARK)
    if start < 0:
        return None
    # Fast path for the shape nearly every line has (padded layout C time, 3-digit fraction, decimal
    # thread with its hex echo): slicing and `str` tests, several times cheaper than the regex.
    # Anything else, or anything odd, goes through the full grammar below.
    parts = text[start + 3:].rstrip().split("><")
    if len(parts) == 3:
        component, stamp, thread_part = parts
        if (len(stamp) >= 23 and stamp[2] == "-" and stamp[13] == ":" and stamp[16] == ":"
                and stamp[19] == "." and thread_part.startswith("thread=") and thread_part[-1] == ">"):
            record = _fast_layout_c(text[:start].rstrip(), component, stamp, thread_part)
            if record is not None:
                return record
    trailer = _TRAILER.match(text, start)
    if trailer is None:
        return None
    (component, minute_text, month, day, year, hour, minute_of_hour, second_text, fraction, bias, other_time,
     thread_text, other_thread) = trailer.groups()
    thread = _checked_thread(int(thread_text)) if thread_text is not None else parse_thread(other_thread)
    record = _record(text[:start].rstrip(), component, thread)
    if minute_text is None:
        _read_layout_ab(other_time, record)
        return record
    if minute_text in _minutes_c:
        minute = _minutes_c[minute_text]
    else:
        minute = _minutes_c.remember(minute_text, valid_minute(
            int(year), int(month), int(day), int(hour), int(minute_of_hour)))
    second = valid_second(second_text)
    if minute is not None and second is not None:
        record.minute, record.second = minute, second
        record.millis = fraction_to_millis(fraction)
        if bias is not None:
            record.bias = int(bias)
    return record


def _fast_layout_c(raw_message: str, component: str, stamp: str, thread_part: str) -> ParsedRecord | None:
    """`07-26-2016 17:09:27.113+300` with `thread=4840 (0x12E8)`, or None to use the full grammar."""
    minute_text = stamp[:16]
    if minute_text in _minutes_c:
        minute = _minutes_c[minute_text]
    else:
        layout_c = _MINUTE_C.fullmatch(minute_text)
        if layout_c is None:
            return None
        month, day, year, hour, minute_of_hour = (int(field) for field in layout_c.groups())
        minute = _minutes_c.remember(minute_text, valid_minute(year, month, day, hour, minute_of_hour))
    second_text, fraction, bias = stamp[17:19], stamp[20:23], stamp[23:]
    if (minute is None or not second_text.isdigit() or not fraction.isdigit()
            or (bias and (bias[0] not in "+-" or not bias[1:].isdigit()))):
        return None
    thread_text, _, echo = thread_part[7:-1].partition(" (0x")
    if not thread_text.isdigit() or not echo.endswith(")"):
        return None
    second = int(second_text)
    if second > 59:
        return None
    record = _record(raw_message, component, _checked_thread(int(thread_text)))
    record.minute, record.second, record.millis = minute, second, int(fraction)
    if bias:
        record.bias = int(bias)
    return record


def _record(raw_message: str, component: str, thread: int | None) -> ParsedRecord:
    message = clean_tildes(raw_message) if "~" in raw_message else raw_message
    return ParsedRecord(NAME, message, infer_level(message), component or None, thread)


def _checked_thread(number: int) -> int | None:
    return number if number <= _MAX_THREAD else None


def clean_tildes(message: str) -> str:
    """`~` stands for a line break; trailing ones (and the blanks around them) are dropped."""
    return message.replace("~", "\n").rstrip()


def parse_thread(value: str) -> int | None:
    """Thread id from `281 (0x119)` (decimal wins) or a bare hex `DB`; None when out of 32 bits."""
    decimal = _THREAD_DECIMAL.match(value)
    if decimal is not None:
        number = int(decimal.group("decimal"))
    else:
        bare = _THREAD_HEX.match(value)
        if bare is None:
            return None
        number = int(bare.group("hex"), 16)
    return _checked_thread(number)


def _read_layout_ab(stamp: str, record: ParsedRecord) -> None:
    """Fill the record's local time and zone name from a layout A or B timestamp, if it is one."""
    layout_ab = _LAYOUT_AB.match(stamp)
    if layout_ab is None:
        return
    key = layout_ab.group("minute") + layout_ab.group("year")
    if key in _minutes_ab:
        minute = _minutes_ab[key]
    else:
        month = month_number(layout_ab.group("month"))
        minute = _minutes_ab.remember(key, None if month is None else valid_minute(
            int(layout_ab.group("year")), month, int(layout_ab.group("day")), int(layout_ab.group("hour")),
            int(layout_ab.group("min"))))
    second = valid_second(layout_ab.group("second"))
    if minute is None or second is None:
        return
    record.minute, record.second = minute, second
    record.millis = fraction_to_millis(layout_ab.group("fraction"))
    zone = layout_ab.group("zone").strip()
    if zone:
        record.zone_name = zone
