"""The pipeline: spool -> re-frame -> parse -> sink, with restarts, dead letters and a store outage."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from parsers.collector.metrics import Metrics
from parsers.collector.pipeline import Pipeline
from parsers.collector.records import line_stream, stream_file_id
from parsers.collector.sinks import NullSink, SinkResult, SinkUnavailable, id_of
from parsers.forward.modes import decode_frame
from parsers.lifecycle.rules import load_rules
from parsers.schema import HeartbeatDocument, LogDocument, document_id
from parsers.spool import Spool, SpoolInput

LEGACY = (
    "SMS_BOOTSTRAP started.  $$<SMS_BOOTSTRAP><Mon Jan 14 10:00:{s:02d}.123 2002 Eastern Standard Time>"
    "<thread=1234 (0x4D2)>"
)
CMTRACE_HEAD = "<![LOG[Installing the secondary site"
CMTRACE_TAIL = (
    ']LOG]!><time="10:00:01.000+300" date="01-14-2002" component="setup" context="" type="1"'
    ' thread="12" file="x.cpp:1">'
)


def shipper_record(offset: int, text: str, site: str = "S01") -> dict[str, Any]:
    return {
        "type": "record",
        "site": site,
        "host": "SECSRV01",
        "path": "C:/SMS_BOOTSTRAP.log",
        "file_id": "fid1",
        "offset": offset,
        "message": text,
        "encoding": "utf-8",
        "timezone": "Eastern Standard Time",
    }


def spool_frame(spool: Spool, tag: str, records: list[dict[str, Any]]) -> None:
    frame = decode_frame(
        [tag, [[1700000000, record] for record in records]],
        max_decompressed_bytes=10**8,
        line_stream=line_stream,
    )
    assert spool.append([SpoolInput(frame.tag, frame.entries, frame.record_count, frame.line_bytes)])


def run_until(pipeline: Pipeline, done: Callable[[], bool], timeout_s: float = 10) -> None:
    thread = threading.Thread(target=pipeline.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        pipeline.wake.set()
        time.sleep(0.02)
    pipeline.stop()
    thread.join(timeout_s)
    assert done(), "the pipeline did not get there in time"


def new_pipeline(spool: Spool, sink: Any, **options: Any) -> Pipeline:
    return Pipeline(spool, sink, Metrics(), rules=load_rules(), reframe_flush_s=0.2, **options)


def open_spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.sqlite3", max_bytes=10**8, retain_bytes=10**8)


def test_shipper_records_become_valid_documents_with_their_own_ids(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), NullSink()
    spool_frame(spool, "bootwatch.S01", [shipper_record(n * 100, LEGACY.format(s=n)) for n in range(3)])
    documents: list[dict[str, Any]] = []
    original_write = sink.write

    def keep(batch: list[dict[str, Any]]) -> SinkResult:
        documents.extend(batch)
        return original_write(batch)

    sink.write = keep  # type: ignore[method-assign]
    pipeline = new_pipeline(spool, sink)
    run_until(pipeline, lambda: len(sink.ids) == 3)
    for document in documents:
        LogDocument.model_validate(document)
    assert sink.ids == {document_id("S01", "fid1", n * 100) for n in range(3)}
    assert documents[0]["@timestamp"] == "2002-01-14T15:00:00.123Z"
    assert spool.drained_seq == 1


def test_invalid_utf8_in_a_shipper_record_is_read_as_windows_1252(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), NullSink()
    # A sender that put cp1252 bytes in msgpack strings: the unpacker hands them over as
    # surrogate escapes ("\udce9" is the byte 0xE9, "é" in Windows-1252).
    record = shipper_record(0, LEGACY.format(s=1).replace("started.", "started, caf\udce9."))
    record["host"] = "MONTR\udcc9AL-SEC05"
    spool_frame(spool, "bootwatch.S01", [record])
    documents: list[dict[str, Any]] = []
    original_write = sink.write

    def keep(batch: list[dict[str, Any]]) -> SinkResult:
        documents.extend(batch)
        return original_write(batch)

    sink.write = keep  # type: ignore[method-assign]
    run_until(new_pipeline(spool, sink), lambda: len(sink.ids) == 1)
    [document] = documents
    assert document["message"] == "SMS_BOOTSTRAP started, café."
    assert document["host"]["name"] == "MONTRÉAL-SEC05"
    assert b"caf\xc3\xa9" in to_json(document)


def test_lines_of_a_multiline_cmtrace_record_sent_one_per_record_become_one_document(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), NullSink()
    origin = {"site": "S02", "host": "SECSRV02", "path": "C:/ConfigMgrSetup.log"}
    spool_frame(spool, "fluentbit", [{"log": CMTRACE_HEAD, **origin}])
    spool_frame(spool, "fluentbit", [{"log": CMTRACE_TAIL, **origin}, {"log": "plain line", **origin}])
    documents: list[dict[str, Any]] = []
    original_write = sink.write
    sink.write = lambda batch: (documents.extend(batch), original_write(batch))[1]  # type: ignore[method-assign]
    pipeline = new_pipeline(spool, sink)
    run_until(pipeline, lambda: len(sink.ids) == 2)
    first, second = sorted(documents, key=lambda document: document["log"]["offset"])
    assert first["event"]["original"] == CMTRACE_HEAD + "\n" + CMTRACE_TAIL
    assert first["sms"]["log"]["format"] == "cmtrace"
    file_id = stream_file_id("S02\x1fSECSRV02\x1fC:/ConfigMgrSetup.log")
    assert first["sms"]["log"]["file_id"] == second["sms"]["log"]["file_id"] == file_id
    assert second["log"]["offset"] == len(CMTRACE_HEAD) + 1 + len(CMTRACE_TAIL) + 1
    assert second["message"] == "plain line"


def test_a_line_senders_windows_1252_line_says_so_and_a_late_byte_order_mark_is_no_text(
    tmp_path: Path,
) -> None:
    spool, sink = open_spool(tmp_path), NullSink()
    origin = {"site": "S02", "host": "SECSRV02", "path": "C:/SMS/sitecomp.log"}
    # After a sender restarts, a file's first line (with its UTF-8 byte-order mark) can arrive after
    # a later line; and a cp1252 line reaches the unpacker as surrogate escapes ("\udce9" = 0xE9).
    spool_frame(spool, "fluentbit", [{"log": "Second line, caf\udce9 ready", **origin}])
    spool_frame(spool, "fluentbit", [{"log": "\ufeffFirst line of the file", **origin},
                                     {"log": "Third line, café in UTF-8", **origin}])
    documents: list[dict[str, Any]] = []
    original_write = sink.write
    sink.write = lambda batch: (documents.extend(batch), original_write(batch))[1]  # type: ignore[method-assign]
    run_until(new_pipeline(spool, sink), lambda: len(documents) == 3)
    by_message = {document["message"]: document for document in documents}
    assert set(by_message) == {
        "Second line, café ready", "First line of the file", "Third line, café in UTF-8",
    }
    assert by_message["Second line, café ready"]["sms"]["log"]["encoding"] == "cp1252"
    assert by_message["First line of the file"]["event"]["original"] == "First line of the file"
    assert by_message["Third line, café in UTF-8"]["sms"]["log"]["encoding"] == "utf-8"


def test_a_restart_replays_from_the_cursor_and_yields_the_same_ids(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    origin = {"site": "S03", "host": "H", "path": "C:/x.log"}
    for n in range(4):
        spool_frame(spool, "fb", [{"log": f"line {n}", **origin}])
    spool_frame(spool, "fb", [{"log": CMTRACE_HEAD, **origin}])  # held until the stream goes idle
    first_sink = NullSink()
    run_until(new_pipeline(spool, first_sink), lambda: len(first_sink.ids) == 5)
    # A new process: a fresh sink that replays everything retained, as the embedded engine is rebuilt.
    replay_sink = NullSink()
    run_until(new_pipeline(spool, replay_sink, replay_retained=True), lambda: len(replay_sink.ids) == 5)
    assert replay_sink.ids == first_sink.ids


def test_frames_after_the_cursor_are_read_again_after_a_crash_without_duplicates(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool_frame(spool, "bootwatch.S01", [shipper_record(n, LEGACY.format(s=n)) for n in range(5)])
    sink = NullSink()
    run_until(new_pipeline(spool, sink), lambda: len(sink.ids) == 5)
    spool.mark_drained(0)  # as if the process died before moving the cursor
    spool.drained_seq = 0
    again = new_pipeline(spool, sink)
    run_until(again, lambda: again.metrics.records_deduplicated == 5)
    assert len(sink.ids) == 5


def test_bad_records_are_dead_lettered_and_the_stream_goes_on(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), NullSink()
    bad = shipper_record(-5, "x")
    spool_frame(spool, "bootwatch.S01", [bad, {"no": "text"}, shipper_record(0, LEGACY.format(s=1))])
    pipeline = new_pipeline(spool, sink)
    run_until(pipeline, lambda: len(sink.ids) == 1 and len(sink.dead) == 2)
    assert [dead.record for dead in sink.dead] == [bad, {"no": "text"}]
    assert "offset" in sink.dead[0].reason
    assert pipeline.metrics.records_dead_lettered == 2


def heartbeat(offset: int = 10) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "site": "S01",
        "host": "SECSRV01",
        "shipper_version": "0.1.0",
        "files": [{"path": "C:/SMS_BOOTSTRAP.log", "file_id": "fid1", "size": offset, "offset": offset}],
        "queue_bytes": 0,
        "queue_records": 0,
        "heartbeat_s": 30,
    }


def test_heartbeats_become_heartbeat_documents(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), NullSink()
    spool_frame(spool, "bootwatch.heartbeat", [heartbeat()])
    pipeline = new_pipeline(spool, sink)
    run_until(pipeline, lambda: len(sink.heartbeats) == 1)
    document = HeartbeatDocument.model_validate(sink.heartbeats[0])
    assert (document.site, document.host, document.files[0].offset) == ("S01", "SECSRV01", 10)


class FlakySink(NullSink):
    """A store that is down for its first `down_for` writes (a real outage is tested end to end)."""

    def __init__(self, down_for: int) -> None:
        super().__init__()
        self.down_for = down_for

    def write(self, documents: list[dict[str, Any]]) -> SinkResult:
        if self.down_for > 0:
            self.down_for -= 1
            raise SinkUnavailable("connection refused")
        return super().write(documents)


def test_the_cursor_waits_while_the_sink_is_down(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), FlakySink(down_for=2)
    spool_frame(spool, "bootwatch.S01", [shipper_record(0, LEGACY.format(s=1))])
    pipeline = new_pipeline(spool, sink, retry_max_s=0.05)
    run_until(pipeline, lambda: len(sink.ids) == 1)
    assert pipeline.metrics.store_errors == 2
    assert spool.stats().pending_frames == 0


def test_ids_match_the_store_writer_ids(tmp_path: Path) -> None:
    document = {"sms": {"site": {"code": "S01"}, "log": {"file_id": "f"}}, "log": {"offset": 7}}
    assert id_of(document) == document_id("S01", "f", 7)


def test_the_parser_look_ahead_is_released_within_its_bound_on_a_busy_stream(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), NullSink()
    spool_frame(spool, "bootwatch.S01", [shipper_record(n, LEGACY.format(s=n)) for n in range(10)])
    # Idle flushing is far away: only the look-ahead bound can release the held records.
    pipeline = Pipeline(spool, sink, Metrics(), rules=None, reframe_flush_s=100.0, lookahead_max_s=0.2)
    started = time.monotonic()
    run_until(pipeline, lambda: len(sink.ids) == 10, timeout_s=5)
    assert time.monotonic() - started < 2.0
    assert spool.drained_seq == 1


class TimedSink(NullSink):
    """A store taking `write_s` per write (heartbeats are written without any hold-back of the
    parser, so each frame's heartbeat is ready at once); notes when each write started and its size."""

    def __init__(self, write_s: float) -> None:
        super().__init__()
        self.write_s = write_s
        self.writes: list[tuple[float, int]] = []

    def write_heartbeats(self, heartbeats: list[dict[str, Any]]) -> None:
        self.writes.append((time.monotonic(), len(heartbeats)))
        time.sleep(self.write_s)
        super().write_heartbeats(heartbeats)


def spool_beats_while_running(pipeline: Pipeline, spool: Spool, count: int, every_s: float) -> None:
    """Run the pipeline while `count` one-heartbeat frames arrive `every_s` apart; until all are written."""
    thread = threading.Thread(target=pipeline.run, daemon=True)
    thread.start()
    try:
        for n in range(count):
            spool_frame(spool, "bootwatch.heartbeat", [heartbeat(n)])
            pipeline.wake.set()
            time.sleep(every_s)
        deadline = time.monotonic() + 5
        while len(pipeline.sink.heartbeats) < count and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        pipeline.stop()
        thread.join(5)


def test_records_arriving_while_the_store_is_busy_go_out_in_one_later_write(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), TimedSink(write_s=0.6)
    spool_beats_while_running(new_pipeline(spool, sink), spool, count=6, every_s=0.05)
    assert [beat["files"][0]["offset"] for beat in sink.heartbeats] == list(range(6))
    # The first frame goes out at once; all those arriving during that write go out in the next one.
    assert len(sink.writes) == 2


def test_writes_to_the_store_are_spaced_by_the_store_interval(tmp_path: Path) -> None:
    spool, sink = open_spool(tmp_path), TimedSink(write_s=0.0)
    spool_beats_while_running(new_pipeline(spool, sink, store_interval_s=0.3), spool, count=4, every_s=0.1)
    assert sum(size for _started, size in sink.writes) == 4
    starts = [started for started, _size in sink.writes]
    assert len(starts) < 4
    assert all(later - earlier >= 0.29 for earlier, later in itertools.pairwise(starts))
