"""CMTrace family: `<![LOG[message]LOG]!><time=".." date=".." component=".." ... >`.

The message may span physical lines (the framer keeps a record whole, LF inside CRLF files
included). Attribute order is free, `file` may be empty or missing, the date and hour may be
unpadded, fractions have 3 to 7 digits, and the bias may be missing (then the host zone applies).
`type`: 1 info, 2 warning, 3 error, 0 info (third-party tools); missing -> inferred from the text.
"""

from __future__ import annotations

import re

from parsers.formats.record import (
    FormatContext,
    LocalMinute,
    MinuteCache,
    ParsedRecord,
    seconds_text,
    valid_minute,
)
from parsers.formats.severity import infer_level

NAME = "cmtrace"

_OPEN = "<![LOG["
_CLOSE = "]LOG]!><"

# <![LOG[Message text]LOG]!><time="10:12:01.234+420" date="07-26-2002" component="SMS_BOOTSTRAP" context="" type="1" thread="345" file="bootstrap.cpp:120">  # noqa: E501
# Attributes after `]LOG]!><`, any order: name="value".
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')

# time="10:12:01.234+420"   time="9:05:01.2345678"   (bias optional)
_TIME = re.compile(
    r"\s*(?P<hour>\d{1,2}):(?P<min>\d{1,2}):(?P<second>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?"
    r"(?P<offset>[+-]\d{1,4})?\s*\Z"
)
# date="07-26-2002"   date="7-6-2002"
_DATE = re.compile(r"\s*(?P<month>\d{1,2})-(?P<day>\d{1,2})-(?P<year>\d{4})\s*\Z")

# The attributes as Microsoft components write them, in their order, each value free of quotes:
# read in one match instead of collecting every attribute into a dict and reading each one again.
# For such a tail `_ATTRIBUTE` finds exactly these pairs, so the record is the same. Any other tail
# (another order, a missing or extra attribute, a hex thread, an unknown type) takes the general path.
_STANDARD_ATTRIBUTES = re.compile(
    r'time="(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?([+-]\d{1,4})?" date="(\d{1,2})-(\d{1,2})-(\d{4})"'
    r' component="([^"]*)" context="[^"]*" type="([0-3])" thread="(\d{1,9})" file="[^"]*">\s*\Z'
)

_LEVELS = {"0": "info", "1": "info", "2": "warning", "3": "error"}
_MAX_THREAD = 2**32 - 1
_minutes = MinuteCache()


def matches(text: str) -> bool:
    return text.startswith(_OPEN)


def parse(text: str, context: FormatContext) -> ParsedRecord | None:
    close = text.rfind(_CLOSE)
    if close < len(_OPEN):
        return None
    standard = _STANDARD_ATTRIBUTES.match(text, close + len(_CLOSE))
    if standard is not None:
        return _standard_record(text, close, standard.groups(), context)
    if not text.rstrip().endswith(">"):
        return None
    attributes = dict(_ATTRIBUTE.findall(text, close + len(_CLOSE)))
    message = text[len(_OPEN):close]
    if "\r" in message:
        # Lines inside one record may end CRLF or LF depending on the writer: store them alike.
        message = message.replace("\r\n", "\n")
    level = _LEVELS.get(attributes.get("type", "").strip()) or infer_level(message)
    record = ParsedRecord(NAME, message, level, attributes.get("component") or None,
                          _thread(attributes.get("thread")))
    _read_timestamp(attributes.get("time"), attributes.get("date"), context, record)
    return record


def _standard_record(text: str, close: int, groups: tuple[str, ...], context: FormatContext) -> ParsedRecord:
    """The record of a `_STANDARD_ATTRIBUTES` tail, as the general path would read it."""
    hour, minute_of_hour, second, fraction, offset, month, day, year, component, kind, thread = groups
    message = text[len(_OPEN):close]
    if "\r" in message:
        message = message.replace("\r\n", "\n")
    record = ParsedRecord(NAME, message, _LEVELS[kind], component or None, int(thread))
    key = f"{month}-{day}-{year} {hour}:{minute_of_hour}"
    minute = _minutes.numeric(key, year, month, day, hour, minute_of_hour)
    seconds = seconds_text(second, fraction)
    if minute is None or seconds is None:
        return record
    record.minute, record.seconds, record.bias = minute, seconds, _bias(offset, context)
    return record


def _thread(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip()
    try:
        number = int(value[2:], 16) if value[:2].lower() == "0x" else int(value)
    except ValueError:
        return None
    return number if 0 <= number <= _MAX_THREAD else None


def _read_timestamp(time_text: str | None, date_text: str | None, context: FormatContext,
                    record: ParsedRecord) -> None:
    if time_text is None or date_text is None:
        return
    time_match = _TIME.match(time_text)
    if time_match is None:
        return
    minute = _minute(date_text, time_match)
    seconds = seconds_text(time_match.group("second"), time_match.group("fraction"))
    if minute is None or seconds is None:
        return
    record.minute, record.seconds, record.bias = minute, seconds, _bias(time_match.group("offset"), context)


def _bias(offset: str | None, context: FormatContext) -> int | None:
    """Bias rule (UTC = local + bias) unless this source is known to write east-positive offsets."""
    if offset is None:
        return None
    return -int(offset) if context.east_positive_offsets else int(offset)


def _minute(date_text: str, time_match: re.Match[str]) -> LocalMinute | None:
    key = date_text + " " + time_match.group("hour") + ":" + time_match.group("min")
    if key in _minutes:
        return _minutes[key]
    date_match = _DATE.match(date_text)
    if date_match is None:
        return _minutes.remember(key, None)
    return _minutes.remember(key, valid_minute(
        int(date_match.group("year")), int(date_match.group("month")), int(date_match.group("day")),
        int(time_match.group("hour")), int(time_match.group("min"))))
