"""Durable shipper state in one SQLite file: per-file offsets and the bounded on-disk batch queue.

Per file (keyed by its identity `file_id`): where it was last seen, how many leading bytes its
fingerprint covers, the offset the collector acknowledged (`acked_offset`) and the offset up to
which records are durable here (`resume_offset`: acked, or sitting in the on-disk queue).
After a restart reading resumes at `resume_offset` and the queued batches are sent first, so
nothing is lost and at most the batch in flight at the kill is sent twice.

Every change is one SQLite transaction (atomic; WAL journal, synchronous=FULL), and the file
carries a format version checked on open.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
# How long a waiting reader sleeps between looks at the sender's health.
_ROOM_WAIT_S = 0.5
STATE_FILE = "shipper-state.sqlite3"


class StateError(Exception):
    """The state file cannot be used (another format version, or not a shipper state file)."""


@dataclass(slots=True)
class FileState:
    """What the shipper remembers about one followed file."""

    file_id: str
    path: str
    device: int
    inode: int
    fingerprint_length: int
    encoding: str
    acked_offset: int
    resume_offset: int


@dataclass(slots=True)
class Batch:
    """Records of one file ready to send: packed Forward entries, their chunk id and end offset."""

    file_id: str
    chunk: str
    entries: bytes          # concatenated msgpack [time, record] entries (PackedForward payload)
    records: int
    end_offset: int         # the file offset right after the batch's last record (or skipped blank)
    sequence: int = 0       # row id while the batch sits in the on-disk queue, else 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY, path TEXT NOT NULL, device INTEGER NOT NULL, inode INTEGER NOT NULL,
    fingerprint_length INTEGER NOT NULL, encoding TEXT NOT NULL,
    acked_offset INTEGER NOT NULL, resume_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT, file_id TEXT NOT NULL, chunk TEXT NOT NULL,
    entries BLOB NOT NULL, records INTEGER NOT NULL, end_offset INTEGER NOT NULL);
"""


class StateStore:
    """The SQLite state file; safe to share between the shipper's reader and sender threads."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / STATE_FILE
        self._lock = threading.Lock()
        # Default isolation: DML opens a transaction and `with self._db` commits it, so each call is atomic.
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            with self._db:
                row = self._db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),))
                elif row[0] != str(FORMAT_VERSION):
                    raise StateError(f"{self.path} has state format version {row[0]}, this shipper "
                                     f"reads version {FORMAT_VERSION}: move the file away to start over")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateError(f"{self.path} is not a usable shipper state file ({exc})") from None
        self._queued_bytes, self._queued_records = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(entries)), 0), COALESCE(SUM(records), 0) FROM queue").fetchone()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ files

    def files(self) -> dict[str, FileState]:
        with self._lock:
            rows = self._db.execute("SELECT file_id, path, device, inode, fingerprint_length, encoding, "
                                    "acked_offset, resume_offset FROM files").fetchall()
        return {row[0]: FileState(*row) for row in rows}

    def save_file(self, state: FileState) -> None:
        """Record a file's identity and where it was seen (its offsets are written by the queue calls)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(file_id) DO UPDATE SET "
                "path = excluded.path, device = excluded.device, inode = excluded.inode",
                (state.file_id, state.path, state.device, state.inode, state.fingerprint_length,
                 state.encoding, state.acked_offset, state.resume_offset))

    def forget_file(self, file_id: str) -> None:
        """Drop a file that is gone for good (nothing of it is queued any more)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM files WHERE file_id = ?", (file_id,))

    # ------------------------------------------------------------------ acknowledgements

    def acknowledge(self, batch: Batch) -> None:
        """The collector acked `batch`: advance its file's checkpoint, drop it from the queue."""
        with self._lock, self._db:
            if batch.sequence:
                self._db.execute("DELETE FROM queue WHERE sequence = ?", (batch.sequence,))
                self._queued_bytes -= len(batch.entries)
                self._queued_records -= batch.records
            self._db.execute(
                "UPDATE files SET acked_offset = MAX(acked_offset, ?), resume_offset = MAX(resume_offset, ?) "
                "WHERE file_id = ?", (batch.end_offset, batch.end_offset, batch.file_id))

    # ------------------------------------------------------------------ on-disk queue

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    @property
    def queued_records(self) -> int:
        return self._queued_records

    def enqueue(self, batches: list[Batch]) -> None:
        """Store batches (in order) and advance their files' resume offsets, in one transaction."""
        with self._lock, self._db:
            for batch in batches:
                cursor = self._db.execute(
                    "INSERT INTO queue (file_id, chunk, entries, records, end_offset) VALUES (?, ?, ?, ?, ?)",
                    (batch.file_id, batch.chunk, batch.entries, batch.records, batch.end_offset))
                batch.sequence = int(cursor.lastrowid or 0)
                self._db.execute("UPDATE files SET resume_offset = MAX(resume_offset, ?) WHERE file_id = ?",
                                 (batch.end_offset, batch.file_id))
                self._queued_bytes += len(batch.entries)
                self._queued_records += batch.records

    def oldest(self) -> Batch | None:
        """The first queued batch (it stays queued until acknowledged)."""
        with self._lock:
            row = self._db.execute("SELECT file_id, chunk, entries, records, end_offset, sequence FROM queue "
                                   "ORDER BY sequence LIMIT 1").fetchone()
        return None if row is None else Batch(*row)

    def queued_files(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT DISTINCT file_id FROM queue")}


class BatchQueue:
    """Batches between the reader and the sender: in memory while the collector keeps up, else on disk.

    Batches stay in memory up to `memory_limit_bytes`. While the sender is delivering, a reader
    that finds memory full waits for an ack (back-pressure, no disk writes in a catch-up). Once
    the sender failed (no collector answers), every pending batch moves to the on-disk queue and
    new ones follow it there until it drains, so the order is kept and memory stays bounded. The
    on-disk queue holds at most `disk_limit_bytes`: `full` tells the reader to stop reading until
    acks make room. A batch is removed only when acknowledged (`acknowledge`).
    """

    def __init__(self, store: StateStore, *, memory_limit_bytes: int, disk_limit_bytes: int) -> None:
        self._store = store
        self._memory: deque[Batch] = deque()
        self._memory_bytes = 0
        self._memory_records = 0
        self._memory_limit = memory_limit_bytes
        self._disk_limit = disk_limit_bytes
        self._changed = threading.Condition()
        # Set by the sender: False after a failure (or when it stops), True again after an ack. It
        # starts True so a catch-up at start waits for the first ack instead of spilling to disk.
        self.sender_healthy = True

    @property
    def full(self) -> bool:
        return self._store.queued_bytes >= self._disk_limit

    @property
    def depth(self) -> tuple[int, int]:
        """(bytes, records) waiting, in memory and on disk."""
        store = self._store
        return self._memory_bytes + store.queued_bytes, self._memory_records + store.queued_records

    def put(self, batch: Batch) -> None:
        """Queue a batch. While the sender is delivering, wait for memory room rather than spill."""
        with self._changed:
            size = len(batch.entries)
            while (self.sender_healthy and self._store.queued_bytes == 0 and self._memory
                   and self._memory_bytes + size > self._memory_limit):
                self._changed.wait(_ROOM_WAIT_S)
            if self._store.queued_bytes == 0 and self._memory_bytes + size <= self._memory_limit:
                self._memory.append(batch)
                self._memory_bytes += size
                self._memory_records += batch.records
            else:
                self._store.enqueue([*self._memory, batch])
                self._memory.clear()
                self._memory_bytes = self._memory_records = 0
            self._changed.notify_all()

    def next_batch(self, timeout_s: float) -> Batch | None:
        """The oldest unacknowledged batch (left in place), waiting up to `timeout_s` for one."""
        with self._changed:
            if not self._memory and self._store.queued_bytes == 0 and not self._store.queued_records:
                self._changed.wait(timeout_s)
            if self._memory:
                return self._memory[0]
            return self._store.oldest()

    def set_sender_healthy(self, healthy: bool) -> None:
        with self._changed:
            self.sender_healthy = healthy
            self._changed.notify_all()

    def acknowledge(self, batch: Batch) -> None:
        """The collector acked `batch` (or it held no records): checkpoint it and drop it."""
        with self._changed:
            self._store.acknowledge(batch)
            if self._memory and self._memory[0] is batch:
                self._memory.popleft()
                self._memory_bytes -= len(batch.entries)
                self._memory_records -= batch.records
            self._changed.notify_all()

    def wait_for_room(self, timeout_s: float) -> None:
        """Block the reader up to `timeout_s` while the on-disk queue is full."""
        with self._changed:
            if self.full:
                self._changed.wait(timeout_s)
