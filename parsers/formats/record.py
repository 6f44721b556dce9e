"""What a format module hands to normalization: one parsed record, still in local time.

Every format module (`legacy`, `cmtrace`, `smssetup`, `smsprov`, `plain`) exposes the same small
interface, plaso style:

- `NAME`: the `sms.log.format` value it produces;
- `matches(text) -> bool`: a cheap signature check (a prefix or a substring, no regex);
- `parse(text, context) -> ParsedRecord | None`: the strict parse, timestamp included; `None` means
  "not this format after all" and detection moves on to the next module.

Times stay local here: turning them into UTC needs the stream's host zone and what `STATMSG:` lines
say about it, which only the stream parser (`parsers/parse.py`) knows.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

# Local minute of a record: (year, month, day, hour, minute). Shared tuples, cached per minute text
# by the formats, so the clock recognises "same minute as the previous record" by identity.
LocalMinute = tuple[int, int, int, int, int]

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class FormatContext:
    """Per-source settings a format may need.

    `east_positive_offsets`: some third-party CMTrace writers put an ISO-style offset (east
    positive) where Microsoft components write a bias (UTC = local + bias). Off by default.
    """

    east_positive_offsets: bool = False


DEFAULT_CONTEXT = FormatContext()


@dataclass(slots=True)
class ParsedRecord:
    """One record as a format read it: message, metadata and the local time with its zone clue.

    `bias`: minutes with UTC = local + bias (already in that convention whatever the source wrote).
    `zone_name`: a zone name the record states (Windows display name), when it has no bias.
    Neither: the record carries no zone; the stream's host zone applies.
    `minute is None`: the record has no usable time (plain lines, a garbled trailer).
    `seconds`: seconds and milliseconds of the minute, exactly as `@timestamp` ends: "SS.mmm".
    """

    format: str
    message: str
    level: str
    logger: str | None = None
    thread: int | None = None
    minute: LocalMinute | None = None
    seconds: str = "00.000"
    bias: int | None = None
    zone_name: str | None = None


def seconds_text(second: str, fraction: str | None) -> str | None:
    """"SS.mmm" from second digits and 0..7 fraction digits (truncated to milliseconds, never rounded
    up into the next second); a leap second (60) is held at :59.999 so the minute stays the same;
    None for anything beyond."""
    number = int(second)
    if number > 59:
        return "59.999" if number == 60 else None
    milliseconds = ((fraction or "") + "000")[:3]
    if not milliseconds.isascii():
        # Digits of another script (`\d` matches them): `@timestamp` is written in ASCII digits.
        milliseconds = f"{int(milliseconds):03d}"
    return f"{number:02d}.{milliseconds}"


def valid_minute(year: int, month: int, day: int, hour: int, minute: int) -> LocalMinute | None:
    """The minute tuple if it names a real calendar minute, else None (a garbled timestamp)."""
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1] and hour < 24 and minute < 60):
        return None
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return None
    if not 1 <= year <= 9999:
        return None
    return (year, month, day, hour, minute)


def numeric_minute(year: str, month: str, day: str, hour: str, minute: str) -> LocalMinute | None:
    """`valid_minute` of digit texts; a new minute of a day already seen costs two look-ups.

    Records are often minutes apart, so minute texts rarely repeat, while their dates and times of
    day do.
    """
    time_key = (hour, minute)
    time_of_day = _times_of_day.get(time_key, UNSEEN)
    if time_of_day is UNSEEN:
        hour_number, minute_number = int(hour), int(minute)
        time_of_day = _times_of_day.remember(
            time_key, (hour_number, minute_number) if hour_number < 24 and minute_number < 60 else None)
    if time_of_day is None:
        return None
    date_key = (year, month, day)
    date = _numeric_dates.get(date_key, UNSEEN)
    if date is UNSEEN:
        midnight = valid_minute(int(year), int(month), int(day), 0, 0)
        date = _numeric_dates.remember(date_key, None if midnight is None else midnight[:3])
    return None if date is None else date + time_of_day  # type: ignore[operator]


def month_number(abbreviation: str) -> int | None:
    """1..12 for an English month abbreviation as ctime writes it (`Jul`), else None."""
    return _MONTHS.get(abbreviation[:1].upper() + abbreviation[1:3].lower())


# What `BoundedCache.get(key, UNSEEN)` returns for a key not cached yet (a cached None is a real
# answer, e.g. "not a real minute"): one lookup instead of `in` followed by `[]`.
UNSEEN = object()
_V = TypeVar("_V")


class BoundedCache(dict[Hashable, _V], Generic[_V]):
    """Text (or a tuple of texts) -> a value computed from it, forgotten all at once past `limit` entries.

    Log text repeats (the same minute, message or trailer line after line), so the hot path looks
    results up instead of computing them again; the bound keeps a stream of ever-new text from
    growing it without limit.
    """

    limit = 4096

    def remember(self, key: Hashable, value: _V) -> _V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


class MinuteCache(BoundedCache[LocalMinute | None]):
    """Text of a local minute -> its validated tuple (None: not a real minute)."""

    def numeric(
        self, key: str, year: str, month: str, day: str, hour: str, minute: str
    ) -> LocalMinute | None:
        """The validated minute of numeric date parts, computed once per distinct `key` text."""
        cached = self.get(key, UNSEEN)
        if cached is UNSEEN:
            return self.remember(key, numeric_minute(year, month, day, hour, minute))
        return cached


# For `numeric_minute`: (year, month, day) texts -> the validated date, (hour, minute) texts -> the
# time of day (None: not a real one).
_numeric_dates: BoundedCache[tuple[int, int, int] | None] = BoundedCache()
_times_of_day: BoundedCache[tuple[int, int] | None] = BoundedCache()
