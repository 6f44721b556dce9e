"""Plain fallback: a record no other family claims is still emitted, never dropped.

It has no time of its own: the stream parser gives it the time of the nearest framed record in
the same stream (see `parsers/parse.py`). Examples: the marker
`<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>` at the end of a rotated file, a continuation line,
free text from an unknown writer (the SMS 2.0 Bootstrap log's layout is not known for sure).
"""

from __future__ import annotations

from parsers.formats.record import FormatContext, ParsedRecord
from parsers.formats.severity import infer_level

NAME = "plain"


def matches(text: str) -> bool:
    return True


def parse(text: str, context: FormatContext) -> ParsedRecord:
    message = text.rstrip()
    return ParsedRecord(NAME, message, infer_level(message))
