"""Property tests: the parser never raises on any bytes, and every byte belongs to one record at most."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.parse import parse_file
from shippers.framing import frame_bytes

# Fragments of every family, so random files often hit the real grammars, not only junk.
_FRAGMENTS = st.sampled_from([
    "$$<", "><", "<thread=", "DB>", "345 (0x159)>", "<![LOG[", "]LOG]!><", 'time="', 'date="', '" ',
    "10:12:01.234", "+420", "-60", "07-26-2002", "7-6-2016 ", "Fri Jul 26 ", "9:05:01.234 2002",
    " Pacific Daylight Time", "~", "STATMSG: ", "GMTDATE=Fri Jul 26 17:12:03.100 2002 ", "ID=1 SEV=E ",
    "[11A][Fri 07/26/2002 10:12:01]:", "error 5", "0x80070005", "\r\n", "\n", " ", "\x00", "\xe9", "\u00fc",
    "<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>",
])
_ENCODED_TEXT = st.tuples(
    st.lists(_FRAGMENTS, max_size=40).map("".join),
    st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "cp1252"]),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]),
).map(lambda parts: parts[2] + parts[0].encode(parts[1], "replace"))
_ANY_BYTES = st.one_of(st.binary(max_size=400), _ENCODED_TEXT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_ANY_BYTES)
def test_any_bytes_parse_without_raising_one_document_per_framed_record(data: bytes, tmp_path: Path) -> None:
    log = tmp_path / "any.log"
    log.write_bytes(data)
    docs = list(parse_file(log, timezone="Pacific Standard Time"))
    framed = list(frame_bytes(data))
    assert [doc["log"]["offset"] for doc in docs] == [record.offset for record in framed]
    assert all(doc["@timestamp"].endswith("Z") for doc in docs)


@settings(max_examples=150, deadline=None)
@given(data=_ANY_BYTES)
def test_every_byte_belongs_to_at_most_one_record_and_the_rest_is_blank(data: bytes) -> None:
    owner = [0] * len(data)
    for record in frame_bytes(data):
        for index in range(record.offset, record.offset + record.length):
            owner[index] += 1
    assert all(count <= 1 for count in owner)
    uncovered = bytes(byte for byte, count in zip(data, owner, strict=True) if count == 0)
    assert uncovered.strip(b" \t\r\n\x0b\x0c\x00\xef\xbb\xbf\xfe\xff") == b""
