"""Plain fallback: anything is a record, with no time of its own."""

from __future__ import annotations

from parsers.formats import plain
from parsers.formats.record import DEFAULT_CONTEXT


def test_accepts_anything_and_infers_the_level() -> None:
    record = plain.parse("the copy failed   ", DEFAULT_CONTEXT)
    assert plain.matches("")
    assert (record.message, record.level, record.minute) == ("the copy failed", "error", None)
