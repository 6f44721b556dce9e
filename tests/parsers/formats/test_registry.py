"""Detection per record: the first family whose signature and strict parse accept it, plain last."""

from __future__ import annotations

from parsers.formats.record import DEFAULT_CONTEXT
from parsers.formats.registry import FORMATS, parse_record


def test_every_family_is_registered_once_with_plain_last() -> None:
    names = [module.NAME for module in FORMATS]
    assert names[-1] == "plain" and sorted(names) == ["cmtrace", "plain", "sms_legacy", "smsprov", "smssetup"]


def test_cmtrace_record_quoting_a_legacy_trailer_is_cmtrace() -> None:
    text = ('<![LOG[copied: ok  $$<X><07-26-2016 17:09:27.113+0><thread=1 (0x1)>]LOG]!><time="1:02:03.000" '
            'date="01-02-2003" type="1">')
    assert parse_record(text, DEFAULT_CONTEXT).format == "cmtrace"


def test_a_line_that_fails_every_strict_parse_is_plain() -> None:
    for text in ["12-99-2002 junk", "[zz][junk]", "x $$<broken", "<![LOG[no close"]:
        assert parse_record(text, DEFAULT_CONTEXT).format == "plain"
