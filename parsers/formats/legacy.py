"""Legacy SMS family: `MESSAGE  $$<COMPONENT><TIMESTAMP><thread=TID (0xHEX)>`.

All three timestamp layouts are accepted in every version (LOG_FORMATS.md section 1):
A (SMS 1.x ctime, no zone, no milliseconds), B (SMS 2.0/2003 ctime with milliseconds and a Windows
zone display name or no zone), C (ConfigMgr `MM-DD-YYYY HH:MM:SS.mmm+bias`). `~` in the message
stands for a line break.
"""

from __future__ import annotations

import re

from parsers.formats.record import (
    UNSEEN,
    BoundedCache,
    FormatContext,
    LocalMinute,
    MinuteCache,
    ParsedRecord,
    month_number,
    numeric_minute,
    seconds_text,
)
from parsers.formats.severity import infer_level

NAME = "sms_legacy"

_TRAILER_MARK = "$$<"

# Processing  $$<SMS_HIERARCHY_MANAGER><7-6-2016 9:05:01.1234567-60><thread=DB>
# The full grammar, matched from the last `$$<`: the component ends only at `>` (it may hold
# spaces, `\`, `:`, `.`); a layout C time with unpadded fields, any fraction length and an optional
# bias, or any other time text (`other_time`, read by `_LAYOUT_AB`); any thread text.
_TRAILER = re.compile(
    r"\$\$<(?P<component>[^>]*)>"
    r"<(?:(?P<minute>(?P<month>\d{1,2})-(?P<day>\d{1,2})-(?P<year>\d{4}) (?P<hour>\d{1,2}):(?P<min>\d{1,2}))"
    r":(?P<second>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?(?P<bias>[+-]\d{1,4})?\s*|(?P<other_time>[^>]*))>"
    r"<thread=(?:(?P<thread>\d+) \(0x[0-9A-Fa-f]+\)|(?P<other_thread>[^>]*))>\s*\Z"
)
# The shapes nearly every line has, read in one match and one `groups()` call; any other line takes
# `_TRAILER`. Each branch accepts only trailers the full grammar reads to the same record.
# C, padded with milliseconds, decimal thread with its hex echo:
#   Ready  $$<SMS_HIERARCHY_MANAGER><07-26-2016 17:09:27.113+300><thread=4840 (0x12E8)>
# B with milliseconds, with or without a zone name:
#   Started  $$<SMS_BOOTSTRAP><Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time><thread=345 (0x159)>
# A (SMS 1.x), hex thread:
#   ~Found ready instruction file  $$<SMS_DESPOOLER><Wed May 21 17:09:27 1997~><thread=DB>
_COMMON_TRAILER = re.compile(
    r"\$\$<([^>]*)><(?:"
    r"(\d\d-\d\d-\d{4} \d\d:\d\d):([0-5]\d\.\d{3})([+-]\d{1,4})?"
    r"><thread=(\d{1,10}) \(0x[0-9A-Fa-f]+\)"
    r"|[A-Z][a-z]{2} ([A-Z][a-z]{2} +\d{1,2} \d{1,2}:\d\d):([0-5]\d\.\d{3}) (\d{4})(?: ([A-Za-z][^<>~]*))?"
    r"><thread=(\d{1,10}) \(0x[0-9A-Fa-f]+\)"
    r"|[A-Z][a-z]{2} ([A-Z][a-z]{2} +[0-9]{1,2} [0-9]{1,2}:[0-9]{2}):([0-5][0-9]) ([0-9]{4})~?"
    r"><thread=([0-9A-Fa-f]{1,8})"
    r")>\s*\Z",
    re.ASCII,  # ASCII digits only: `\d` then needs no Unicode look-up per character
)
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
_MONTH_TEXT = tuple(str(number) for number in range(13))
# The biases zones use (whole quarter hours) as written, looked up rather than converted per record.
_QUARTER_HOURS = range(0, 841, 15)
_BIAS_MINUTES = {f"{sign}{minutes}": int(f"{sign}{minutes}") for sign in "+-" for minutes in _QUARTER_HOURS}
_minutes_c = MinuteCache()
_minutes_ab = MinuteCache()
# Text before a trailer -> (message, level): components log the same messages over and over.
_messages: BoundedCache[tuple[str, str]] = BoundedCache()


def matches(text: str) -> bool:
    return _TRAILER_MARK in text


def parse(text: str, context: FormatContext) -> ParsedRecord | None:
    start = text.rfind(_TRAILER_MARK)
    if start < 0:
        return None
    common = _COMMON_TRAILER.match(text, start)
    if common is not None:
        (component, minute_text, seconds, bias, thread_c, minute_b, seconds_b, year_b, zone_name, thread_b,
         minute_a, second_a, year_a, thread_a) = common.groups()
        zone = None
        if minute_text is not None:
            minute = _minutes_c.get(minute_text, UNSEEN)
            if minute is UNSEEN:
                minute = _minutes_c.remember(minute_text, _padded_minute(minute_text))
            thread = int(thread_c)
            bias_minutes = (_BIAS_MINUTES.get(bias) or int(bias)) if bias else None
        elif minute_b is not None:
            minute = _cached_ab_minute(minute_b, year_b)
            seconds, thread, bias_minutes = seconds_b, int(thread_b), None
            zone = zone_name.rstrip() or None if zone_name else None
        else:
            minute = _cached_ab_minute(minute_a, year_a)
            seconds, thread, bias_minutes = second_a + ".000", int(thread_a, 16), None
        if minute is not None:
            before_trailer = text[:start]
            message, level = _messages.get(before_trailer) or _message_and_level(before_trailer)
            return ParsedRecord(NAME, message, level, component or None,
                                thread if thread <= _MAX_THREAD else None, minute, seconds, bias_minutes,
                                zone)
    return _parse_any_trailer(text, start)


def _message_and_level(before_trailer: str) -> tuple[str, str]:
    """The message (blanks before the trailer dropped, `~` as line breaks) and its inferred level,
    remembered in `_messages`."""
    message = before_trailer.rstrip()
    if "~" in message:
        message = clean_tildes(message)
    return _messages.remember(before_trailer, (message, infer_level(message)))


def _padded_minute(minute_text: str) -> LocalMinute | None:
    """`07-26-2016 17:09` (layout C, every field padded: fixed positions) -> the minute tuple, None when
    not a real minute. The digits are read from the text rather than captured: capturing them cost
    five substrings a record, and the text repeats for a whole minute."""
    return numeric_minute(minute_text[6:10], minute_text[:2], minute_text[3:5], minute_text[11:13],
                          minute_text[14:16])


def _cached_ab_minute(minute_text: str, year: str) -> LocalMinute | None:
    key = minute_text + year
    minute = _minutes_ab.get(key, UNSEEN)
    if minute is UNSEEN:
        return _minutes_ab.remember(key, _ab_minute(minute_text, year))
    return minute


def _ab_minute(minute_text: str, year: str) -> LocalMinute | None:
    """`Jul 26 9:05` + `2002` -> the minute tuple, None when not a real minute.

    `minute_text` is a minute group of `_COMMON_TRAILER` or `_LAYOUT_AB` (month letters, blanks,
    day digits, a blank, hour digits, `:`, minute digits), so splitting it cannot fail.
    """
    month_name, day, hour_and_minute = minute_text.split()
    hour, minute_of_hour = hour_and_minute.split(":")
    month = month_number(month_name)
    if month is None:
        return None
    return numeric_minute(year, _MONTH_TEXT[month], day, hour, minute_of_hour)


def _parse_any_trailer(text: str, start: int) -> ParsedRecord | None:
    """The full grammar: every timestamp layout and thread form, unpadded fields, odd spacing."""
    trailer = _TRAILER.match(text, start)
    if trailer is None:
        return None
    (component, minute_text, month, day, year, hour, minute_of_hour, second_text, fraction, bias, other_time,
     thread_text, other_thread) = trailer.groups()
    if thread_text is not None:
        thread: int | None = int(thread_text)
        if thread > _MAX_THREAD:  # type: ignore[operator]
            thread = None
    else:
        thread = parse_thread(other_thread)
    message = text[:start].rstrip()
    if "~" in message:
        message = clean_tildes(message)
    record = ParsedRecord(NAME, message, infer_level(message), component or None, thread)
    if minute_text is None:
        _read_layout_ab(other_time, record)
        return record
    minute = _minutes_c.numeric(minute_text, year, month, day, hour, minute_of_hour)
    seconds = seconds_text(second_text, fraction)
    if minute is not None and seconds is not None:
        record.minute, record.seconds = minute, seconds
        if bias is not None:
            record.bias = int(bias)
    return record


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
    return number if number <= _MAX_THREAD else None


def _read_layout_ab(stamp: str, record: ParsedRecord) -> None:
    """Fill the record's local time and zone name from a layout A or B timestamp, if it is one."""
    layout_ab = _LAYOUT_AB.match(stamp)
    if layout_ab is None:
        return
    minute = _cached_ab_minute(*layout_ab.group("minute", "year"))
    seconds = seconds_text(layout_ab.group("second"), layout_ab.group("fraction"))
    if minute is None or seconds is None:
        return
    record.minute, record.seconds = minute, seconds
    zone = layout_ab.group("zone").strip()
    if zone:
        record.zone_name = zone
