"""The durable spool: SQLite (WAL) between receiving frames and indexing them.

A frame is acknowledged to its sender only after the transaction holding it is committed, so
nothing acknowledged is lost by a crash. The pipeline reads frames in order after a cursor
(`drained_seq`) and moves the cursor only once what it read is in the store; a restart resumes
from the cursor, and records read twice are de-duplicated downstream by their own id.

Two budgets bound the file: `max_bytes` for frames not yet drained (past it new frames are
refused, never acknowledged, so senders keep them and retry) and `retain_bytes` for frames
already drained but kept, oldest first, so the in-memory embedded engine can be rebuilt at start.

Line-per-record senders (Fluent Bit tail, fluent-logger) give no byte offsets, so the spool
assigns each of their streams a running byte position when the frame is committed: a frame
stores where each stream's lines start (`line_starts`), the positions survive restarts, and a
replayed line always gets the same offset, hence the same document id.

A line-per-record sender that re-sends a frame whose ack it never got (the connection dropped after
the commit) would have it spooled twice, at new positions, so indexed twice under new ids. Such
frames carry a `retry_key` (the sender's address, the `chunk` id and a digest of the entries: Fluent
Bit derives the chunk id from the payload, fluentd keeps it across retries, and the digest keeps
two different frames apart even where a sender reuses one chunk id). The keys of the newest
`retry_window_frames` such frames are kept in the same transaction as the frames; a frame whose key
is there is acknowledged again without being spooled.

Frames the server decoded anyway (validating them) keep that decoded form in memory, within
`DECODED_CACHE_RECORDS`, until the pipeline reads them: in the usual case, where the pipeline keeps
up, a record is decoded once; after a restart or behind a backlog it is decoded from the file.

Writes happen on one writer thread (`SpoolWriter`) that commits everything queued at once
(group commit: one fsync for many frames), reads on the pipeline's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from parsers.forward.modes import Decoded

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS frames (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    tag TEXT NOT NULL,
    records INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    entries BLOB NOT NULL,
    line_starts BLOB
);
CREATE TABLE IF NOT EXISTS streams (key TEXT PRIMARY KEY, next_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS retry_keys (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE);
"""

# Re-sent frames are recognised among this many recent keyed frames (about 60 bytes each on disk):
# Fluent Bit retries a chunk after seconds to minutes, while other senders' frames keep coming.
DEFAULT_RETRY_WINDOW_FRAMES = 200_000
# Records kept decoded in memory for the pipeline (about 1 kB each); past it, frames wait undecoded.
DECODED_CACHE_RECORDS = 20_000


class SpoolFormatError(RuntimeError):
    """The spool file was written by an incompatible version."""


@dataclass(slots=True)
class SpoolInput:
    """What the server hands the spool for one frame."""

    tag: str
    entries: bytes
    records: int
    line_bytes: dict[str, int] = field(default_factory=dict)
    # Identity of a frame the sender may re-send after a lost ack; None = no such de-duplication.
    retry_key: bytes | None = None
    # The entries already decoded (not stored: handed to the pipeline in memory).
    decoded: Decoded | None = None


@dataclass(slots=True)
class SpooledFrame:
    """One frame read back from the spool."""

    seq: int
    received_at: float
    tag: str
    records: int
    bytes: int
    entries: bytes
    line_starts: dict[str, int]
    # The entries as the server decoded them, while still in memory; else decode `entries`.
    decoded: Decoded | None = None


@dataclass(slots=True)
class SpoolStats:
    pending_frames: int
    pending_records: int
    pending_bytes: int
    retained_bytes: int
    drained_seq: int
    last_seq: int
    # Frames (and their records) a sender re-sent after they were spooled, acked but not spooled again.
    resent_frames: int
    resent_records: int


class Spool:
    """The spool database: `append`, reads and `mark_drained` each on one thread, with its own connection."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        retain_bytes: int,
        fsync: bool = True,
        retry_window_frames: int = DEFAULT_RETRY_WINDOW_FRAMES,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.retain_bytes = retain_bytes
        self.retry_window_frames = retry_window_frames
        self.resent_frames = self.resent_records = 0
        self._decoded: dict[int, Decoded] = {}
        self._decoded_records = 0
        self._lock = threading.Lock()
        self._writer = self._open(fsync)
        self._reader = self._open(fsync)
        # The cursor moves on the thread that stores batches, reads happen on the parsing thread.
        # A lost cursor move only means frames read again, which the sink de-duplicates: no fsync.
        self._cursor = self._open(fsync=False)
        with self._writer:
            self._writer.executescript(_SCHEMA)
            version = self._meta(self._writer, "format_version")
            if version is None:
                self._writer.execute("INSERT INTO meta VALUES ('format_version', ?)", (FORMAT_VERSION,))
                self._writer.execute("INSERT INTO meta VALUES ('drained_seq', 0)")
            elif version != FORMAT_VERSION:
                raise SpoolFormatError(
                    f"{path} has spool format {version}, this version reads {FORMAT_VERSION}; "
                    "drain it with the matching bootwatch version or move it away"
                )
        self._stream_next: dict[str, int] = dict(self._writer.execute("SELECT key, next_offset FROM streams"))
        self.drained_seq = self._meta(self._writer, "drained_seq") or 0
        pending = self._writer.execute(
            "SELECT COUNT(*), COALESCE(SUM(records), 0), COALESCE(SUM(bytes), 0) FROM frames WHERE seq > ?",
            (self.drained_seq,),
        ).fetchone()
        self.pending_frames, self.pending_records, self.pending_bytes = pending
        self.retained_bytes = self._writer.execute(
            "SELECT COALESCE(SUM(bytes), 0) FROM frames WHERE seq <= ?", (self.drained_seq,)
        ).fetchone()[0]
        self.last_seq = self._writer.execute("SELECT COALESCE(MAX(seq), 0) FROM frames").fetchone()[0]

    def _open(self, fsync: bool) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL fsyncs the WAL at every commit: an acknowledged frame survives a power cut.
        connection.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        return connection

    @staticmethod
    def _meta(connection: sqlite3.Connection, key: str) -> int | None:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ writer side

    def append(self, frames: Sequence[SpoolInput]) -> list[int] | None:
        """Commit `frames` in one transaction; the seqs of those spooled (a re-sent frame already in
        the spool gets none), or None (nothing written) if over budget."""
        size = sum(len(frame.entries) for frame in frames)
        with self._lock:
            if self.pending_bytes + size > self.max_bytes:
                return None
        now = time.time()
        stream_next = dict(self._stream_next)
        changed: set[str] = set()
        connection = self._writer
        seqs: list[int] = []
        decoded: list[tuple[int, Decoded]] = []
        resent_records = resent_bytes = 0
        connection.execute("BEGIN IMMEDIATE")
        try:
            for frame in frames:
                if frame.retry_key is not None and not self._remember_retry_key(frame.retry_key):
                    resent_records += frame.records
                    resent_bytes += len(frame.entries)
                    continue
                starts: bytes | None = None
                if frame.line_bytes:
                    line_starts = {}
                    for key, length in frame.line_bytes.items():
                        line_starts[key] = stream_next.get(key, 0)
                        stream_next[key] = line_starts[key] + length
                        changed.add(key)
                    starts = msgpack.packb(line_starts)
                seq = connection.execute(
                    "INSERT INTO frames (received_at, tag, records, bytes, entries, line_starts)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (now, frame.tag, frame.records, len(frame.entries), frame.entries, starts),
                ).lastrowid
                seqs.append(int(seq or 0))
                if frame.decoded is not None:
                    decoded.append((seqs[-1], frame.decoded))
            connection.executemany(
                "INSERT INTO streams VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET next_offset = excluded.next_offset",
                [(key, stream_next[key]) for key in changed],
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        self._stream_next = stream_next
        with self._lock:
            self.pending_frames += len(seqs)
            self.pending_records += sum(frame.records for frame in frames) - resent_records
            self.pending_bytes += size - resent_bytes
            self.last_seq = max(self.last_seq, seqs[-1] if seqs else 0)
            self.resent_frames += len(frames) - len(seqs)
            self.resent_records += resent_records
            for seq, entries in decoded:
                if self._decoded_records + len(entries[0]) > DECODED_CACHE_RECORDS:
                    break
                self._decoded[seq] = entries
                self._decoded_records += len(entries[0])
        return seqs

    def _remember_retry_key(self, key: bytes) -> bool:
        """Record `key` in the open transaction; False if it is there already (a re-sent frame)."""
        cursor = self._writer.execute("INSERT OR IGNORE INTO retry_keys (key) VALUES (?)", (key,))
        if cursor.rowcount == 0:
            return False
        # The window slides: the key `retry_window_frames` back goes (one indexed delete).
        self._writer.execute(
            "DELETE FROM retry_keys WHERE id <= ?", (int(cursor.lastrowid or 0) - self.retry_window_frames,)
        )
        return True

    # ------------------------------------------------------------------ reader side

    def first_retained_seq(self) -> int:
        """Seq just before the oldest frame still in the file (start point of a full replay)."""
        row = self._reader.execute("SELECT MIN(seq) FROM frames").fetchone()
        return (row[0] - 1) if row[0] is not None else self.drained_seq

    def read_after(self, seq: int, max_records: int) -> list[SpooledFrame]:
        """Frames after `seq` in order, at least one, stopping once `max_records` are gathered."""
        frames: list[SpooledFrame] = []
        total = 0
        cursor = self._reader.execute(
            "SELECT seq, received_at, tag, records, bytes, entries, line_starts FROM frames"
            " WHERE seq > ? ORDER BY seq",
            (seq,),
        )
        for row in cursor:
            starts = msgpack.unpackb(row[6], strict_map_key=False) if row[6] is not None else {}
            with self._lock:
                decoded = self._decoded.pop(row[0], None)
                if decoded is not None:
                    self._decoded_records -= len(decoded[0])
            frames.append(SpooledFrame(row[0], row[1], row[2], row[3], row[4], row[5], starts, decoded))
            total += row[3]
            if total >= max_records:
                break
        cursor.close()
        return frames

    def mark_drained(self, seq: int) -> None:
        """Move the cursor to `seq` (everything up to it is in the store) and prune past the budget."""
        if seq <= self.drained_seq:
            return
        connection = self._cursor
        frames, records, size = connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(records), 0), COALESCE(SUM(bytes), 0) FROM frames"
            " WHERE seq > ? AND seq <= ?",
            (self.drained_seq, seq),
        ).fetchone()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("UPDATE meta SET value = ? WHERE key = 'drained_seq'", (seq,))
            pruned = self._prune(connection, self.retained_bytes + size - self.retain_bytes, seq)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        with self._lock:
            self.drained_seq = seq
            self.pending_frames -= frames
            self.pending_records -= records
            self.pending_bytes -= size
            self.retained_bytes += size - pruned

    @staticmethod
    def _prune(connection: sqlite3.Connection, excess: int, drained_seq: int) -> int:
        """Delete the oldest drained frames until `excess` bytes are gone; the bytes deleted."""
        if excess <= 0:
            return 0
        removed = 0
        last = None
        for seq, size in connection.execute(
            "SELECT seq, bytes FROM frames WHERE seq <= ? ORDER BY seq", (drained_seq,)
        ):
            removed += size
            last = seq
            if removed >= excess:
                break
        if last is not None:
            connection.execute("DELETE FROM frames WHERE seq <= ?", (last,))
        return removed

    def stats(self) -> SpoolStats:
        with self._lock:
            return SpoolStats(
                self.pending_frames,
                self.pending_records,
                self.pending_bytes,
                self.retained_bytes,
                self.drained_seq,
                self.last_seq,
                self.resent_frames,
                self.resent_records,
            )

    def close(self) -> None:
        for connection in (self._writer, self._reader, self._cursor):
            connection.close()


_STOP = object()


class SpoolWriter:
    """Commits frames on a dedicated thread, one transaction (one fsync) for all that are queued.

    `submit` returns an asyncio future: True once committed, False if the spool refused them.
    """

    def __init__(self, spool: Spool, on_commit: threading.Event | None = None) -> None:
        self._spool = spool
        self._queue: queue.Queue[object] = queue.Queue()
        self._on_commit = on_commit
        # Set at shutdown: frames still queued are refused (never acked), not committed, so a
        # line-per-record sender's retry does not meet a silent copy in the spool.
        self._refusing = False
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def submit(self, frames: list[SpoolInput]) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.put((frames, future, loop))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[object]) -> None:
        accepted: list[tuple[asyncio.Future[bool], asyncio.AbstractEventLoop]] = []
        inputs: list[SpoolInput] = []
        outcomes: list[tuple[asyncio.Future[bool], asyncio.AbstractEventLoop, bool | BaseException]] = []
        budget_left = self._spool.max_bytes - self._spool.pending_bytes
        for frames, future, loop in batch:  # type: ignore[misc]
            size = sum(len(frame.entries) for frame in frames)
            if self._refusing or size > budget_left:
                outcomes.append((future, loop, False))
                continue
            budget_left -= size
            inputs.extend(frames)
            accepted.append((future, loop))
        if inputs:
            try:
                result: bool | BaseException = self._spool.append(inputs) is not None
            except sqlite3.Error as exc:
                log.error("spool commit failed: %s", exc)
                result = exc
            outcomes.extend((future, loop, result) for future, loop in accepted)
            if self._on_commit is not None:
                self._on_commit.set()
        for future, loop, outcome in outcomes:
            with contextlib.suppress(RuntimeError):  # the event loop already closed at shutdown
                loop.call_soon_threadsafe(_settle, future, outcome)

    def close(self) -> None:
        """Refuse what is still queued, then stop the thread."""
        self._refusing = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)


def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
