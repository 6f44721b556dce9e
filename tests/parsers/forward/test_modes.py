"""Decoding of the four Forward modes, EventTime, metadata entries, options and gzip payloads."""

from __future__ import annotations

import gzip
import struct

import msgpack
import pytest

from parsers.forward.modes import (
    MalformedFrame,
    decode_entries,
    decode_frame,
    entry_time,
    gunzip_members,
    iter_entries,
    pack_event_time,
)

LIMIT = 64 * 1024 * 1024


def event_time(seconds: int, nanoseconds: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanoseconds))


def packed(entries: list[list[object]]) -> bytes:
    return b"".join(msgpack.packb(entry) for entry in entries)


def roundtrip(message: list[object]) -> object:
    """What the connection's unpacker hands the decoder: packed, then unpacked like the server does."""
    from parsers.forward.modes import new_unpacker

    unpacker = new_unpacker(LIMIT)
    unpacker.feed(msgpack.packb(message, use_bin_type=True))
    return next(unpacker)


def timed(entries: bytes) -> list[tuple[float | None, dict[str, object]]]:
    return [(entry_time(time_value), record) for time_value, record in iter_entries(entries)]


def test_message_mode_with_options_keeps_chunk_and_record() -> None:
    frame = decode_frame(
        roundtrip(["app", 1700000000, {"log": "x"}, {"chunk": "abc=="}]), max_decompressed_bytes=LIMIT
    )
    assert frame.tag == "app"
    assert frame.chunk == "abc=="
    assert timed(frame.entries) == [(1700000000.0, {"log": "x"})]


def test_forward_mode_decodes_event_time_to_nanoseconds() -> None:
    message = [
        "app",
        [[event_time(1700000000, 500_000_000), {"a": 1}], [event_time(1700000001, 0), {"a": 2}]],
    ]
    frame = decode_frame(roundtrip(message), max_decompressed_bytes=LIMIT)
    assert frame.record_count == 2
    assert timed(frame.entries) == [(1700000000.5, {"a": 1}), (1700000001.0, {"a": 2})]


def test_entries_with_metadata_time_as_fluent_bit_5_sends_them_are_accepted() -> None:
    entry = [[event_time(1700000000, 0), {"otlp": {"x": 1}}], {"log": "line"}]
    frame = decode_frame(roundtrip(["app", [entry], {"size": 1}]), max_decompressed_bytes=LIMIT)
    ((seconds, record),) = timed(frame.entries)
    assert (seconds, record) == (1700000000.0, {"log": "line"})


def test_message_mode_with_a_metadata_time_is_not_taken_for_forward_mode() -> None:
    message = ["app", [event_time(1700000000, 0), {"m": 1}], {"log": "x"}, {"chunk": "c"}]
    frame = decode_frame(roundtrip(message), max_decompressed_bytes=LIMIT)
    assert timed(frame.entries) == [(1700000000.0, {"log": "x"})]
    assert frame.chunk == "c"


def test_packed_forward_is_stored_as_sent() -> None:
    payload = packed([[1, {"a": 1}], [2, {"a": 2}], [3, {"a": 3}]])
    frame = decode_frame(
        roundtrip(["app", payload, {"size": 3, "chunk": b"\x00\xff"}]), max_decompressed_bytes=LIMIT
    )
    assert frame.entries == payload
    assert frame.record_count == 3
    assert frame.chunk == b"\x00\xff"


def test_compressed_packed_forward_with_concatenated_gzip_members() -> None:
    first, second = packed([[1, {"n": 1}]] * 3), packed([[2, {"n": 2}]] * 2)
    payload = gzip.compress(first) + gzip.compress(second)
    frame = decode_frame(roundtrip(["app", payload, {"compressed": "gzip"}]), max_decompressed_bytes=LIMIT)
    assert frame.record_count == 5
    assert frame.entries == first + second


def test_array32_headers_on_short_arrays_are_valid_msgpack() -> None:
    # dd = array32: [tag, [[1, {}]]] written with 5-byte headers as some senders do
    entry = b"\xdd\x00\x00\x00\x02" + b"\x01" + b"\x81\xa1k\xa1v"
    message = b"\xdd\x00\x00\x00\x02" + b"\xa3app" + b"\xdd\x00\x00\x00\x01" + entry
    frame = decode_frame(msgpack.unpackb(message), max_decompressed_bytes=LIMIT)
    assert timed(frame.entries) == [(1.0, {"k": "v"})]


def test_gzip_bomb_beyond_the_limit_is_malformed() -> None:
    payload = gzip.compress(b"\x00" * 2_000_000)
    with pytest.raises(MalformedFrame, match="more than"):
        gunzip_members(payload, 1_000_000)


def test_truncated_gzip_is_malformed() -> None:
    payload = gzip.compress(packed([[1, {"a": 1}]] * 100))
    with pytest.raises(MalformedFrame):
        decode_frame(["app", payload[:-12], {"compressed": "gzip"}], max_decompressed_bytes=LIMIT)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("just a string", "array"),
        ([1, []], "tag"),
        (["app", [[1]]], "entry"),
        (["app", [["not a time", {}]]], "entry time"),
        (["app", [[1, "not a map"]]], "not a map"),
        (["app", 1, {"a": 1}, "options not a map"], "options"),
        (["app", b"\x92\x01", {}], "truncated"),
        (["app", b"x", {"compressed": "zstd"}], "compression"),
    ],
)
def test_malformed_frames_name_their_reason(message: object, reason: str) -> None:
    with pytest.raises(MalformedFrame, match=reason):
        decode_frame(message, max_decompressed_bytes=LIMIT)


def test_non_log_signals_are_acknowledged_but_carry_no_records() -> None:
    frame = decode_frame(
        ["metrics", b"\x01\x02", {"fluent_signal": 1, "chunk": "c"}], max_decompressed_bytes=LIMIT
    )
    assert frame.wants_ack and frame.record_count == 0 and frame.entries == b""


def test_line_streams_are_measured_per_key() -> None:
    def stream(tag: str, record: dict[str, object]) -> tuple[str, int] | None:
        text = record.get("log")
        return (str(record["path"]), len(str(text).encode()) + 1) if text is not None else None

    entries = [
        [1, {"log": "ab", "path": "p1"}],
        [1, {"log": "cde", "path": "p1"}],
        [1, {"log": "", "path": "p2"}],
    ]
    frame = decode_frame(["app", entries], max_decompressed_bytes=LIMIT, line_stream=stream)
    assert frame.line_bytes == {"p1": 7, "p2": 1}


def test_entry_time_accepts_integers_floats_event_time_and_metadata_pairs() -> None:
    assert entry_time(5) == 5.0
    assert entry_time(2.5) == 2.5
    assert entry_time([7.25, {"m": 1}]) == 7.25
    assert entry_time(msgpack.Timestamp(3, 0)) == 3.0
    assert entry_time("5") is None
    assert entry_time(True) is None


def test_pack_event_time_round_trips_through_the_decoder() -> None:
    packed_time = msgpack.packb(pack_event_time(1700000000.25))
    assert msgpack.unpackb(packed_time, ext_hook=lambda code, data: struct.unpack(">II", data)) == (
        1700000000,
        250_000_000,
    )


def test_packed_forward_keeps_its_validated_entries_and_says_when_text_is_not_utf8() -> None:
    clean = packed([[1, {"log": "café"}], [2, None], [3, {"log": "b"}]])
    frame = decode_frame(roundtrip(["app", clean]), max_decompressed_bytes=LIMIT)
    assert frame.decoded == ([[1, {"log": "café"}], [3, {"log": "b"}]], True)
    # Windows-1252 bytes in a msgpack string, as a cp1252 log line arrives from Fluent Bit.
    raw = b"\x92\x01\x81\xa3log\xa4caf\xe9"
    frame = decode_frame(roundtrip(["app", raw]), max_decompressed_bytes=LIMIT)
    assert frame.decoded == ([[1, {"log": "caf\udce9"}]], False)
    assert decode_entries(raw) == frame.decoded
