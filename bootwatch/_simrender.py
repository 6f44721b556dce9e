"""Line layouts for the fleet simulator: Windows zones and how each log family writes a record.

The simulator decides *what* a site writes and *when* (`bootwatch.simulate`); this module turns one
record (UTC instant, message, component, thread, level) into the exact text a given log file would
hold, in the layout of its family (LOG_FORMATS.md sections 1-5), and into bytes in the file's
encoding. Messages are written with `\\n` for an embedded line break: the legacy family turns it
into `~`, CMTrace keeps it as a bare LF inside the CRLF-terminated record, and the one-line families
(setup, provider) join the pieces with a space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

ROTATION_MARKER = "<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>"

# Styles: one per timestamp layout the parsers must read; the family is what `sms.log.format` says.
LEGACY_A = "legacy_a"  # Wed May 21 17:09:27 1997~           (SMS 1.x ctime, no zone, no ms)
LEGACY_B = "legacy_b"  # Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time
LEGACY_B_NOZONE = "legacy_b_nozone"  # Tue May 16 13:17:10.854 2000
LEGACY_C = "legacy_c"  # 07-26-2002 09:05:01.234+420        (bias minutes)
CMTRACE = "cmtrace"  # <![LOG[..]LOG]!><time="10:12:01.234+420" date="07-26-2002" ...>
CMTRACE_NOBIAS = "cmtrace_nobias"  # the same without the bias: host zone applies
SMSSETUP = "smssetup"  # 06-21-1999 15:45:51 message
SMSPROV = "smsprov"  # [11A][Fri 07/26/2002 10:12:01]:message

FAMILY_OF_STYLE: dict[str, str] = {
    LEGACY_A: "sms_legacy",
    LEGACY_B: "sms_legacy",
    LEGACY_B_NOZONE: "sms_legacy",
    LEGACY_C: "sms_legacy",
    CMTRACE: "cmtrace",
    CMTRACE_NOBIAS: "cmtrace",
    SMSSETUP: "smssetup",
    SMSPROV: "smsprov",
}
# Styles whose records carry no zone: the parser applies the host zone, so a local time inside the
# repeated hour of a fall-back transition would be ambiguous; the simulator keeps them out of it.
ZONELESS_STYLES = frozenset({LEGACY_A, LEGACY_B_NOZONE, CMTRACE_NOBIAS, SMSSETUP, SMSPROV})
# Styles that write whole seconds: a record's true time is floored to the second.
SECOND_STYLES = frozenset({LEGACY_A, SMSSETUP, SMSPROV})

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-le-bom", "cp1252")
_BOMS = {"utf-8-sig": b"\xef\xbb\xbf", "utf-16-le-bom": b"\xff\xfe"}
_CODECS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "utf-16-le-bom": "utf-16-le", "cp1252": "cp1252"}


@dataclass(frozen=True, slots=True)
class WindowsZone:
    """A Windows time zone as a host reports it and as log lines name it."""

    zone_id: str
    standard_name: str
    daylight_name: str
    iana: str
    # Server name stems; accented ones exercise cp1252 and UTF-8 decoding.
    cities: tuple[str, ...]

    @property
    def info(self) -> ZoneInfo:
        return _zone_info(self.iana)


@lru_cache(maxsize=64)
def _zone_info(iana: str) -> ZoneInfo:
    return ZoneInfo(iana)


def _zone(zone_id: str, daylight: str, iana: str, *cities: str) -> WindowsZone:
    return WindowsZone(zone_id, zone_id, daylight, iana, cities)


ZONES: tuple[WindowsZone, ...] = (
    _zone("Pacific Standard Time", "Pacific Daylight Time", "America/Los_Angeles", "SEATTLE", "SANJOSE"),
    _zone("Eastern Standard Time", "Eastern Daylight Time", "America/New_York", "BOSTON", "MONTRÉAL"),
    _zone("Central Standard Time", "Central Daylight Time", "America/Chicago", "DALLAS", "CHICAGO"),
    _zone("US Mountain Standard Time", "US Mountain Daylight Time", "America/Phoenix", "PHOENIX"),
    _zone("GMT Standard Time", "GMT Daylight Time", "Europe/London", "LONDON", "LEEDS"),
    _zone("W. Europe Standard Time", "W. Europe Daylight Time", "Europe/Berlin", "MÜNCHEN", "KÖLN", "ZÜRICH"),
    _zone("Romance Standard Time", "Romance Daylight Time", "Europe/Paris", "ORLÉANS", "LYON"),
    _zone(
        "E. South America Standard Time",
        "E. South America Daylight Time",
        "America/Sao_Paulo",
        "SÃOPAULO",
        "BRASÍLIA",
    ),
    _zone("AUS Eastern Standard Time", "AUS Eastern Daylight Time", "Australia/Sydney", "SYDNEY"),
    _zone("New Zealand Standard Time", "New Zealand Daylight Time", "Pacific/Auckland", "AUCKLAND"),
    _zone("Tokyo Standard Time", "Tokyo Daylight Time", "Asia/Tokyo", "TOKYO", "OSAKA"),
    _zone("India Standard Time", "India Daylight Time", "Asia/Kolkata", "PUNE", "CHENNAI"),
)


@dataclass(frozen=True, slots=True)
class FileLayout:
    """How one log file writes its records."""

    name: str
    style: str
    encoding: str
    component: str
    size_limit: int
    # Unpadded day/hour (layout B, CMTrace date and hour): LOG_FORMATS.md says both occur.
    unpadded: bool = False
    # Spaces before the legacy `$$<` trailer: usually two, sometimes one or none.
    trailer_gap: str = "  "
    # Layout A writes `~` inside the timestamp; layout B without zone sometimes a trailing space.
    stamp_suffix: str = ""
    # CMTrace variants: 7-digit fractions, attribute order, `file=` missing, a user in `context`.
    seven_digit_fraction: bool = False
    attribute_order: int = 0
    context: str = ""
    source_file: str | None = "setup.cpp:120"

    @property
    def family(self) -> str:
        return FAMILY_OF_STYLE[self.style]

    @property
    def zoneless(self) -> bool:
        return self.style in ZONELESS_STYLES


def quantize(at: datetime, style: str) -> datetime:
    """The time a record of this style can state: whole seconds or whole milliseconds."""
    if style in SECOND_STYLES:
        return at.replace(microsecond=0)
    if style in (CMTRACE, CMTRACE_NOBIAS):
        return at  # 7-digit fractions keep microseconds; parsers floor to milliseconds
    return at.replace(microsecond=at.microsecond - at.microsecond % 1000)


def bias_text(bias_minutes: int) -> str:
    """Windows bias as written after a time: UTC = local + bias (`+420` is UTC-7, `-60` is UTC+1)."""
    return "+000" if bias_minutes == 0 else f"{bias_minutes:+d}"


def gmt_date(at: datetime) -> str:
    """A STATMSG `GMTDATE` value: `Fri Jul 26 17:12:01.234 2002`, always UTC."""
    utc = at.astimezone(UTC)
    return (
        f"{WEEKDAYS[utc.weekday()]} {MONTHS[utc.month - 1]} {utc.day:02d} "
        f"{utc:%H:%M:%S}.{utc.microsecond // 1000:03d} {utc.year}"
    )


def render(layout: FileLayout, zone: WindowsZone, at: datetime, message: str, thread: int, level: str) -> str:
    """The record's text in the file's layout, without its final line terminator."""
    local = at.astimezone(zone.info)
    style = layout.style
    if style in (CMTRACE, CMTRACE_NOBIAS):
        return _cmtrace(layout, local, message.strip("\n"), thread, level)
    if style == SMSSETUP:
        return f"{local:%m-%d-%Y %H:%M:%S} {_one_line(message)}"
    if style == SMSPROV:
        return f"[{thread:X}][{WEEKDAYS[local.weekday()]} {local:%m/%d/%Y %H:%M:%S}]:{_one_line(message)}"
    text = message.replace("\n", "~")
    if style == LEGACY_A:
        day = str(local.day) if layout.unpadded else f"{local.day:02d}"
        stamp = f"{WEEKDAYS[local.weekday()]} {MONTHS[local.month - 1]} {day} {local:%H:%M:%S} {local.year}"
        stamp += layout.stamp_suffix
        return f"{text}{layout.trailer_gap}$$<{layout.component}><{stamp}><thread={thread:X}>"
    millis = f"{local.microsecond // 1000:03d}"
    if style == LEGACY_C:
        stamp = f"{local:%m-%d-%Y %H:%M:%S}.{millis}{bias_text(_bias(local))}"
    else:
        day = str(local.day) if layout.unpadded else f"{local.day:02d}"
        hour = str(local.hour) if layout.unpadded else f"{local.hour:02d}"
        stamp = (
            f"{WEEKDAYS[local.weekday()]} {MONTHS[local.month - 1]} {day} {hour}:{local:%M:%S}.{millis} "
            f"{local.year}"
        )
        if style == LEGACY_B:
            stamp += " " + (zone.daylight_name if local.dst() else zone.standard_name)
        else:
            stamp += layout.stamp_suffix
    return f"{text}{layout.trailer_gap}$$<{layout.component}><{stamp}><thread={thread} (0x{thread:X})>"


def _bias(local: datetime) -> int:
    offset = local.utcoffset() or timedelta(0)
    return -int(offset.total_seconds()) // 60


def _one_line(message: str) -> str:
    return " ".join(part for part in message.split("\n") if part)


_CMTRACE_TYPES = {"info": "1", "warning": "2", "error": "3"}


def _cmtrace(layout: FileLayout, local: datetime, message: str, thread: int, level: str) -> str:
    if layout.seven_digit_fraction:
        fraction = f"{local.microsecond * 10:07d}"
    else:
        fraction = f"{local.microsecond // 1000:03d}"
    hour = str(local.hour) if layout.unpadded else f"{local.hour:02d}"
    clock = f"{hour}:{local:%M:%S}.{fraction}"
    if layout.style == CMTRACE:
        clock += bias_text(_bias(local))
    date = f"{local.month}-{local.day}-{local.year}" if layout.unpadded else f"{local:%m-%d-%Y}"
    # Some third-party writers use type 0 for informational records.
    kind = "0" if level == "info" and layout.attribute_order == 2 else _CMTRACE_TYPES[level]
    attributes = [
        f'time="{clock}"',
        f'date="{date}"',
        f'component="{layout.component}"',
        f'context="{layout.context}"',
        f'type="{kind}"',
        f'thread="{thread}"',
    ]
    if layout.source_file is not None:
        attributes.append(f'file="{layout.source_file}"')
    if layout.attribute_order == 1:
        attributes.reverse()
    return f"<![LOG[{message}]LOG]!><{' '.join(attributes)}>"


def encode_record(text: str, encoding: str) -> bytes:
    """A record's bytes in the file's encoding, with its CRLF terminator (no BOM)."""
    return (text + "\r\n").encode(_CODECS[encoding])


def bom(encoding: str) -> bytes:
    """The byte-order mark a new file in this encoding starts with (empty for none)."""
    return _BOMS.get(encoding, b"")


def transitions(zone: WindowsZone, start: datetime, end: datetime) -> list[tuple[datetime, timedelta]]:
    """DST transitions of the zone in [start, end): (UTC instant, offset after minus offset before)."""
    info = zone.info
    found: list[tuple[datetime, timedelta]] = []
    step = timedelta(hours=12)
    left = start
    left_offset = left.astimezone(info).utcoffset()
    while left < end:
        right = min(left + step, end)
        right_offset = right.astimezone(info).utcoffset()
        if right_offset != left_offset:
            # Bisect on whole seconds: transitions fall on whole minutes.
            low, high = int(left.timestamp()), int(right.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if datetime.fromtimestamp(middle, UTC).astimezone(info).utcoffset() == left_offset:
                    low = middle
                else:
                    high = middle
            change = (right_offset or timedelta(0)) - (left_offset or timedelta(0))
            found.append((datetime.fromtimestamp(high, UTC), change))
        left, left_offset = right, right_offset
    return found
