"""Decoding the four Forward protocol v1 modes into one spool-ready shape.

A frame arrives as one msgpack array (the connection's streaming `Unpacker` cuts it out):
  Message                  [tag, time, record, options?]
  Forward                  [tag, [[time, record], ...], options?]
  PackedForward            [tag, bin(msgpack [time, record] stream), options?]
  CompressedPackedForward  the same with options {"compressed": "gzip"}; the payload may be
                           several concatenated gzip members.
`time` is an integer, a float, an EventTime (msgpack ext type 0: big-endian uint32 seconds and
uint32 nanoseconds) or, as Fluent Bit 5 sends by default, `[EventTime, {metadata}]`.

Every mode becomes a `ForwardFrame` whose `entries` is the PackedForward form (concatenated
msgpack `[time, record]` arrays, uncompressed): the spool stores it as is and the pipeline
decodes all frames alike. Decoding validates every entry, so a malformed frame is refused
before anything is stored or acknowledged.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

EVENT_TIME_EXT = 0
_EVENT_TIME = struct.Struct(">II")

# Fluent Bit's `fluent_signal` option: 0 = logs; metrics (1) and traces (2) carry no log entries.
SIGNAL_LOGS = 0


class MalformedFrame(ValueError):
    """A frame that is not valid Forward protocol; the message is the reason logged."""


def ext_hook(code: int, data: bytes) -> Any:
    """EventTime (ext 0) becomes float seconds; other extension types stay opaque."""
    if code == EVENT_TIME_EXT and len(data) == _EVENT_TIME.size:
        seconds, nanoseconds = _EVENT_TIME.unpack(data)
        return seconds + nanoseconds / 1e9
    return msgpack.ExtType(code, data)


def pack_event_time(seconds: float) -> msgpack.ExtType:
    """The EventTime ext value for `seconds` (for senders and tests)."""
    whole = int(seconds)
    return msgpack.ExtType(EVENT_TIME_EXT, _EVENT_TIME.pack(whole, round((seconds - whole) * 1e9)))


def new_unpacker(max_buffer_bytes: int) -> msgpack.Unpacker:
    """A streaming unpacker for a connection or a payload, bounded to `max_buffer_bytes`.

    Strings are decoded with `surrogateescape` so invalid UTF-8 (Fluent Bit's raw salt, a
    cp1252 log line) survives and can be turned back into the exact bytes.
    """
    return msgpack.Unpacker(
        # The initial buffer: small, so thousands of mostly idle connections stay cheap.
        read_size=min(max_buffer_bytes, 64 * 1024),
        raw=False,
        unicode_errors="surrogateescape",
        ext_hook=ext_hook,
        max_buffer_size=max_buffer_bytes,
        strict_map_key=False,
    )


def entry_time(value: Any) -> float | None:
    """Seconds since the epoch of an entry's time in any accepted shape; None if not a time."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
        value = value[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, msgpack.Timestamp):
        return value.to_unix()
    return None


def gunzip_members(payload: bytes, max_bytes: int) -> bytes:
    """Decompress one or several concatenated gzip members, refusing more than `max_bytes` out."""
    parts: list[bytes] = []
    produced = 0
    rest = payload
    while rest:
        decompressor = zlib.decompressobj(wbits=31)
        try:
            chunk = decompressor.decompress(rest, max_bytes - produced + 1)
        except zlib.error as exc:
            raise MalformedFrame(f"gzip payload does not decompress: {exc}") from None
        produced += len(chunk)
        if produced > max_bytes or decompressor.unconsumed_tail:
            raise MalformedFrame(f"gzip payload decompresses to more than {max_bytes} bytes")
        if not decompressor.eof:
            raise MalformedFrame("gzip payload is truncated")
        parts.append(chunk)
        rest = decompressor.unused_data
    return b"".join(parts)


LineStream = Callable[[str, dict[str, Any]], tuple[str, int] | None]
# `[time, record]` entries (nil records left out) and whether every string in them was valid UTF-8
# (then no record needs its strings repaired).
Decoded = tuple[list[list[Any]], bool]

# A larger frame's decoded records would cost several times its bytes while it waits for its commit.
KEEP_DECODED_MAX_BYTES = 1_000_000


@dataclass(slots=True)
class ForwardFrame:
    """One decoded frame: entries in PackedForward form, ready for the spool."""

    tag: str
    entries: bytes
    record_count: int
    chunk: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    # Bytes of one-line-per-record text per stream key, for senders whose records need re-framing.
    line_bytes: dict[str, int] = field(default_factory=dict)
    # The sender's address, without the port: a re-sent frame comes on a new connection.
    origin: str = ""
    # The entries as validation decoded them (see `Decoded`), kept for PackedForward frames up to
    # `KEEP_DECODED_MAX_BYTES` so that the pipeline need not decode them again.
    decoded: Decoded | None = None

    @property
    def wants_ack(self) -> bool:
        return self.chunk is not None

    @property
    def is_logs(self) -> bool:
        return self.options.get("fluent_signal", SIGNAL_LOGS) == SIGNAL_LOGS


# Entry times that need no closer look (an EventTime is a float once decoded; a bool is not a time).
_PLAIN_TIME_TYPES = (int, float)


def _check_record(time_value: Any, record: Any) -> dict[str, Any] | None:
    if entry_time(time_value) is None:
        raise MalformedFrame(f"entry time {type(time_value).__name__} is not an integer or EventTime")
    if record is None:
        return None  # fluentd's in_forward skips nil records too
    if not isinstance(record, dict):
        raise MalformedFrame(f"entry record is a {type(record).__name__}, not a map")
    return record


def _note_line(frame: ForwardFrame, line_stream: LineStream | None, record: dict[str, Any]) -> None:
    if line_stream is None:
        return
    found = line_stream(frame.tag, record)
    if found is not None:
        key, size = found
        frame.line_bytes[key] = frame.line_bytes.get(key, 0) + size


def _is_time_with_metadata(value: list[Any]) -> bool:
    """`[EventTime, {metadata}]`: a Message-mode time, not Forward-mode entries (which are arrays)."""
    return len(value) == 2 and isinstance(value[1], dict) and not isinstance(value[0], list)


def _options(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedFrame(f"options is a {type(value).__name__}, not a map")
    return value


def decode_frame(
    message: Any,
    *,
    max_decompressed_bytes: int,
    line_stream: LineStream | None = None,
) -> ForwardFrame:
    """Validate one Forward message and return it as a `ForwardFrame`; raises `MalformedFrame`."""
    if not isinstance(message, list) or not 2 <= len(message) <= 4:
        raise MalformedFrame("a frame must be an array [tag, entries|time, ...] of 2 to 4 elements")
    tag = message[0]
    if not isinstance(tag, str):
        raise MalformedFrame(f"tag is a {type(tag).__name__}, not a string")
    body = message[1]
    packer = msgpack.Packer(use_bin_type=True, unicode_errors="surrogateescape")

    if isinstance(body, list) and not _is_time_with_metadata(body):  # Forward mode
        if len(message) > 3:
            raise MalformedFrame("Forward mode takes [tag, entries, options]")
        frame = ForwardFrame(tag, b"", 0, options=_options(message[2] if len(message) == 3 else None))
        parts: list[bytes] = []
        for entry in body:
            if not isinstance(entry, list) or len(entry) != 2:
                raise MalformedFrame("a Forward entry must be [time, record]")
            record = _check_record(entry[0], entry[1])
            if record is None:
                continue
            _note_line(frame, line_stream, record)
            parts.append(packer.pack(entry))
        frame.entries = b"".join(parts)
        frame.record_count = len(parts)
    elif isinstance(body, bytes | str):  # PackedForward, maybe compressed
        if len(message) > 3:
            raise MalformedFrame("PackedForward mode takes [tag, entries, options]")
        options = _options(message[2] if len(message) == 3 else None)
        payload = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
        compressed = options.get("compressed")
        if compressed == "gzip":
            payload = gunzip_members(payload, max_decompressed_bytes)
        elif compressed not in (None, "text"):
            raise MalformedFrame(f"unknown compression {compressed!r}")
        frame = ForwardFrame(tag, payload, 0, options=options)
        if frame.is_logs:
            entries, valid_utf8 = _validate_packed(frame, payload, line_stream)
            frame.record_count = len(entries)
            if len(payload) <= KEEP_DECODED_MAX_BYTES:
                frame.decoded = entries, valid_utf8
    else:  # Message mode
        if len(message) < 3:
            raise MalformedFrame("Message mode takes [tag, time, record, options]")
        frame = ForwardFrame(tag, b"", 0, options=_options(message[3] if len(message) == 4 else None))
        record = _check_record(body, message[2])
        if record is not None:
            _note_line(frame, line_stream, record)
            frame.entries = packer.pack([body, record])
            frame.record_count = 1
    frame.chunk = frame.options.get("chunk")
    if not frame.is_logs:
        # Metrics or traces from Fluent Bit: acknowledged (the sender must not retry) but not logs.
        frame.entries, frame.record_count, frame.line_bytes, frame.decoded = b"", 0, {}, None
    return frame


def _validate_packed(frame: ForwardFrame, payload: bytes, line_stream: LineStream | None) -> Decoded:
    """The entries of a PackedForward payload, each checked; raises `MalformedFrame`.

    Decoded as `decode_entries` decodes (`_unpack_all`)."""
    kept: list[list[Any]] = []
    try:
        entries, valid_utf8, unpacker = _unpack_all(payload)
        for entry in entries:
            if type(entry) is not list or len(entry) != 2:
                raise MalformedFrame("a PackedForward entry must be [time, record]")
            time_value, record = entry
            # The usual entry (a number or EventTime, then a map) passes without a call.
            if type(record) is not dict or type(time_value) not in _PLAIN_TIME_TYPES:
                record = _check_record(time_value, record)
                if record is None:
                    continue
            if line_stream is not None:
                _note_line(frame, line_stream, record)
            kept.append(entry)
    # TypeError: a map keyed by an array or map is valid msgpack but unhashable in Python.
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
        if isinstance(exc, MalformedFrame):
            raise
        raise MalformedFrame(f"entries are not valid msgpack: {exc}") from None
    try:
        unpacker.read_bytes(1)  # raises while a value is incomplete
    except ValueError:
        raise MalformedFrame("entries end in a truncated msgpack value") from None
    return kept, valid_utf8


def _unpack_all(payload: bytes) -> tuple[list[Any], bool, msgpack.Unpacker]:
    """Every value in `payload`, whether all their strings were valid UTF-8, and the unpacker (which
    tells whether the payload ended inside a value).

    Strict decoding first: a well-formed sender's frame decodes once, at C speed. Only a payload
    holding invalid UTF-8 is decoded again, keeping the bytes as surrogate escapes."""
    unpacker = msgpack.Unpacker(
        raw=False, ext_hook=ext_hook, strict_map_key=False, max_buffer_size=max(len(payload), 1)
    )
    unpacker.feed(payload)
    try:
        return list(unpacker), True, unpacker
    except UnicodeDecodeError:
        unpacker = new_unpacker(max(len(payload), 1))
        unpacker.feed(payload)
        return list(unpacker), False, unpacker


def decode_entries(entries: bytes) -> Decoded:
    """The `[time, record]` entries of a spooled blob (nil records skipped), and whether all their
    strings were valid UTF-8, so that no record needs its strings repaired."""
    values, valid_utf8, _unpacker = _unpack_all(entries)
    return [entry for entry in values if entry[1] is not None], valid_utf8


def iter_entries(entries: bytes) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield `(time, record)` from a spooled entries blob, skipping nil records.

    The time is as decoded (convert it with `entry_time`): most callers never need it."""
    unpacker = new_unpacker(max(len(entries), 1))
    unpacker.feed(entries)
    for time_value, record in unpacker:
        if record is not None:
            yield time_value, record
