"""Provider style: `[TID][Ddd MM/DD/YYYY HH:MM:SS]:message` with a hex thread."""

from __future__ import annotations

from parsers.formats import smsprov
from parsers.formats.record import DEFAULT_CONTEXT


def test_reads_hex_thread_local_time_and_message() -> None:
    record = smsprov.parse("[11A][Fri 07/26/2002 10:12:01]:Reading setup parameters", DEFAULT_CONTEXT)
    assert record is not None
    assert (record.thread, record.minute, record.seconds, record.message) == (
        282, (2002, 7, 26, 10, 12), "01.000", "Reading setup parameters")


def test_a_bracketed_line_of_another_shape_is_not_provider_style() -> None:
    assert smsprov.parse("[note] something", DEFAULT_CONTEXT) is None
