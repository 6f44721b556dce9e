"""Legacy SMS family: trailer grammar, the three timestamp layouts, threads, tildes."""

from __future__ import annotations

import pytest

from parsers.formats import legacy
from parsers.formats.record import DEFAULT_CONTEXT


def _parse(text: str) -> legacy.ParsedRecord:
    record = legacy.parse(text, DEFAULT_CONTEXT)
    assert record is not None
    return record


def test_layout_c_reads_minute_seconds_and_bias() -> None:
    record = _parse("Ready  $$<SMS_HIERARCHY_MANAGER><07-26-2016 17:09:27.113+300><thread=4840 (0x12E8)>")
    assert (record.minute, record.seconds, record.bias) == ((2016, 7, 26, 17, 9), "27.113", 300)
    assert record.zone_name is None
    assert (record.message, record.logger, record.thread) == ("Ready", "SMS_HIERARCHY_MANAGER", 4840)


def test_layout_b_keeps_the_zone_name_and_layout_a_has_none() -> None:
    named = _parse("x  $$<SMS_BOOTSTRAP><Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time><thread=1 (0x1)>")
    assert (named.minute, named.seconds) == ((2002, 7, 26, 9, 5), "01.234")
    assert named.zone_name == "Pacific Daylight Time"
    ctime = _parse("x  $$<SMS_DESPOOLER><Wed May 21 17:09:27 1997~><thread=DB>")
    assert (ctime.minute, ctime.seconds) == ((1997, 5, 21, 17, 9), "27.000")
    assert ctime.zone_name is None and ctime.bias is None


def test_component_may_hold_spaces_backslashes_colons_and_dots() -> None:
    record = _parse(r"x $$<C:\WINNT\MS\SMS\CORE\BIN\CLI SVCL.EXE><07-26-2016 17:09:27.113+0><thread=1 (0x1)>")
    assert record.logger == r"C:\WINNT\MS\SMS\CORE\BIN\CLI SVCL.EXE"


@pytest.mark.parametrize(("thread", "expected"), [
    ("281 (0x119)", 281), ("4294758987 (0xFFFCD24B)", 4294758987), ("DB", 219),
    ("4294967296 (0x100000000)", None),
])
def test_thread_forms(thread: str, expected: int | None) -> None:
    assert _parse(f"x  $$<C><07-26-2016 17:09:27.113+0><thread={thread}>").thread == expected


def test_tildes_become_line_breaks_with_trailing_ones_dropped() -> None:
    assert _parse("~a~b~~c~~  $$<C><Wed May 21 17:09:27 1997~><thread=DB>").message == "\na\nb\n\nc"


def test_a_garbled_time_keeps_the_record_without_a_time() -> None:
    record = _parse("x  $$<C><02-30-2016 17:09:27.113+0><thread=1 (0x1)>")
    assert record.minute is None and record.logger == "C"


def test_a_line_without_a_trailer_is_not_legacy() -> None:
    assert legacy.parse("Processing file  $$<C><07-26-2016 17:09:27.113+0>", DEFAULT_CONTEXT) is None
    assert not legacy.matches("<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>")


@pytest.mark.parametrize("trailer", [
    "<Sun Oct 27 05:15:54 2002~><thread=1A>",
    "<Sun Oct 27 05:15:54 2002><thread=4294967295 (0xFFFFFFFF)>",
    "<Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time><thread=345 (0x159)>",
    "<Fri Feb 29 9:05:01.234 2002><thread=345 (0x159)>",
])
def test_the_usual_layout_a_and_b_trailers_read_like_the_full_grammar(trailer: str) -> None:
    # The usual shapes take a one-match path; a second blank before the year sends the same
    # trailer through the full grammar, which must read it the same.
    usual = legacy.parse(f"Copied S02.SCU~  $$<SMS_DESPOOLER>{trailer}", DEFAULT_CONTEXT)
    spaced = legacy.parse(f"Copied S02.SCU~  $$<SMS_DESPOOLER>{trailer.replace(' 2002', '  2002')}",
                          DEFAULT_CONTEXT)
    assert usual is not None and usual == spaced


def test_digits_of_other_scripts_and_unicode_blanks_take_the_full_grammar_to_the_same_record() -> None:
    # The usual-shape match reads ASCII only; anything else must still read as the full grammar does.
    stamp, thread = "07-26-2016 17:09:27.113+300", "<thread=4840 (0x12E8)>"
    arabic_indic = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    ascii_digits, other_digits, no_break_blank = (
        legacy.parse(f"Ready  $$<SMS_HIERARCHY_MANAGER><{text}>{thread}{tail}", DEFAULT_CONTEXT)
        for text, tail in ((stamp, ""), (stamp.translate(arabic_indic), ""), (stamp, "\u00a0")))
    assert ascii_digits is not None
    assert ascii_digits.minute == (2016, 7, 26, 17, 9)
    assert (ascii_digits.seconds, ascii_digits.bias) == ("27.113", 300)
    assert other_digits == ascii_digits
    assert no_break_blank == ascii_digits
