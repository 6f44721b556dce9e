"""Provider style (SMS 2.0 `SMSPROV.LOG`): `[TID][Ddd MM/DD/YYYY HH:MM:SS]:message`.

The thread id is hex; the time is local with no zone.
"""

from __future__ import annotations

import re

from parsers.formats.record import (
    FormatContext,
    MinuteCache,
    ParsedRecord,
    seconds_text,
)
from parsers.formats.severity import infer_level

NAME = "smsprov"

# [11A][Fri 07/26/2002 10:12:01]:Reading setup parameters
_LINE = re.compile(
    r"\[(?P<thread>[0-9A-Fa-f]{1,8})\]\[(?:[A-Za-z]{3} +)?"
    r"(?P<minute>(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4}) +(?P<hour>\d{1,2}):(?P<min>\d{1,2}))"
    r":(?P<second>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?\]:?(?P<message>.*)",
    re.DOTALL,
)
_minutes = MinuteCache()


def matches(text: str) -> bool:
    return text.startswith("[")


def parse(text: str, context: FormatContext) -> ParsedRecord | None:
    line = _LINE.match(text)
    if line is None:
        return None
    thread, key, month, day, year, hour, minute_of_hour, second, fraction, message = line.groups()
    minute = _minutes.numeric(key, year, month, day, hour, minute_of_hour)
    seconds = seconds_text(second, fraction)
    if minute is None or seconds is None:
        return None
    message = message.rstrip()
    return ParsedRecord(NAME, message, infer_level(message), None, int(thread, 16), minute, seconds)
