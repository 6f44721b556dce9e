"""CMTrace family: attribute order, type, missing bias, fractions, east-positive sources."""

from __future__ import annotations

from parsers.formats import cmtrace
from parsers.formats.record import DEFAULT_CONTEXT, FormatContext

RECORD = ('<![LOG[Line one\r\nLine two]LOG]!><thread="0x1F4" type="3" date="7-6-2016" '
          'time="9:05:01.2345678-120" component="ConfigMgrPrereq" context="CONTOSO\\admin">')


def test_attributes_in_any_order_with_crlf_inside_the_message() -> None:
    record = cmtrace.parse(RECORD, DEFAULT_CONTEXT)
    assert record is not None
    assert (record.message, record.level, record.logger, record.thread) == ("Line one\nLine two", "error",
                                                                            "ConfigMgrPrereq", 500)
    assert (record.minute, record.seconds, record.bias) == ((2016, 7, 6, 9, 5), "01.234", -120)


def test_east_positive_sources_flip_the_offset_into_a_bias() -> None:
    record = cmtrace.parse(RECORD, FormatContext(east_positive_offsets=True))
    assert record is not None and record.bias == 120


def test_type_zero_is_info_and_a_missing_type_is_inferred() -> None:
    untyped = '<![LOG[Install failed]LOG]!><time="1:02:03.000" date="01-02-2003">'
    zero = cmtrace.parse(untyped[:-1] + ' type="0">', DEFAULT_CONTEXT)
    missing = cmtrace.parse(untyped, DEFAULT_CONTEXT)
    assert zero is not None and zero.level == "info" and zero.bias is None
    assert missing is not None and missing.level == "error"


def test_an_unclosed_record_is_not_cmtrace() -> None:
    assert cmtrace.parse("<![LOG[half a record", DEFAULT_CONTEXT) is None


def test_the_microsoft_attribute_order_reads_like_any_other_order() -> None:
    # The usual order takes a one-match path; the same attributes reordered take the general one.
    usual = ('<![LOG[Setup failed]LOG]!><time="23:59:59.9999999+420" date="2-29-2016" component="setup" '
             'context="" type="2" thread="4294967" file="x.cpp:1">')
    reordered = ('<![LOG[Setup failed]LOG]!><thread="4294967" date="2-29-2016" component="setup" '
                 'time="23:59:59.9999999+420" type="2" context="" file="x.cpp:1">')
    for context in (DEFAULT_CONTEXT, FormatContext(east_positive_offsets=True)):
        assert cmtrace.parse(usual, context) == cmtrace.parse(reordered, context)
    invalid_date = usual.replace("2-29-2016", "2-29-2015")
    record = cmtrace.parse(invalid_date, DEFAULT_CONTEXT)
    assert record is not None and record.minute is None
    assert record == cmtrace.parse(invalid_date.replace(' file="x.cpp:1"', ""), DEFAULT_CONTEXT)
