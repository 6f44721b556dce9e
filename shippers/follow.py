"""Following log files: discovery by glob, file identity, polling, rotation and truncation.

Each poll opens a file, reads what is new and closes it again, so the writer's rename at rotation
is never blocked on Windows. A file's identity is its device/inode where the OS has one plus a
fingerprint of its first line (`shippers.framing.file_fingerprint`), so `X.log` renamed to
`X.lo_` is recognized as the same file and finished, and the new `X.log` starts from offset 0.

`X.lo_` and `X.log` are polled as a pair, `X.lo_` first; when `X.log` is no longer the file read
there before and that file was not at `X.lo_`, a rotation fell between the two opens and `X.lo_`
is read again, so the renamed file is finished, never taken for gone and never started again as
a new file. What no poller can read is a file that rotated and had its `.lo_` replaced by the
next rotation between two polls: the shipper says from which byte on it was lost.
A file that shrank below what was read, or whose first bytes changed under the same name, is a
new file (truncated or replaced) and is read from 0; a new file that got the inode of a deleted
one (inodes are reused at once) is no truncation of it.

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

    Rotated files come first (the order `bootwatch ship --check` lists them in, and polls read them in).
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
        for path, rotated in self._pairs():
            if self._queue.full:
                break
            try:
                total += self._poll_pair(path, rotated, seen, unreadable, now)
            except OSError as exc:
                # Locked for a moment, or a read failed: next poll.
                log.debug("cannot read %s: %s", path, exc)
                unreadable.update(name for name in (path, rotated) if name is not None)
        if not self._queue.full:
            self._retire_missing(seen, unreadable)
        return total

    def _pairs(self) -> list[tuple[str, str | None]]:
        """(path, its rotated `.lo_` name or None) to poll, rotated files found without their `.log` first.

        The `.lo_` of each `X.log` is looked at on every poll, since a rotation happens between rescans.
        """
        logs = [path for path in self._candidates if path.lower().endswith(".log")]
        paired = {path[:-4] + ROTATED_SUFFIX for path in logs}
        alone = [(path, None) for path in self._candidates if path not in paired and path not in logs]
        return alone + [(path, path[:-4] + ROTATED_SUFFIX) for path in logs]

    def _poll_pair(self, path: str, rotated: str | None, seen: set[str], unreadable: set[str],
                   now: float) -> int:
        """Poll `X.lo_`, then `X.log`: the renamed file is finished before the new one is started.

        When `X.log` turns out to be another file than the one read there before, and that one was
        not at `X.lo_` a moment ago, it was renamed between the two opens: `X.lo_` is read again
        first, so the renamed file is neither taken for gone nor started again as a new file.
        `X.log` is held open only while it is read (and during that re-read), to hold up the writer's
        rename on Windows as briefly as possible.
        """
        if rotated is None:
            return self._poll_path(path, seen, unreadable, now)
        total = self._poll_path(rotated, seen, unreadable, now)
        handle = self._open(path, unreadable)
        if handle is None:
            return total
        with handle:
            status = os.fstat(handle.fileno())
            head = handle.read(FINGERPRINT_MAX_BYTES)
            if self._replaced_since_read(path, status, head, seen):
                total += self._poll_path(rotated, seen, unreadable, now)
            return total + self._poll_opened(path, handle, status, head, seen, now)

    @staticmethod
    def _open(path: str, unreadable: set[str]) -> BinaryIO | None:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            return None     # not there (yet): a rotation renamed it and the writer has not started anew
        except OSError as exc:
            # Locked for a moment: its file is not taken for gone, it is read at the next poll.
            log.debug("cannot open %s: %s", path, exc)
            unreadable.add(path)
            return None

    def _poll_path(self, path: str, seen: set[str], unreadable: set[str], now: float) -> int:
        handle = self._open(path, unreadable)
        if handle is None:
            return 0
        with handle:
            status = os.fstat(handle.fileno())
            head = handle.read(FINGERPRINT_MAX_BYTES)
            return self._poll_opened(path, handle, status, head, seen, now)

    def _poll_opened(self, path: str, handle: BinaryIO, status: os.stat_result, head: bytes,
                     seen: set[str], now: float) -> int:
        followed = self._identify(path, status, head, seen, now)
        if followed is None:
            return 0
        seen.add(followed.state.file_id)
        if status.st_size > followed.size:
            followed.grew_at = now
        followed.size = status.st_size
        return self._read_new(handle, followed, now)

    def _replaced_since_read(self, path: str, status: os.stat_result, head: bytes, seen: set[str]) -> bool:
        """Whether the file last read at `path`, not read yet in this poll, is no longer the one there."""
        inode = status.st_ino
        for followed in self.files.values():
            state = followed.state
            if followed.gone or state.path != path or state.file_id in seen:
                continue
            if inode:
                return (state.device, state.inode) != (status.st_dev, inode)
            return not (len(head) >= state.fingerprint_length
                        and fingerprint_of(head, state.fingerprint_length) == state.file_id)
        return False

    def _identify(self, path: str, status: os.stat_result, head: bytes, seen: set[str],
                  now: float) -> Followed | None:
        """The followed file behind `path` (new, renamed, truncated or replaced).

        None when it is not known yet (its first line is incomplete) or was already read in this
        poll under another name (a link, or a file renamed back).
        """
        inode = status.st_ino
        for followed in self.files.values():
            state = followed.state
            if followed.gone:
                continue
            same_inode = bool(inode) and (state.device, state.inode) == (status.st_dev, inode)
            same_head = (len(head) >= state.fingerprint_length
                         and fingerprint_of(head, state.fingerprint_length) == state.file_id)
            if state.file_id in seen:
                if same_inode or (same_head and not inode):
                    return None
                continue
            if same_head and status.st_size >= followed.read_offset and (same_inode or state.path != path
                                                                           or not inode):
                if state.path != path or not same_inode:
                    log.info("%s is now %s (renamed or moved)", state.path, path)
                    state.path, state.device, state.inode = path, status.st_dev, inode
                    self._store.save_file(state)
                return followed
            if state.path == path and (same_inode or not inode):
                # Same file object or same name without inodes, but its head changed or it shrank.
                log.warning("%s was truncated or replaced: reading it again from the start", path)
                self._end(followed)
            elif same_inode:
                # A file elsewhere with this inode: the followed one was deleted (a rotation replaced
                # its `.lo_`) and the file system gave its inode to the new one at once.
                self._end(followed)
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

    def _end(self, followed: Followed) -> None:
        """A file that will not grow again: send its partial tail, say what was lost, stop following it."""
        framer = followed.framer
        if framer.position < followed.read_offset:
            self._emit(followed, framer.flush_columns())
        state = followed.state
        if not state.path.lower().endswith(ROTATED_SUFFIX):
            # Never seen under its rotated name: its last records may have been written after the last
            # poll, and the file is no longer anywhere to read them from.
            log.warning("%s (file_id %s) was replaced before the shipper finished it (it rotated twice "
                        "between two polls, or was truncated or deleted): anything written to it after "
                        "byte %d is lost", state.path, state.file_id, followed.read_offset)
        elif followed.size > followed.read_offset:
            log.warning("%s went away with %d bytes never read", state.path,
                        followed.size - followed.read_offset)
        else:
            log.info("%s is gone (the next rotation replaced it, or it was deleted)", state.path)
        followed.gone = True

    def _retire_missing(self, seen: set[str], unreadable: set[str]) -> None:
        acked = None
        for file_id, followed in list(self.files.items()):
            if file_id in seen or (followed.state.path in unreadable and not followed.gone):
                continue
            if not followed.gone:
                self._end(followed)
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
