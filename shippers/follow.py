"""Following log files: discovery by glob, file identity, polling, rotation and truncation.

Each poll opens a file, reads what is new and closes it again, so the writer's rename at rotation
is never blocked on Windows. A file's identity is its device/inode where the OS has one plus a
fingerprint of its first line (`shippers.framing.file_fingerprint`), so `X.log` renamed to
`X.lo_` is recognized as the same file and finished, and the new `X.log` starts from offset 0.
Rotated `.lo_` files are read before the `.log` beside them. A file that shrank below what was
read, or whose first bytes changed, is a new file (truncated or replaced) and is read from 0.

New bytes are framed (`RecordFramer`), packed (`RecordPacker`) and handed to the `BatchQueue` as
batches of at most `batch_max_mb`; a partial last record is sent once the file has not grown for
`flush_after_s`. Reading pauses while the on-disk queue is full.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from shippers.checkpoint import Batch, BatchQueue, FileState, StateStore
from shippers.config import ShipperConfig
from shippers.framing import (
    FINGERPRINT_MAX_BYTES,
    RecordColumns,
    RecordFramer,
    detect_encoding,
    fingerprint_length,
    fingerprint_of,
)
from shippers.transport import RecordPacker, new_chunk_id

log = logging.getLogger("bootwatch.shipper")

ROTATED_SUFFIX = ".lo_"
# Batches read per open: a catch-up closes the file this often, so a rotation is never held up long.
_BATCHES_PER_OPEN = 8


def expand_paths(patterns: list[str]) -> list[str]:
    """Existing files matching the patterns, each `X.log` with its rotated `X.lo_` when present.

    Rotated files come first, so a poll finishes the renamed file before starting the new one.
    """
    found: set[str] = set()
    for pattern in patterns:
        variants = [pattern]
        if pattern.lower().endswith(".log"):
            variants.append(pattern[:-4] + ROTATED_SUFFIX)
        for variant in variants:
            found.update(match for match in glob.glob(variant) if os.path.isfile(match))
    return sorted(found, key=lambda path: (not path.lower().endswith(ROTATED_SUFFIX), path))


@dataclass
class Followed:
    """A file being followed: its remembered state plus the in-memory framing position."""

    state: FileState
    framer: RecordFramer
    read_offset: int                # next byte to read from the file
    queued_to: int                  # end offset of the last batch handed to the queue
    size: int = 0                   # size at the last poll
    grew_at: float = field(default_factory=time.monotonic)
    gone: bool = False              # no longer found under any followed path


@dataclass
class _Waiting:
    """A new file whose first line is not complete yet: it gets an identity when it is, or when stale."""

    size: int
    grew_at: float


class Follower:
    """Polls the followed files and turns their new bytes into queued batches."""

    def __init__(self, config: ShipperConfig, store: StateStore, queue: BatchQueue, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._store = store
        self._queue = queue
        self._clock = clock
        self._packer = RecordPacker(site=config.site, host=config.host, timezone=config.timezone)
        self._batch_bytes = max(4096, int(config.batch_max_mb * (1 << 20)))
        self._candidates: list[str] = []
        self._rescan_at = 0.0
        self._waiting: dict[str, _Waiting] = {}
        self._reported_full = False
        self.behind = False
        self.files: dict[str, Followed] = {}
        for state in store.files().values():
            resume = state.resume_offset
            self.files[state.file_id] = Followed(state, RecordFramer(state.encoding, start_offset=resume),
                                                 resume, resume)

    # ------------------------------------------------------------------ polling

    def poll(self) -> int:
        """Read every followed file once; the number of bytes read. `behind`: more is waiting."""
        self.behind = False
        now = self._clock()
        if now >= self._rescan_at:
            self._candidates = expand_paths(self._config.paths)
            self._rescan_at = now + self._config.rescan_s
        paths = list(self._candidates)
        known = set(paths)
        # A rotation renames X.log between two rescans: look for the rotated sibling every poll.
        for path in self._candidates:
            if path.lower().endswith(".log"):
                sibling = path[:-4] + ROTATED_SUFFIX
                if sibling not in known and os.path.isfile(sibling):
                    paths.insert(0, sibling)
                    known.add(sibling)
        seen: set[str] = set()
        unreadable: set[str] = set()
        total = 0
        if self._queue.full != self._reported_full:
            self._reported_full = self._queue.full
            if self._reported_full:
                log.warning("the on-disk queue is full (queue_max_mb = %g): reading paused until a "
                            "collector acknowledges", self._config.queue_max_mb)
            else:
                log.info("the on-disk queue has room again: reading resumes")
        for path in paths:
            if self._queue.full:
                break
            try:
                total += self._poll_path(path, seen, now)
            except OSError as exc:
                # Vanished between listing and opening, or locked for a moment: next poll.
                log.debug("cannot read %s: %s", path, exc)
                unreadable.add(path)
        if not self._queue.full:
            self._retire_missing(seen, unreadable)
        return total

    def _poll_path(self, path: str, seen: set[str], now: float) -> int:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            head = handle.read(FINGERPRINT_MAX_BYTES)
            followed = self._identify(path, status, head, seen, now)
            if followed is None:
                return 0
            seen.add(followed.state.file_id)
            if status.st_size > followed.size:
                followed.grew_at = now
            followed.size = status.st_size
            return self._read_new(handle, followed, now)

    def _identify(self, path: str, status: os.stat_result, head: bytes, seen: set[str],
                  now: float) -> Followed | None:
        """The followed file behind `path` (new, renamed, truncated or replaced), None if not yet known."""
        inode = status.st_ino
        for followed in self.files.values():
            state = followed.state
            if state.file_id in seen or followed.gone:
                continue
            same_inode = bool(inode) and (state.device, state.inode) == (status.st_dev, inode)
            same_head = (len(head) >= state.fingerprint_length
                         and fingerprint_of(head, state.fingerprint_length) == state.file_id)
            if same_head and status.st_size >= followed.read_offset and (same_inode or state.path != path
                                                                           or not inode):
                if state.path != path or not same_inode:
                    log.info("%s is now %s (renamed or moved)", state.path, path)
                    state.path, state.device, state.inode = path, status.st_dev, inode
                    self._store.save_file(state)
                return followed
            if same_inode or (state.path == path and not inode):
                # Same file object or same name without inodes, but its head changed or it shrank.
                log.warning("%s was truncated or replaced: reading it again from the start", path)
                self._end(followed, lost=status.st_size < followed.read_offset)
        return self._start(path, status, head, now)

    def _start(self, path: str, status: os.stat_result, head: bytes, now: float) -> Followed | None:
        length = fingerprint_length(head)
        if length is None:
            waiting = self._waiting.get(path)
            if waiting is None or waiting.size != status.st_size:
                self._waiting[path] = _Waiting(status.st_size, now)
                return None
            if not head or now - waiting.grew_at < self._config.flush_after_s:
                return None
            length = len(head)  # a short file that stopped growing: its whole content identifies it
        self._waiting.pop(path, None)
        file_id = fingerprint_of(head, length)
        generation = 1
        while file_id in self.files:
            # The same first bytes as a file seen before (rewritten in place): keep record ids apart.
            generation += 1
            file_id = f"{fingerprint_of(head, length)}.{generation}"
        encoding, _bom_length = detect_encoding(head)
        state = FileState(file_id, path, status.st_dev, status.st_ino, length, encoding, 0, 0)
        self._store.save_file(state)
        followed = Followed(state, RecordFramer(encoding), 0, 0, 0, now)
        self.files[file_id] = followed
        log.info("following %s (file_id %s, %s)", path, file_id, encoding)
        return followed

    def _read_new(self, handle: BinaryIO, followed: Followed, now: float) -> int:
        total = 0
        if followed.size > followed.read_offset:
            handle.seek(followed.read_offset)
            for _batch in range(_BATCHES_PER_OPEN):
                if self._queue.full:
                    break
                data = handle.read(self._batch_bytes)
                if not data:
                    break
                followed.read_offset += len(data)
                total += len(data)
                self._emit(followed, followed.framer.feed_columns(data))
            else:
                self.behind = True   # more to read: the next poll comes at once, after a close
        if followed.read_offset >= followed.size and now - followed.grew_at >= self._config.flush_after_s:
            framer = followed.framer
            if framer.position < followed.read_offset:
                self._emit(followed, framer.flush_columns())
        return total

    def _emit(self, followed: Followed, columns: RecordColumns) -> None:
        state = followed.state
        end_offset = followed.framer.position
        if not columns.offsets and end_offset <= followed.queued_to:
            return
        # A batch without records still carries its end offset (blank lines read past) to the checkpoint.
        entries = self._packer.pack(path=state.path, file_id=state.file_id, encoding=state.encoding,
                                    offsets=columns.offsets, texts=columns.texts, read_at=time.time())
        self._queue.put(Batch(state.file_id, new_chunk_id(), entries, len(columns.offsets), end_offset))
        followed.queued_to = end_offset

    # ------------------------------------------------------------------ files that went away

    def _end(self, followed: Followed, *, lost: bool) -> None:
        """A file that will not grow again: send its partial tail and stop following it."""
        framer = followed.framer
        if framer.position < followed.read_offset:
            self._emit(followed, framer.flush_columns())
        if lost or followed.size > followed.read_offset:
            log.warning("%s went away with %d bytes never read", followed.state.path,
                        max(0, followed.size - followed.read_offset))
        followed.gone = True

    def _retire_missing(self, seen: set[str], unreadable: set[str]) -> None:
        acked = None
        for file_id, followed in list(self.files.items()):
            if file_id in seen or (followed.state.path in unreadable and not followed.gone):
                continue
            if not followed.gone:
                log.info("%s is gone (rotated away or deleted)", followed.state.path)
                self._end(followed, lost=False)
            if acked is None:
                acked = {key: state.acked_offset for key, state in self._store.files().items()}
            if acked.get(file_id, 0) >= followed.framer.position:
                self._store.forget_file(file_id)
                del self.files[file_id]

    # ------------------------------------------------------------------ reporting

    def watched(self) -> list[dict[str, object]]:
        """Per watched file: path, identity, size and acknowledged ("shipped") offset, for heartbeats."""
        acked = {key: state.acked_offset for key, state in self._store.files().items()}
        return [{"path": f.state.path, "file_id": key, "size": f.size, "offset": acked.get(key, 0)}
                for key, f in list(self.files.items()) if not f.gone]
