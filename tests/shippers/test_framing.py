"""Record framing: offsets, spans, decoding and chunk-independence of `shippers.framing`."""

from __future__ import annotations

import codecs
import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shippers.framing import (
    FramedRecord,
    RecordFramer,
    detect_encoding,
    file_fingerprint,
    fingerprint_length,
    fingerprint_of,
    frame_bytes,
)

LEGACY = b"Bootstrap service started  $$<SMS_BOOTSTRAP><Fri Jul 26 10:12:01.234 2002 Pacific Daylight Time>" \
         b"<thread=345 (0x159)>"
CMTRACE_MULTI = b'<![LOG[Copying files\nfrom \\\\central\\share\r\n\r\ndone]LOG]!><time="10:12:01.234+420" ' \
                b'date="07-26-2002" component="SMS_BOOTSTRAP" context="" type="1" thread="345" file="">'
MARKER = b"<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>"


def records(data: bytes) -> list[tuple[int, int, str]]:
    return [(r.offset, r.length, r.text) for r in frame_bytes(data)]


def chunked(data: bytes, cuts: list[int], framer: RecordFramer | None = None) -> list[FramedRecord]:
    framer = framer or RecordFramer()
    out: list[FramedRecord] = []
    previous = 0
    for cut in sorted({*cuts, len(data)}):
        out.extend(framer.feed(data[previous:cut]))
        previous = cut
    out.extend(framer.flush())
    return out


# --------------------------------------------------------------------------- a reference model

_MODEL_LINE = re.compile(rb"[^\n]*\n|[^\n]+\Z")


def model_frame(data: bytes) -> list[tuple[int, int, str]]:
    """The framing rules written the slow, obvious way (8-bit input, records under the size cap)."""
    def decode(raw: bytes) -> str:
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(bytes([b]).decode("cp1252") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b)
                           for b in raw)

    bom = 3 if data.startswith(codecs.BOM_UTF8) else 0
    lines = [(m.start() + bom, m.group()) for m in _MODEL_LINE.finditer(data[bom:])]
    out: list[tuple[int, int, str]] = []
    open_start: int | None = None

    def add(start: int, end: int) -> None:
        span_start = 0 if start == bom and bom else start
        out.append((span_start, end - span_start, decode(data[start:end])))

    for start, line in lines:
        end = start + len(line)
        if open_start is not None:
            if line.startswith((b"<![LOG[", MARKER)):
                add(open_start, start)
                open_start = None
            else:
                if b"]LOG]!><" in line:
                    add(open_start, end)
                    open_start = None
                continue
        if line.startswith(b"<![LOG["):
            if b"]LOG]!><" in line[7:]:
                add(start, end)
            else:
                open_start = start
        elif line.rstrip(b"\n").strip(b" \t\r\x0b\x0c"):
            add(start, end)
    if open_start is not None:
        add(open_start, len(data))
    return out


TOKENS = st.sampled_from([
    b"<![LOG[", b"]LOG]!><time=\"1\">", b"\r\n", b"\n", b"\r", b" ", b"\t", b"a", b"text", b"\xe9",
    b"\xc3\xa9", b"\x81", b"$$<SMS_BOOTSTRAP><Fri Jul 26 10:12:01 2002><thread=1>", MARKER, b"\x00",
    b"\xef\xbb\xbf",
])
TOKEN_STREAMS = st.lists(TOKENS, max_size=60).map(b"".join)
SOME_BYTES = st.one_of(st.binary(max_size=300), TOKEN_STREAMS,
                       st.tuples(st.just(codecs.BOM_UTF8), TOKEN_STREAMS).map(b"".join))


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(SOME_BYTES)
def test_any_bytes_frame_without_error_into_disjoint_ordered_records_covering_every_non_blank_byte(
        data: bytes) -> None:
    def assert_blank(position: int, gap: bytes) -> None:
        if position == 0:
            gap = gap[detect_encoding(gap)[1]:]  # a BOM belongs to no record when no record follows
        assert not gap.strip(b" \t\r\n\x0b\x0c"), "bytes outside records must be blank lines"

    position = 0
    for record in frame_bytes(data):
        assert record.offset >= position and record.length > 0
        assert_blank(position, data[position:record.offset])
        position = record.offset + record.length
    assert_blank(position, data[position:])


@settings(max_examples=300, deadline=None)
@given(SOME_BYTES)
def test_records_match_the_reference_model_of_the_rules(data: bytes) -> None:
    # The model knows 8-bit input only: a UTF-16 byte-order mark makes the framer read UTF-16.
    assume(not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)))
    assert records(data) == model_frame(data)


@settings(max_examples=300, deadline=None)
@given(SOME_BYTES, st.lists(st.integers(min_value=0, max_value=300), max_size=12))
def test_any_chunk_split_yields_the_same_records_as_one_feed_and_flush(data: bytes, cuts: list[int]) -> None:
    assert chunked(data, cuts) == list(frame_bytes(data))


@settings(max_examples=200, deadline=None)
@given(SOME_BYTES, st.lists(st.integers(min_value=0, max_value=300), max_size=12))
def test_size_cap_cuts_records_at_the_same_places_whatever_the_chunk_split(data: bytes,
                                                                           cuts: list[int]) -> None:
    whole = RecordFramer(max_record_bytes=24)
    expected = whole.feed(data) + whole.flush()
    assert chunked(data, cuts, RecordFramer(max_record_bytes=24)) == expected
    bom_length = detect_encoding(data)[1]
    assert all(record.length - (bom_length if record.offset == 0 else 0) <= 24 for record in expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([LEGACY, "Ünïcödé line $$<C><t><thread=1>".encode(), b"caf\xe9 cp1252", b"  ",
                                 b"x"]), min_size=1, max_size=30),
       st.sampled_from([b"\r\n", b"\n"]))
def test_long_runs_of_one_line_records_match_the_reference_model(lines: list[bytes], line_end: bytes) -> None:
    data = line_end.join(lines * 20) + line_end
    assert records(data) == model_frame(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["a", "é", "€", "\U0001F600", " ", "\r\n", "\n", "<![LOG[", "]LOG]!><x>"]),
                max_size=40).map("".join),
       st.sampled_from(["utf-16-le", "utf-16-be"]),
       st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_utf16_chunk_splits_agree_and_spans_decode_back_to_the_texts(text: str, codec: str,
                                                                     cuts: list[int]) -> None:
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
    data = bom + text.encode(codec)
    whole = list(frame_bytes(data))
    assert chunked(data, cuts) == whole
    for record in whole:
        span = data[record.offset:record.offset + record.length]
        if record.offset == 0:
            span = span[2:]
        decoded = span.decode(codec)
        decoded = decoded[:-2] if decoded.endswith("\r\n") else decoded.removesuffix("\n")
        assert decoded == record.text
        assert record.offset % 2 == 0 and record.length % 2 == 0


# --------------------------------------------------------------------------- examples


def test_legacy_lines_are_one_record_each_with_crlf_excluded_from_text() -> None:
    data = LEGACY + b"\r\n" + LEGACY + b"\r\n"
    assert records(data) == [(0, len(LEGACY) + 2, LEGACY.decode()),
                             (len(LEGACY) + 2, len(LEGACY) + 2, LEGACY.decode())]


def test_cmtrace_record_spanning_lines_with_a_blank_line_inside_is_one_record() -> None:
    data = b"\r\n" + CMTRACE_MULTI + b"\r\n" + LEGACY + b"\n"
    assert records(data) == [
        (2, len(CMTRACE_MULTI) + 2, CMTRACE_MULTI.decode()),
        (len(CMTRACE_MULTI) + 4, len(LEGACY) + 1, LEGACY.decode()),
    ]


def test_cmtrace_record_split_across_feeds_is_emitted_once_complete() -> None:
    framer = RecordFramer()
    first, second = CMTRACE_MULTI[:30], CMTRACE_MULTI[30:] + b"\r\n"
    assert framer.feed(first) == []
    assert framer.position == 0
    assert framer.feed(second) == [FramedRecord(0, len(CMTRACE_MULTI) + 2, CMTRACE_MULTI.decode())]
    assert framer.position == len(CMTRACE_MULTI) + 2


def test_cmtrace_record_whose_close_line_has_no_line_end_waits_until_flush() -> None:
    framer = RecordFramer()
    assert framer.feed(CMTRACE_MULTI) == []
    assert framer.flush() == [FramedRecord(0, len(CMTRACE_MULTI), CMTRACE_MULTI.decode())]
    assert framer.position == len(CMTRACE_MULTI)
    assert framer.feed(b"\r\n") == []
    assert framer.position == len(CMTRACE_MULTI) + 2


def test_unterminated_cmtrace_record_ends_where_the_next_one_starts() -> None:
    data = b"<![LOG[writer died\n<![LOG[next]LOG]!><x>\r\n"
    assert records(data) == [(0, 19, "<![LOG[writer died"), (19, 23, "<![LOG[next]LOG]!><x>")]


def test_rotation_marker_is_its_own_record_even_inside_an_open_cmtrace_record() -> None:
    data = b"<![LOG[cut short\r\n" + MARKER + b"\r\n"
    assert records(data) == [(0, 18, "<![LOG[cut short"), (18, len(MARKER) + 2, MARKER.decode())]
    after_legacy = records(LEGACY + b"\r\n" + MARKER + b"\r\n")[1]
    assert after_legacy == (len(LEGACY) + 2, len(MARKER) + 2, MARKER.decode())


def test_blank_lines_belong_to_no_record_and_position_passes_them() -> None:
    framer = RecordFramer()
    assert framer.feed(b"a\r\n \t\r\n\r\n\nb\n  \r\n") == [FramedRecord(0, 3, "a"), FramedRecord(10, 2, "b")]
    assert framer.position == 16


def test_utf8_bom_belongs_to_the_first_records_span_but_not_its_text() -> None:
    assert records(codecs.BOM_UTF8 + b"first\r\nsecond") == [(0, 10, "first"), (10, 6, "second")]


def test_bom_split_over_feeds_is_still_recognized() -> None:
    framer = RecordFramer()
    assert framer.feed(b"\xff") == []
    assert framer.feed(b"\xfe") == []
    assert framer.feed("x\r\ny".encode("utf-16-le")) == [FramedRecord(0, 8, "x")]
    assert framer.encoding == "utf-16-le"
    assert framer.flush() == [FramedRecord(8, 2, "y")]


def test_utf16le_and_utf16be_line_ends_are_found_at_even_offsets_only() -> None:
    # U+0A41 U+0100 in LE is 41 0A 00 01: "\n\x00" at an odd offset must not end the line.
    text = "\u0a41\u0100 one\r\ntwo\r\n"
    for codec, bom in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)):
        data = bom + text.encode(codec)
        assert records(data) == [(0, 2 + 2 * 8, "\u0a41\u0100 one"), (18, 10, "two")]


def test_undecodable_utf8_record_falls_back_to_cp1252_for_that_record_only() -> None:
    data = "Café €5 ok\r\n".encode() + b"Caf\xe9 \x80 \x81\r\n" + "naïve\r\n".encode()
    assert [r.text for r in frame_bytes(data)] == ["Café €5 ok", "Café € \x81", "naïve"]


def test_explicit_encoding_with_start_offset_resumes_mid_file() -> None:
    data = "a\r\nb\r\nc\r\n".encode("utf-16-le")
    framer = RecordFramer("utf-16-le", start_offset=6)
    assert framer.feed(data[6:]) == [FramedRecord(6, 6, "b"), FramedRecord(12, 6, "c")]


def test_lone_cr_is_not_a_line_end() -> None:
    assert records(b"one\rtwo\n") == [(0, 8, "one\rtwo")]


def test_over_long_line_is_cut_at_the_size_cap() -> None:
    framer = RecordFramer(max_record_bytes=16)
    out = chunked(b"x" * 40 + b"\n", [5, 17], framer)
    assert [(r.offset, r.length) for r in out] == [(0, 16), (16, 16), (32, 9)]


def test_over_long_cmtrace_record_is_cut_before_the_line_that_exceeds_the_cap() -> None:
    data = b"<![LOG[a\nbbbbbbbb\ncccccccc\ndd]LOG]!><x>\n"
    out = chunked(data, [3, 20], RecordFramer(max_record_bytes=24))
    assert out == [FramedRecord(0, 18, "<![LOG[a\nbbbbbbbb"), FramedRecord(18, 22, "cccccccc\ndd]LOG]!><x>")]


def test_detect_encoding_reads_boms() -> None:
    assert detect_encoding(codecs.BOM_UTF8 + b"x") == ("utf-8", 3)
    assert detect_encoding(codecs.BOM_UTF16_LE + b"x\x00") == ("utf-16-le", 2)
    assert detect_encoding(codecs.BOM_UTF16_BE + b"\x00x") == ("utf-16-be", 2)
    assert detect_encoding(b"plain") == ("utf-8", 0)


def test_fingerprint_waits_for_the_first_line_then_stays_stable_as_the_file_grows() -> None:
    assert file_fingerprint(b"") is None
    assert file_fingerprint(b"\r\n\r\npartial first li") is None
    first = file_fingerprint(b"\r\nfirst line\r\n")
    assert first is not None
    assert file_fingerprint(b"\r\nfirst line\r\nsecond line\r\n" + b"z" * 1000) == first
    assert file_fingerprint(b"\r\nother line\r\n") != first
    assert fingerprint_length(b"\r\nfirst line\r\nmore") == 14
    assert fingerprint_of(b"\r\nfirst line\r\nmore", 14) == first


def test_fingerprint_of_a_file_with_a_long_first_line_uses_its_first_bytes() -> None:
    long_head = b"y" * 300
    assert fingerprint_length(long_head) == 256
    assert file_fingerprint(long_head) == file_fingerprint(long_head + b"\n more")
