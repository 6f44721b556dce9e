"""The collector's pipeline: spool -> re-frame -> parse (normalize + classify) -> sink.

Runs on two threads: one reads committed frames in spool order and parses them, the other stores
the previous batch meanwhile (parsing is CPU, storing is waiting on the store). Records of the
bootwatch shipper are whole already and go straight to a `StreamParser` per file; line-per-record
senders' lines are re-framed per stream by `RecordFramer` first (a multi-line CMTrace record becomes
one document).
Heartbeats become `bootwatch-heartbeats` documents; a record that cannot be read is dead-lettered
with its reason, and the stream goes on.

The spool cursor only moves to a point before which nothing is still held in memory (a framer's
partial record, a parser's look-ahead): after a crash, the frames after the cursor are read again
and re-produce the same records with the same ids, which the sink de-duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from parsers.collector.metrics import Metrics
from parsers.collector.records import (
    is_heartbeat,
    is_shipper_record,
    is_utf8,
    line_stream,
    line_text,
    repaired,
    site_of,
    split_stream_key,
    stream_file_id,
)
from parsers.collector.sinks import DeadRecord, Sink, SinkUnavailable
from parsers.forward.modes import decode_entries, entry_time
from parsers.lifecycle.rules import Rules
from parsers.parse import StreamParser
from parsers.schema import HeartbeatDocument
from parsers.spool import Spool, SpooledFrame
from shippers.framing import CP1252, FramedRecord, RecordFramer

log = logging.getLogger(__name__)

Document = dict[str, Any]
# Streams idle this many flush periods are forgotten (their parser state released).
EVICT_AFTER_FLUSHES = 12


@dataclass(slots=True)
class _Stream:
    parser: StreamParser
    framer: RecordFramer | None = None
    expected_offset: int = -1
    last_seen: float = 0.0
    # Oldest spool seq whose records this stream may still hold in memory; None = holds nothing.
    held_since: int | None = None
    # When the parser's look-ahead started holding records (monotonic); None = holds none.
    lookahead_since: float | None = None
    # Offsets of lines not yet framed whose bytes are not UTF-8: the framer reads their records as
    # Windows-1252, which `sms.log.encoding` must say.
    cp1252_lines: deque[int] = field(default_factory=deque)


@dataclass(slots=True)
class _Batch:
    documents: list[Document] = field(default_factory=list)
    heartbeats: list[Document] = field(default_factory=list)
    dead: list[DeadRecord] = field(default_factory=list)
    # Where the spool cursor may move once this batch is stored, and when its newest frame arrived.
    drained_to: int = 0
    received_at: float = 0.0
    sweep_sites: bool = False

    @property
    def has_work(self) -> bool:
        return bool(self.documents or self.heartbeats or self.dead or self.sweep_sites)

    @property
    def is_empty(self) -> bool:
        """Nothing to store and no cursor move: not worth a delivery."""
        return not self.has_work and self.drained_to == 0

    def absorb(self, later: _Batch) -> None:
        """Append a batch parsed after this one (its cursor and arrival time are the newer ones)."""
        self.documents.extend(later.documents)
        self.heartbeats.extend(later.heartbeats)
        self.dead.extend(later.dead)
        self.drained_to = max(self.drained_to, later.drained_to)
        self.received_at = later.received_at or self.received_at
        self.sweep_sites = self.sweep_sites or later.sweep_sites


class Pipeline:
    """Drains the spool into a sink; `run` is the thread body, `stop` ends it after the current batch."""

    def __init__(
        self,
        spool: Spool,
        sink: Sink,
        metrics: Metrics,
        *,
        rules: Rules | None,
        batch_records: int = 1000,
        store_interval_s: float = 0.0,
        reframe_flush_s: float = 1.0,
        lookahead_max_s: float = 0.5,
        retry_max_s: float = 30.0,
        site_sweep_s: float = 60.0,
        replay_retained: bool = False,
        wake: threading.Event | None = None,
    ) -> None:
        self.spool = spool
        self.sink = sink
        self.metrics = metrics
        self.rules = rules
        self.batch_records = batch_records
        self.store_interval_s = store_interval_s
        self._store_not_before = 0.0
        self.reframe_flush_s = reframe_flush_s
        self.lookahead_max_s = lookahead_max_s
        self._flush_check_s = min(reframe_flush_s, lookahead_max_s) / 2
        self.retry_max_s = retry_max_s
        self.site_sweep_s = site_sweep_s
        self._last_entry_time: Any = None
        self._last_shipped_at: datetime | None = None
        self._last_sweep = time.monotonic()
        self.wake = wake or threading.Event()
        self.stopping = threading.Event()
        self.streams: dict[Any, _Stream] = {}
        self.position = spool.first_retained_seq() if replay_retained else spool.drained_seq
        self.failure: Exception | None = None
        # The batch the delivery thread stores next. The parse thread adds to it while the store is
        # busy with the previous one, so batches grow with the store's latency (fewer, larger bulk
        # requests when it is loaded) and nothing waits for a batch to fill when it keeps up.
        self._next = _Batch()
        self._handover = threading.Condition()
        self._parsing_done = False
        self._delivery: threading.Thread | None = None

    # ------------------------------------------------------------------ threads

    def run(self) -> None:
        """Thread body: parses batches while a second thread stores the previous one.

        Parsing (CPU here) and storing (waiting on the store) overlap, one batch deep (at most about
        twice `batch_records` documents wait in memory). Only the delivery thread touches the sink and
        moves the spool cursor, in batch order. An unexpected error is logged and kept in `failure`
        (the service then stops)."""
        delivery = threading.Thread(target=self._guarded, args=(self._deliver_loop,), name="delivery")
        delivery.start()
        self._delivery = delivery
        try:
            self._guarded(self._parse_loop)
        finally:
            with self._handover:
                self._parsing_done = True
                self._handover.notify_all()
            delivery.join()

    def _guarded(self, body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:
            log.exception("pipeline stopped by an unexpected error; the spool keeps everything")
            self.failure = exc
            self.stopping.set()

    def _parse_loop(self) -> None:
        last_flush_check = time.monotonic()
        handed_to = self.spool.drained_seq
        while not self.stopping.is_set():
            frames = self.spool.read_after(self.position, self.batch_records)
            batch = _Batch()
            for frame in frames:
                self._process_frame(frame, batch)
            if frames:
                self.position = frames[-1].seq
                batch.received_at = frames[-1].received_at
            now = time.monotonic()
            # Also under load: an idle stream's held record must not pin the spool cursor.
            if now - last_flush_check >= self._flush_check_s:
                last_flush_check = now
                self._flush_held(now, batch)
            if not frames and now - self._last_sweep >= self.site_sweep_s:
                self._last_sweep = now
                batch.sweep_sites = True
            batch.drained_to = self._safe_cursor()
            if (
                batch.documents
                or batch.heartbeats
                or batch.dead
                or batch.sweep_sites
                or batch.drained_to > handed_to
            ):
                if not self._handoff(batch):
                    return
                handed_to = batch.drained_to
            if not frames:
                self.wake.wait(timeout=self._flush_check_s)
                self.wake.clear()

    def _handoff(self, batch: _Batch) -> bool:
        """Add a batch to the one the delivery thread stores next, waiting while that one is full;
        False if it cannot be delivered (stopping, or the delivery thread is gone)."""
        with self._handover:
            while len(self._next.documents) >= self.batch_records:
                if self.stopping.is_set() or self._delivery is None or not self._delivery.is_alive():
                    return False
                self._handover.wait(timeout=0.2)
            self._next.absorb(batch)
            self._handover.notify_all()
        return True

    def _take_next(self) -> _Batch | None:
        """The batch to store next, waiting for one; None once parsing ended and nothing is left.

        A batch is taken `store_interval_s` after the previous one at the earliest, unless it is full:
        a store pays for every request (the embedded engine makes each bulk searchable at once), so a
        steady trickle goes out as a few larger requests instead of many small ones."""
        with self._handover:
            while not self._parsing_done:
                wait_s = self._store_not_before - time.monotonic()
                if not self._next.is_empty and (
                    wait_s <= 0 or len(self._next.documents) >= self.batch_records
                ):
                    break
                self._handover.wait(timeout=None if self._next.is_empty else wait_s)
            batch, self._next = self._next, _Batch()
            self._handover.notify_all()
        self._store_not_before = time.monotonic() + self.store_interval_s
        return None if batch.is_empty else batch

    def _deliver_loop(self) -> None:
        self.sink.prepare()
        while True:
            batch = self._take_next()
            if batch is None:
                return
            if batch.sweep_sites:
                self._sweep_sites()
            if not self._deliver(batch):
                return  # stopping while the store is down: the batch stays in the spool
            self.spool.mark_drained(batch.drained_to)
            if batch.received_at:
                self.metrics.last_indexed_received_at = batch.received_at

    def _sweep_sites(self) -> None:
        """Let the sink re-judge open install attempts while no records arrive."""
        try:
            self.sink.maintain(datetime.now(UTC))
        except SinkUnavailable as exc:
            log.warning("site sweep skipped, store unavailable: %s", exc)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def _safe_cursor(self) -> int:
        """The spool cursor once everything parsed so far is stored: before anything still held."""
        held = [stream.held_since for stream in self.streams.values() if stream.held_since is not None]
        return min(min(held) - 1, self.position) if held else self.position

    # ------------------------------------------------------------------ per record

    def _process_frame(self, frame: SpooledFrame, batch: _Batch) -> None:
        tag = frame.tag
        line_offsets = dict(frame.line_starts)
        entries, valid_utf8 = frame.decoded or decode_entries(frame.entries)
        # The streams this frame fed, by identity: what they hold is noted once, after the frame.
        touched: dict[int, _Stream] = {}
        for time_value, record in entries:
            try:
                # The same partition as `records.line_stream`, most frequent kind first.
                if is_shipper_record(record):
                    if not valid_utf8:
                        record = repaired(record)
                    stream = self._push_shipped(tag, time_value, record, batch)
                    touched[id(stream)] = stream
                elif is_heartbeat(tag, record):
                    batch.heartbeats.append(heartbeat_document(repaired(record), tag, frame.received_at))
                else:
                    # Lines keep their surrogate escapes: re-framing turns them back into bytes.
                    stream = self._push_line(tag, record, line_offsets, batch)
                    touched[id(stream)] = stream
            except Exception as exc:
                # A bad record is data: set aside with its reason (logged and counted when
                # delivered), and the stream goes on.
                batch.dead.append(DeadRecord(f"{exc.__class__.__name__}: {exc}", tag, repaired(record)))
        now = time.monotonic()
        for stream in touched.values():
            self._note_held(stream, frame.seq, now)

    def _open_stream(self, key: Any, **origin: Any) -> _Stream:
        stream = self.streams.get(key)
        if stream is None:
            stream = _Stream(StreamParser(rules=self.rules, **origin))
            self.streams[key] = stream
        return stream

    def _push_shipped(self, tag: str, time_value: Any, record: dict[str, Any], batch: _Batch) -> _Stream:
        offset = record["offset"]
        if type(offset) is not int or offset < 0:
            raise ValueError(f"offset {offset!r} is not a byte offset")
        site, host, path, file_id = (
            site_of(tag, record),
            record.get("host"),
            record.get("path"),
            record["file_id"],
        )
        key = (site, host, path, file_id)
        stream = self.streams.get(key)
        if stream is None:
            if not isinstance(file_id, str) or not isinstance(path, str):
                raise ValueError("file_id and path must be strings")
            stream = self._open_stream(
                key,
                site=site,
                host=host,
                path=path,
                file_id=file_id,
                timezone=record.get("timezone"),
                encoding=record.get("encoding") or "utf-8",
            )
        documents = stream.parser.push_text(record["message"], offset, None, self._shipped_at(time_value))
        batch.documents.extend(documents)
        return stream

    def _push_line(
        self, tag: str, record: dict[str, Any], line_offsets: dict[str, int], batch: _Batch
    ) -> _Stream:
        found = line_stream(tag, record)
        text = line_text(record)
        if found is None or text is None:
            raise ValueError("record has neither shipper fields nor a `log` / `message` line")
        key, size = found
        offset = line_offsets[key]
        line_offsets[key] = offset + size
        site, host, path = split_stream_key(key)
        stream = self._open_stream(
            key, site=site, host=host, path=path, file_id=stream_file_id(key), timezone=record.get("timezone")
        )
        if stream.framer is None or offset != stream.expected_offset:
            # A gap (a refused frame, a restart mid-stream): what was held is complete as it is.
            if stream.framer is not None:
                self._push_framed(stream, stream.framer.flush(), batch)
            stream.framer = RecordFramer(encoding="utf-8", start_offset=offset)
        if not text.isascii() and not is_utf8(text):
            stream.cp1252_lines.append(offset)
        self._push_framed(stream, stream.framer.feed(text.encode("utf-8", "surrogateescape") + b"\n"), batch)
        stream.expected_offset = offset + size
        return stream

    def _push_framed(self, stream: _Stream, records: Iterable[FramedRecord], batch: _Batch) -> None:
        fallback = stream.cp1252_lines
        for framed in records:
            encoding = None
            if fallback:
                while fallback and fallback[0] < framed.offset:
                    fallback.popleft()
                if fallback and fallback[0] < framed.offset + framed.length:
                    encoding = CP1252
            batch.documents.extend(stream.parser.push_text(framed.text, framed.offset, encoding))

    @staticmethod
    def _note_held(stream: _Stream, seq: int, now: float) -> None:
        stream.last_seen = now
        framer_holds = stream.framer is not None and stream.framer.position < stream.expected_offset
        if stream.parser.pending:
            if stream.lookahead_since is None:
                stream.lookahead_since = now
        else:
            stream.lookahead_since = None
        if framer_holds or stream.parser.pending:
            if stream.held_since is None:
                stream.held_since = seq
        else:
            stream.held_since = None

    def _flush_held(self, now: float, batch: _Batch) -> None:
        """Release what streams hold too long; forget streams idle for long.

        A partial multi-line record is emitted once its stream is idle for `reframe_flush_s`; the
        parser's look-ahead is released after `lookahead_max_s` even on a busy stream, which bounds
        the delay from receipt to searchable."""
        for key, stream in list(self.streams.items()):
            idle_s = now - stream.last_seen
            if stream.held_since is not None and idle_s >= self.reframe_flush_s:
                if stream.framer is not None:
                    self._push_framed(stream, stream.framer.flush(), batch)
                batch.documents.extend(stream.parser.flush())
                stream.held_since = stream.lookahead_since = None
            elif stream.lookahead_since is not None and now - stream.lookahead_since >= self.lookahead_max_s:
                batch.documents.extend(stream.parser.flush())
                stream.lookahead_since = None
                framer = stream.framer
                if framer is None or framer.position >= stream.expected_offset:
                    stream.held_since = None
            if idle_s > self.reframe_flush_s * EVICT_AFTER_FLUSHES and stream.held_since is None:
                del self.streams[key]

    def _shipped_at(self, time_value: Any) -> datetime | None:
        """An entry's time as a datetime; frames usually share one time, so the last one is reused."""
        if time_value != self._last_entry_time:
            seconds = entry_time(time_value)
            self._last_entry_time = time_value
            self._last_shipped_at = datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
        return self._last_shipped_at

    # ------------------------------------------------------------------ delivery

    def _deliver(self, batch: _Batch) -> bool:
        """Write the batch, retrying while the sink is unavailable; False if stopped first."""
        attempt = 0
        while True:
            try:
                result = self.sink.write(batch.documents) if batch.documents else None
                if batch.heartbeats:
                    self.sink.write_heartbeats(batch.heartbeats)
                dead = self.sink.dead_letter(batch.dead) if batch.dead else 0
            except SinkUnavailable as exc:
                attempt += 1
                self.metrics.store_errors += 1
                wait_s = min(self.retry_max_s, 0.25 * 2 ** min(attempt, 16))
                log.warning("store unavailable (%s); retrying in %.1f s, spool keeps growing", exc, wait_s)
                if self.stopping.wait(wait_s):
                    return False
                continue
            # Before the counters: whoever sees a batch counted also sees when it was stored.
            self.metrics.last_store_write_at = time.time()
            if result is not None:
                self.metrics.records_indexed += result.indexed
                self.metrics.records_deduplicated += result.deduplicated
                self.metrics.records_dead_lettered += result.dead_lettered
            self.metrics.records_dead_lettered += dead
            self.metrics.heartbeats_received += len(batch.heartbeats)
            if batch.dead:
                first = batch.dead[0]
                log.warning(
                    "dead-lettered %d record(s); first from tag %s: %s",
                    len(batch.dead),
                    first.tag,
                    first.reason,
                )
            return True


def heartbeat_document(record: dict[str, Any], tag: str, received_at: float) -> Document:
    """A shipper heartbeat as a `bootwatch-heartbeats` document, stamped with its arrival time."""
    fields = {key: record[key] for key in HeartbeatDocument.model_fields if key in record}
    fields["site"] = site_of(tag, record)
    fields["@timestamp"] = datetime.fromtimestamp(received_at, UTC)
    model = HeartbeatDocument.model_validate(fields)
    return model.model_dump(mode="json", by_alias=True)
