"""Setup style (SMS 2.0 `Smssetup.log`): `MM-DD-YYYY HH:MM:SS message`, local time, no zone."""

from __future__ import annotations

import re

from parsers.formats.record import (
    FormatContext,
    MinuteCache,
    ParsedRecord,
    seconds_text,
)
from parsers.formats.severity import infer_level

NAME = "smssetup"

# 06-21-1999 15:45:51 Cannot find any PDC for domain XXXX, Win32 return = 2453
_LINE = re.compile(
    r"(?P<minute>(?P<month>\d{1,2})-(?P<day>\d{1,2})-(?P<year>\d{4}) +(?P<hour>\d{1,2}):(?P<min>\d{1,2}))"
    r":(?P<second>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?(?: +|\Z)(?P<message>.*)",
    re.DOTALL,
)
_minutes = MinuteCache()


def matches(text: str) -> bool:
    return text[:1].isdigit() and "-" in text[1:3]


def parse(text: str, context: FormatContext) -> ParsedRecord | None:
    line = _LINE.match(text)
    if line is None:
        return None
    key, month, day, year, hour, minute_of_hour, second, fraction, message = line.groups()
    minute = _minutes.numeric(key, year, month, day, hour, minute_of_hour)
    seconds = seconds_text(second, fraction)
    if minute is None or seconds is None:
        return None
    message = message.rstrip()
    return ParsedRecord(NAME, message, infer_level(message), None, None, minute, seconds)
