"""StreamParser behaviour the fixtures cannot show: look-ahead, time-less records, pushes, rules."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parsers.lifecycle.rules import load_rules
from parsers.parse import HEAD_SIZE, MAX_HELD_RECORDS, StreamParser, parse_file
from parsers.schema import LogDocument, RawRecord
from shippers.framing import FramedRecord

STATMSG = ('STATMSG: ID=4001 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_BOOTSTRAP" SYS=SEC02 SITE=S02 '
           "GMTDATE=Fri Jul 26 17:12:03.100 2002 NUMATTRS=0  $$<SMS_BOOTSTRAP><Fri Jul 26 10:12:03.101 2002>"
           "<thread=345 (0x159)>")


def _zoneless(second: int, message: str = "Working") -> str:
    return f"{message}  $$<SMS_BOOTSTRAP><Fri Jul 26 10:12:{second:02d}.000 2002><thread=345 (0x159)>"


def _parser(**options: object) -> StreamParser:
    settings: dict[str, object] = {"site": "S02", "host": "SEC02", "path": r"C:\Sms_bootstrap.log",
                                   "file_id": "f1", "timezone": None}
    settings.update(options)
    return StreamParser(**settings)  # type: ignore[arg-type]


def _push_all(parser: StreamParser, texts: list[str]) -> list[dict]:
    docs: list[dict] = []
    for index, text in enumerate(texts):
        docs.extend(parser.push(FramedRecord(index * 100, 100, text)))
    return docs + parser.close()


def test_records_before_the_first_statmsg_in_the_window_get_its_zone_correction() -> None:
    parser = _parser()
    first = parser.push(FramedRecord(0, 90, _zoneless(1)))
    assert first == [] and parser.pending == 1
    released = parser.push(FramedRecord(90, 200, STATMSG))
    assert [doc["@timestamp"] for doc in released] == ["2002-07-26T17:12:01.000Z", "2002-07-26T17:12:03.101Z"]
    assert {doc["event"]["timezone"] for doc in released} == {"-07:00"}
    later = parser.push(FramedRecord(290, 90, _zoneless(9)))
    assert later[0]["@timestamp"] == "2002-07-26T17:12:09.000Z"


def test_records_released_before_a_statmsg_keep_the_host_zone() -> None:
    parser = _parser(lookahead_records=1)
    early = parser.push(FramedRecord(0, 90, _zoneless(1)))
    assert early[0]["@timestamp"] == "2002-07-26T10:12:01.000Z" and early[0]["event"]["timezone"] == "UTC"
    docs = _push_all(parser, [STATMSG, _zoneless(9)])
    assert [doc["event"]["timezone"] for doc in docs] == ["-07:00", "-07:00"]


def test_flush_releases_held_records_and_ends_the_window() -> None:
    parser = _parser()
    assert parser.push(FramedRecord(0, 90, _zoneless(1))) == []
    assert len(parser.flush()) == 1
    assert len(parser.push(FramedRecord(90, 90, _zoneless(2)))) == 1


def test_timeless_record_at_the_start_takes_the_next_records_time() -> None:
    docs = _push_all(_parser(lookahead_records=0), ["free text", "more free text", _zoneless(5)])
    assert [doc["@timestamp"] for doc in docs] == ["2002-07-26T10:12:05.000Z"] * 3
    assert [doc["sms"]["log"]["format"] for doc in docs] == ["plain", "plain", "sms_legacy"]
    assert [doc["log"]["offset"] for doc in docs] == [0, 100, 200]


def test_stream_without_any_time_uses_the_ship_time_then_the_fallback_time() -> None:
    shipped = datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    parser = _parser(fallback_time=datetime(2019, 5, 6, 7, 8, 9, tzinfo=UTC))
    record = RawRecord(path="x.log", file_id="f1", offset=0, text="no time", shipped_at=shipped)
    assert parser.push(record) == []
    assert parser.push(FramedRecord(10, 5, "nor here")) == []
    docs = parser.close()
    assert [doc["@timestamp"] for doc in docs] == ["2020-01-02T03:04:05.678Z", "2019-05-06T07:08:09.000Z"]
    assert {doc["event"]["timezone"] for doc in docs} == {"UTC"}


def test_file_of_only_plain_lines_is_stamped_with_its_modification_time(tmp_path: Path) -> None:
    log = tmp_path / "notes.log"
    log.write_bytes(b"first line of free text\r\nsecond line\r\n")
    moment = datetime(2003, 4, 5, 6, 7, 8, tzinfo=UTC).timestamp()
    os.utime(log, (moment, moment))
    docs = list(parse_file(log))
    assert [doc["@timestamp"] for doc in docs] == ["2003-04-05T06:07:08.000Z"] * 2
    assert [doc["log"]["offset"] for doc in docs] == [0, 25]


@pytest.mark.parametrize("before_boundary", [1, 40, 200])
def test_a_windows_1252_record_across_a_read_boundary_says_so(tmp_path: Path, before_boundary: int) -> None:
    # The record's only non-ASCII byte is read with the file's head, its end (and the next read's
    # bytes that follow, all ASCII) with the next read.
    ascii_line = _zoneless(1).encode("ascii") + b"\r\n"
    filler_count = (HEAD_SIZE - before_boundary) // len(ascii_line)
    filler = ascii_line * filler_count
    gap = b"x" * (HEAD_SIZE - before_boundary - len(filler))
    odd = gap + b"Caf\xe9 " + _zoneless(2, "installed").encode("ascii") + b"\r\n"
    log = tmp_path / "hman.log"
    log.write_bytes(filler + odd + ascii_line * 3)
    docs = list(parse_file(log))
    assert len(docs) == filler_count + 4
    record = docs[filler_count]
    assert record["message"].startswith("x" * len(gap) + "Caf\u00e9 installed")
    assert record["log"]["offset"] == len(filler)
    assert [doc["sms"]["log"]["encoding"] for doc in docs[filler_count - 1:]] == [
        "utf-8", "cp1252", "utf-8", "utf-8", "utf-8"]


def test_raw_record_encoding_is_reported_per_record() -> None:
    parser = _parser(lookahead_records=0)
    docs = parser.push(RawRecord(path="x.log", file_id="f1", offset=0, text=_zoneless(1), encoding="cp1252"))
    assert docs[0]["sms"]["log"]["encoding"] == "cp1252"


def test_rules_set_the_lifecycle_action() -> None:
    parser = _parser(rules=load_rules(), lookahead_records=0)
    docs = _push_all(parser, [_zoneless(1, "ERROR - Setup has encountered fatal errors"), _zoneless(2)])
    assert docs[0]["event"]["action"] == "install.failed"
    assert "action" not in docs[1]["event"]


def test_documents_validate_against_the_schema_whatever_the_family() -> None:
    texts = [
        _zoneless(1),
        '<![LOG[Hello]LOG]!><time="10:12:01.234+420" date="07-26-2002" component="X" context="" type="1" '
        'thread="1" file="">',
        "06-21-1999 15:45:51 Cannot find any PDC for domain XXXX, Win32 return = 2453",
        "[11A][Fri 07/26/2002 10:12:01]:Reading setup parameters",
        STATMSG,
        "plain",
    ]
    for doc in _push_all(_parser(), texts):
        LogDocument.model_validate(doc)


def test_timeless_records_waiting_for_a_time_stay_bounded() -> None:
    parser = _parser(lookahead_records=0, fallback_time=datetime(2019, 5, 6, tzinfo=UTC))
    released: list[dict] = []
    for index in range(MAX_HELD_RECORDS + 5):
        released += parser.push(FramedRecord(index, 1, "x"))
    assert len(released) == MAX_HELD_RECORDS and parser.pending == 5
    assert released[0]["@timestamp"] == "2019-05-06T00:00:00.000Z"
