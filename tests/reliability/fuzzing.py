"""Bad-input fuzzing of the Forward-protocol decoder and the log parsers (hypothesis).

Two properties, each checked per generated input:
- `check_forward_input`: bytes off the wire (valid frames of every mode, mutated ones, garbage)
  go through the connection's unpacker and `decode_frame`. Every message either becomes a
  `ForwardFrame` whose entries decode to exactly `record_count` records, or is refused with
  `MalformedFrame`; nothing else may escape, and nothing hangs (bounded buffers, a deadline).
- `check_log_bytes`: any bytes, as a log file, are framed (`frame_bytes`) and parsed
  (`StreamParser`); every framed record comes out as exactly one `LogDocument`-valid document at
  its own offset, so every record is accounted for (a record the store then refuses is
  dead-lettered by the writer, which the crash scenario covers).

`run_fuzz` runs both for a number of cases and counts failures instead of stopping at the first,
for `bench/reliability.py` and the long test; the short tests use the checks under `@given`.
"""

from __future__ import annotations

import gzip
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from parsers.forward.modes import MalformedFrame, decode_frame, iter_entries, new_unpacker, pack_event_time
from parsers.parse import StreamParser
from parsers.schema import LogDocument
from shippers.framing import frame_bytes

MAX_BUFFER_BYTES = 1 << 20
MAX_DECOMPRESSED_BYTES = 1 << 20
CASE_DEADLINE_S = 5.0

# ------------------------------------------------------------------------------------ Forward inputs

_times = st.one_of(
    st.integers(0, 2**32 - 1),
    st.floats(0, 2**31, allow_nan=False),
    st.builds(pack_event_time, st.floats(0, 2**31, allow_nan=False)),
    st.builds(lambda seconds: [pack_event_time(seconds), {}], st.floats(0, 2**31, allow_nan=False)),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=40),
)
_records = st.one_of(
    st.fixed_dictionaries(
        {"log": st.text(max_size=200)}, optional={"path": st.text(max_size=20), "site": st.text(max_size=5)}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("record"),
            "site": st.text(max_size=5),
            "file_id": st.text(max_size=8),
            "offset": st.integers(0, 2**40),
            "message": st.text(max_size=200),
        }
    ),
    st.dictionaries(st.text(max_size=8), _scalars, max_size=5),
    _scalars,  # not a map: a malformed entry
)
_entries = st.lists(st.tuples(_times, _records).map(list), max_size=8)
_options = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "chunk": st.text(max_size=24),
            "size": st.integers(0, 100),
            "fluent_signal": st.integers(0, 2),
            "compressed": st.sampled_from(["gzip", "text", "zstd"]),
        },
    ),
    _scalars,
)
_tags = st.one_of(st.text(max_size=20), st.sampled_from(["bootwatch.S01", "bootwatch.heartbeat"]), _scalars)


@st.composite
def forward_messages(draw: st.DrawFn) -> Any:
    """One Forward message of any mode, valid or not (as an object, before packing)."""
    mode = draw(st.sampled_from(["message", "forward", "packed", "compressed", "other"]))
    tag = draw(_tags)
    options = draw(_options)
    if mode == "message":
        message = [tag, draw(_times), draw(_records)]
    elif mode == "forward":
        message = [tag, draw(_entries)]
    elif mode in ("packed", "compressed"):
        payload = b"".join(msgpack.packb(entry) for entry in draw(_entries))
        if draw(st.booleans()):  # truncated or with garbage appended
            payload = payload[: draw(st.integers(0, len(payload)))] + draw(st.binary(max_size=8))
        if mode == "compressed":
            members = draw(st.integers(1, 3))
            payload = b"".join(gzip.compress(payload) for _ in range(members))
            options = {**(options if isinstance(options, dict) else {}), "compressed": "gzip"}
        message = [tag, payload]
    else:
        message = draw(st.lists(_scalars, max_size=5))
    if options is not None and mode != "other":
        message.append(options)
    return message


@st.composite
def forward_wire_bytes(draw: st.DrawFn) -> bytes:
    """Bytes as a connection receives them: packed messages, maybe cut or spliced with garbage."""
    data = b"".join(
        msgpack.packb(message, use_bin_type=draw(st.booleans()))
        for message in draw(st.lists(forward_messages(), min_size=1, max_size=3))
    )
    cut = draw(st.sampled_from(["whole", "truncated", "garbage", "flipped"]))
    if cut == "truncated":
        data = data[: draw(st.integers(0, len(data)))]
    elif cut == "garbage":
        data += draw(st.binary(min_size=1, max_size=64))
    elif cut == "flipped" and data:
        position = draw(st.integers(0, len(data) - 1))
        data = data[:position] + bytes([data[position] ^ draw(st.integers(1, 255))]) + data[position + 1 :]
    return data


def check_forward_input(data: bytes) -> int:
    """Feed `data` to a connection-style unpacker and decode every message; the messages decoded.

    Raises AssertionError when the decoder breaks its contract."""
    unpacker = new_unpacker(MAX_BUFFER_BYTES)
    unpacker.feed(data)
    decoded = 0
    deadline = time.monotonic() + CASE_DEADLINE_S
    while True:
        assert time.monotonic() < deadline, "decoding did not finish in time"
        try:
            message = next(unpacker)
        except StopIteration:
            return decoded  # a truncated tail waits for more bytes, as on a live connection
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            # The server closes such a connection: invalid msgpack, or a map keyed by an array.
            return decoded
        try:
            frame = decode_frame(message, max_decompressed_bytes=MAX_DECOMPRESSED_BYTES)
        except MalformedFrame:
            decoded += 1
            continue
        records = list(iter_entries(frame.entries)) if frame.entries else []
        assert len(records) == frame.record_count, (len(records), frame.record_count)
        assert all(isinstance(record, dict) for _time, record in records)
        decoded += 1


# ---------------------------------------------------------------------------------------- log inputs

_LOG_FRAGMENTS = [
    "Starting SMS_BOOTSTRAP  $$<SMS_BOOTSTRAP><Mon Jan 14 10:02:03.123 2002 Eastern Standard Time>"
    "<thread=1234 (0x4D2)>",
    "Setup failed  $$<SMS_BOOTSTRAP><01-14-2002 10:02:03.123+300><thread=12 (0xC)>",
    '<![LOG[Installing]LOG]!><time="10:12:01.234+420" date="07-26-2002" component="setup" context="" '
    'type="3" thread="1" file="x.cpp:1">',
    "<![LOG[multi",
    'line]LOG]!><time="1:2:3.4+0" date="1-2-2003" component="c" type="1">',
    "01-14-2002 10:02:03 Setup has encountered fatal errors",
    "[12][Mon 01/14/2002 10:02:03]:provider message",
    'STATMSG: ID=1234 SEV=E LEV=M SOURCE="SMS Server" COMP="SMS_BOOTSTRAP" SYS=SECSRV SITE=S02 '
    "PID=1 TID=2 GMTDATE=Mon Jan 14 15:02:03.123 2002",
    "<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>",
    "Win32 error = 5",
    "~~  $$<X><>",
]
_line_breaks = st.sampled_from(["\n", "\r\n", "\r", "", "\n\n"])


@st.composite
def log_bytes(draw: st.DrawFn) -> bytes:
    """A log file's bytes: format-shaped lines, random text, BOMs, random encodings or raw bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=600))
    parts = draw(st.lists(st.one_of(st.sampled_from(_LOG_FRAGMENTS), st.text(max_size=80)), max_size=12))
    text = "".join(part + draw(_line_breaks) for part in parts)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    return data


def check_log_bytes(data: bytes) -> int:
    """Frame and parse `data` as one file; the number of records. AssertionError on a broken contract."""
    deadline = time.monotonic() + CASE_DEADLINE_S
    records = list(frame_bytes(data))
    parser = StreamParser(
        site="S01",
        host="SECSRV01",
        path="C:/SMS_BOOTSTRAP.log",
        file_id="fuzz",
        timezone="Eastern Standard Time",
    )
    documents = []
    for record in records:
        documents.extend(parser.push(record))
        assert time.monotonic() < deadline, "parsing did not finish in time"
    documents.extend(parser.close())
    assert [doc["log"]["offset"] for doc in documents] == [record.offset for record in records]
    for document in documents:
        LogDocument.model_validate(document)
    return len(records)


# ---------------------------------------------------------------------------------------- counting


@dataclass
class FuzzReport:
    cases: int = 0
    failures: int = 0
    examples: list[str] = field(default_factory=list)  # the first few failures, for the report


def _counting(check: Callable[[bytes], int], report: FuzzReport) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        report.cases += 1
        try:
            check(data)
        except Exception as exc:  # every failure is counted and kept, not only the first
            report.failures += 1
            if len(report.examples) < 5:
                report.examples.append(f"{type(exc).__name__}: {exc} on {data[:80]!r}")

    return run


def _corpus() -> tuple[list[bytes], list[bytes]]:
    """Valid inputs the mutation fuzzer starts from: frames of every mode, and log files."""
    record = {
        "type": "record",
        "site": "S01",
        "host": "SECSRV01",
        "path": "C:/SMS_BOOTSTRAP.log",
        "file_id": "f1",
        "offset": 0,
        "message": _LOG_FRAGMENTS[0],
        "encoding": "utf-8",
        "timezone": "Eastern Standard Time",
    }
    line = {"log": _LOG_FRAGMENTS[2], "path": "C:/SMS_BOOTSTRAP.log", "site": "S01", "host": "SECSRV01"}
    entries = [[pack_event_time(1.5e9), record], [1_500_000_000, line], [[pack_event_time(1.5e9), {}], line]]
    packed = b"".join(msgpack.packb(entry) for entry in entries)
    frames = [
        ["bootwatch.S01", pack_event_time(1.5e9), line, {"chunk": "c1"}],
        ["bootwatch.S01", entries, {"chunk": "c2", "size": 3}],
        ["bootwatch.S01", packed, {"chunk": "c3", "size": 3}],
        [
            "bootwatch.S01",
            gzip.compress(packed) + gzip.compress(packed),
            {"compressed": "gzip", "chunk": "c4"},
        ],
        ["bootwatch.heartbeat", [[1_500_000_000, {"type": "heartbeat", "site": "S01", "files": []}]]],
    ]
    forward = [msgpack.packb(frame, use_bin_type=True) for frame in frames]
    # Two lines per log input keeps a case cheap; splices between inputs make longer mixed ones.
    pairs = ["\r\n".join(pair) + "\r\n" for pair in itertools.pairwise(_LOG_FRAGMENTS)]
    logs = [
        encoded
        for text in pairs
        for encoded in (
            text.encode("utf-8"),
            text.encode("utf-8-sig"),
            b"\xff\xfe" + text.encode("utf-16-le"),
            text.encode("cp1252", errors="replace"),
        )
    ]
    return forward, logs


# msgpack type bytes that make a mutation interesting: containers, huge lengths, ext, never-used 0xc1.
_INTERESTING = bytes(
    [0x80, 0x8F, 0x90, 0x9F, 0xC1, 0xC4, 0xC6, 0xC7, 0xD4, 0xD8, 0xDC, 0xDD, 0xDE, 0xDF, 0xFF, 0x00]
)


def mutate(data: bytes, others: list[bytes], rng: random.Random) -> bytes:
    """1 to 4 random edits: flips, inserted bytes, deletions, duplications, truncation, splices."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randint(0, len(buffer))
        operation = rng.randrange(7)
        if operation == 0 and buffer:
            index = min(position, len(buffer) - 1)
            buffer[index] ^= 1 << rng.randrange(8)
        elif operation == 1:
            buffer[position:position] = rng.randbytes(rng.randint(1, 8))
        elif operation == 2:
            del buffer[position : position + rng.randint(1, 16)]
        elif operation == 3:
            buffer[position:position] = buffer[position : position + rng.randint(1, 64)]
        elif operation == 4:
            del buffer[position:]
        elif operation == 5:
            other = rng.choice(others)
            start = rng.randint(0, len(other))
            buffer[position:position] = other[start : start + rng.randint(1, 128)]
        else:
            buffer[position:position] = bytes([rng.choice(_INTERESTING)])
    return bytes(buffer)


def run_fuzz(hypothesis_cases: int, mutation_cases: int, random_seed: int = 1) -> FuzzReport:
    """Run both checks on generated inputs and count cases and failures (never stopping at the first).

    `hypothesis_cases` structured inputs (valid and broken frames of every mode, format-shaped logs in
    every encoding), split between the checks, then `mutation_cases` cheap byte-level mutations of a
    corpus of valid inputs (about a hundred times faster to generate than hypothesis' structured ones,
    which is what makes a million inputs fit in a long run)."""
    report = FuzzReport()
    if hypothesis_cases:
        tuned = settings(
            max_examples=max(1, hypothesis_cases // 2),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        for strategy, check in ((forward_wire_bytes(), check_forward_input), (log_bytes(), check_log_bytes)):
            body = seed(random_seed)(tuned(given(strategy)(_counting(check, report))))
            body()
    rng = random.Random(random_seed)
    forward, logs = _corpus()
    run_forward = _counting(check_forward_input, report)
    run_log = _counting(check_log_bytes, report)
    for case in range(mutation_cases):
        if case % 2:
            run_log(mutate(rng.choice(logs), logs, rng))
        else:
            run_forward(mutate(rng.choice(forward), forward, rng))
    return report
