"""Stream parsing: framed records of one file -> `LogDocument`-shaped dicts, in order.

`StreamParser` is push-driven (the collector feeds records as they arrive); `parse_file` streams a
whole file in constant memory (fixed-size reads through `shippers.framing.RecordFramer`).

Per record: detect the format (`parsers.formats.registry`), build the document with its lifecycle
action when rules are given (`parsers.normalize`), convert its local time to UTC
(`parsers.clock.FileClock`).

Two things need records that come later, so the parser holds a small, bounded look-ahead:

- **Zone check before the first STATMSG.** A `STATMSG:` line's GMTDATE can prove the file's zone
  wrong (see `parsers.clock`). Until the first STATMSG of a stream, up to `lookahead_records`
  records are held; when a STATMSG arrives in that window, the held records get the corrected zone
  too. When the window fills without one (or on `flush()`/`close()`), the held records are
  released with the zones they state (or the host zone) and the stream is not held again: a later
  STATMSG corrects only the records after it. This bounds both memory and the delay a live record
  can see; the collector calls `flush()` when a stream goes idle.
- **Plain records before any timed record.** A record with no time of its own (plain fallback, a
  garbled trailer) takes the time of the nearest framed record in the same stream: the previous
  one with a time, or, at the start of a stream, the next one (held until it arrives). When the
  stream ends (or is flushed) with no timed record at all, it takes the record's ship time
  (`RawRecord.shipped_at`), else the stream's `fallback_time` (`parse_file` passes the file's
  modification time), else the current time; `event.timezone` is then "UTC". The same happens
  when `MAX_HELD_RECORDS` time-less records pile up waiting, so memory stays bounded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parsers.clock import FileClock
from parsers.formats.record import DEFAULT_CONTEXT, FormatContext, ParsedRecord
from parsers.formats.registry import parse_record
from parsers.lifecycle.rules import Rules
from parsers.normalize import STATMSG_MARK, DocumentBuilder, status_message
from parsers.times import format_utc_millis, host_zone
from shippers.framing import CP1252, UTF8, FramedRecord, RecordFramer, detect_encoding, file_fingerprint

if TYPE_CHECKING:  # the pydantic models are not needed to parse: `bootwatch parse` starts faster
    from parsers.schema import RawRecord

DEFAULT_LOOKAHEAD_RECORDS = 256
# Time-less records waiting for a first timed one: beyond this many they are stamped and released.
MAX_HELD_RECORDS = 1024
READ_SIZE = 1 << 16
# Bytes of a file's head used for its fingerprint (file_id) and encoding detection.
HEAD_SIZE = 4096
_NO_TIME_ZONE_LABEL = "UTC"

Document = dict[str, Any]


# A record waiting in the look-ahead: its document, what its timestamp still needs, its ship time.
_Held = tuple[Document, ParsedRecord, datetime | None]


class StreamParser:
    """Parses the records of one file/stream, pushed in order; see the module docstring.

    `context` carries per-source format settings (east-positive CMTrace offsets);
    `fallback_time` stamps time-less records of a stream that has no timed record at all;
    `lookahead_records` bounds the zone look-ahead window (0 disables it).
    """

    def __init__(self, *, site: str | None, host: str | None, path: str, file_id: str | None,
                 timezone: str | None, encoding: str = "utf-8", rules: Rules | None = None,
                 context: FormatContext = DEFAULT_CONTEXT, fallback_time: datetime | None = None,
                 lookahead_records: int = DEFAULT_LOOKAHEAD_RECORDS) -> None:
        builder = DocumentBuilder(site=site, host=host, path=path, file_id=file_id, encoding=encoding,
                                  rules=rules)
        self._build = builder.build
        self._clock = FileClock(host_zone(timezone))
        self._context = context
        self._fallback_time = fallback_time
        self._window_left = lookahead_records
        self._held: list[_Held] = []
        # Time of the latest record that had one: what later time-less records borrow.
        self._last_time: tuple[str, str] | None = None

    @property
    def pending(self) -> int:
        """Records held in the look-ahead (not yet returned by `push`)."""
        return len(self._held)

    def push(self, record: FramedRecord | RawRecord) -> list[Document]:
        """Parse one framed record; returns the documents now complete (this one and/or held ones)."""
        if type(record) is FramedRecord:
            return self.push_text(record.text, record.offset)
        # A `RawRecord` also says how it was decoded and when it was shipped.
        return self.push_text(record.text, record.offset, getattr(record, "encoding", None),
                              getattr(record, "shipped_at", None))

    def push_text(self, text: str, offset: int, encoding: str | None = None,
                  shipped_at: datetime | None = None) -> list[Document]:
        """`push` for a record given as its decoded text and byte offset (no record object needed).

        `encoding` names the codec this record was decoded with when it differs from the stream's.
        """
        parsed = parse_record(text, self._context)
        if not (self._window_left or self._held or STATMSG_MARK in parsed.message):
            # The usual record: the stream's look-ahead is over and nothing waits for a time.
            stamp = self._clock.timestamp(parsed)
            if stamp is not None:
                self._last_time = stamp
                return [self._build(parsed, text, offset, stamp, None, encoding)]
        return self._push_parsed(parsed, text, offset, encoding, shipped_at)

    def _push_parsed(self, parsed: ParsedRecord, text: str, offset: int, encoding: str | None,
                     shipped_at: datetime | None) -> list[Document]:
        """`push_text` for any record: STATMSG lines, the look-ahead, records waiting for a time."""
        status = status_message(parsed)
        if status is not None:
            gmt = status["gmt_date"]
            if gmt is not None:
                self._clock.observe_status_message(parsed, _as_datetime(gmt))
        if self._window_left > 0:
            self._window_left -= 1
            self._held.append((self._build(parsed, text, offset, None, status, encoding), parsed, shipped_at))
            if status is not None or self._window_left == 0:
                self._window_left = 0
                return self._release(final=False)
            return []
        stamp = self._clock.timestamp(parsed)
        if stamp is None:
            stamp = self._last_time
            if stamp is None:
                doc = self._build(parsed, text, offset, None, status, encoding)
                self._held.append((doc, parsed, shipped_at))
                return self._release(final=True) if len(self._held) >= MAX_HELD_RECORDS else []
        else:
            self._last_time = stamp
        doc = self._build(parsed, text, offset, stamp, status, encoding)
        if self._held:
            self._held.append((doc, parsed, shipped_at))
            return self._release(final=False)
        return [doc]

    def flush(self) -> list[Document]:
        """Release every held record now (the stream went idle); ends the zone look-ahead window."""
        self._window_left = 0
        return self._release(final=True)

    def close(self) -> list[Document]:
        """End of the stream: everything still held."""
        return self.flush()

    # ------------------------------------------------------------------ internals

    def _release(self, *, final: bool) -> list[Document]:
        """Stamp held records in order; without `final`, time-less ones with no neighbour stay held."""
        held, self._held = self._held, []
        timestamp = self._clock.timestamp
        stamps = [timestamp(parsed) for _doc, parsed, _shipped_at in held]
        if None in stamps:
            stamps = self._lend_times(held, stamps, final=final)
        elif stamps:
            self._last_time = stamps[-1]
        released: list[Document] = []
        for item, stamp in zip(held, stamps, strict=True):
            if stamp is None:
                self._held.append(item)
                continue
            doc = item[0]
            doc["@timestamp"], doc["event"]["timezone"] = stamp
            released.append(doc)
        return released

    def _lend_times(self, held: list[_Held], own: list[tuple[str, str] | None], *,
                    final: bool) -> list[tuple[str, str] | None]:
        """Times for held records, time-less ones borrowing their neighbour's; None: stays held."""
        # For each record, the next timed record after it: what time-less records at the very start
        # of a stream borrow, since no previous one exists.
        following: list[tuple[str, str] | None] = [None] * len(held)
        upcoming: tuple[str, str] | None = None
        for index in range(len(held) - 1, -1, -1):
            following[index] = upcoming
            upcoming = own[index] or upcoming
        stamps: list[tuple[str, str] | None] = []
        previous = self._last_time
        for index, item in enumerate(held):
            stamp = own[index]
            if stamp is not None:
                previous = stamp
            else:
                stamp = previous or following[index]
            if stamp is None and final:
                stamp = self._no_time(item[2])
            stamps.append(stamp)
        self._last_time = previous
        return stamps

    def _no_time(self, shipped_at: datetime | None) -> tuple[str, str]:
        moment = shipped_at or self._fallback_time or datetime.now(UTC)
        return format_utc_millis(moment), _NO_TIME_ZONE_LABEL


def _as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_file(path: str | os.PathLike[str], *, site: str | None = None, host: str | None = None,
               timezone: str | None = None, rules: Rules | None = None,
               context: FormatContext = DEFAULT_CONTEXT) -> Iterator[Document]:
    """Every record of a file as documents, in order, in constant memory (fixed-size reads).

    `file_id` is the file's fingerprint (`shippers.framing.file_fingerprint`); a file too short to
    fingerprint uses "path:<path>" instead, stable while the file keeps that name.
    `sms.log.encoding` is per record: a record of a UTF-8 (no BOM) file that is not valid UTF-8 was
    decoded as Windows-1252 by the framer and says "cp1252".
    Raises OSError when the file cannot be opened or read.
    """
    file_path = Path(path)
    with file_path.open("rb") as handle:
        head = handle.read(HEAD_SIZE)
        encoding, _bom_length = detect_encoding(head)
        file_id = file_fingerprint(head) or f"path:{file_path}"
        modified = datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, UTC)
        parser = StreamParser(site=site, host=host, path=str(file_path), file_id=file_id,
                              timezone=timezone, encoding=encoding, rules=rules, context=context,
                              fallback_time=modified)
        framer = RecordFramer(encoding)
        check_fallback = encoding == UTF8
        # The bytes not yet emitted as records, starting at file offset `kept_from`: what a
        # non-ASCII record's raw bytes are read back from to tell UTF-8 from the cp1252 fallback.
        kept, kept_from = b"", 0
        chunk = head
        push = parser.push_text
        while True:
            # Columns, not `FramedRecord`s: no object per record on this hot path.
            offsets, lengths, texts = framer.feed_columns(chunk) if chunk else framer.flush_columns()
            if check_fallback:
                kept += chunk
            # Only records among non-ASCII bytes can have been read as Windows-1252 by the framer;
            # `kept` holds every byte of the records this round emits.
            check_records = check_fallback and not kept.isascii()
            for offset, length, text in zip(offsets, lengths, texts, strict=True):
                record_encoding = None
                if check_records and not text.isascii():
                    start = offset - kept_from
                    record_encoding = _decoded_with(kept[start:start + length])
                docs = push(text, offset, record_encoding)
                if len(docs) == 1:
                    yield docs[0]  # the usual case, without an iterator over a one-item list
                else:
                    yield from docs
            if check_fallback:
                kept = kept[framer.position - kept_from:]
                kept_from = framer.position
            if not chunk:
                break
            chunk = handle.read(READ_SIZE)
        yield from parser.close()


def _decoded_with(raw: bytes) -> str | None:
    """"cp1252" when the record's bytes are not UTF-8 (the framer fell back), else None."""
    try:
        raw.decode(UTF8)
    except UnicodeDecodeError:
        return CP1252
    return None
