"""Record framing: the bytes of a log file -> whole decoded records with their byte offsets.

Used by the shipper on each secondary and centrally (`bootwatch parse`, the collector re-framing
line-per-record senders), so both sides cut a file into exactly the same records. Standard library
only.

Rules (LOG_FORMATS.md sections 1, 3, 6):

- A CMTrace record runs from a line starting `<![LOG[` to the line holding `]LOG]!><` (its
  attribute trailer), so a message spanning lines stays one record. A new `<![LOG[` line or the
  rotation marker line ends an unterminated one (the writer died mid-record).
- Every other non-blank line is one record: a legacy line ends at its `$$<...><thread=...>`
  trailer and its line end, the rotation marker `<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>`
  is a record of its own, and so is any unframed line (the parser never drops one).
- Blank lines (only spaces, tabs, CR, VT, FF) belong to no record, except inside an open CMTrace
  record, where they are part of its message.
- Line ends are LF or CRLF. A lone CR (classic Mac) is not a line end: such a file becomes long
  lines, cut at `max_record_bytes`. No SMS/ConfigMgr component writes lone CRs.
- A record spans at most `max_record_bytes` (plus a leading BOM): a longer line is cut there
  (at an even byte for UTF-16), a longer CMTrace record ends before the line that would exceed
  it and the rest continues as a further record. This keeps memory bounded whatever a file holds.
- Offsets are byte offsets in the original file. A BOM belongs to the span of the record that
  starts right after it (offset 0) but not to its text; before a blank line it is blank bytes.
- Decoding is per record: UTF-16 files (BOM) decode as UTF-16, replacing invalid units; other
  records try UTF-8 and fall back to Windows-1252 for that record only, where the five bytes
  cp1252 leaves undefined map to the C1 controls of the same number, as Windows itself does.

Records are disjoint and in order; together with the blank-line bytes they cover the input
exactly, and feeding the bytes in any chunk sizes yields the same records as one feed and a flush.
Scanning uses `bytes.find` over whole buffers; the per-record work is one slice and one decode.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

try:
    # hashlib loads OpenSSL (about 4 MB of resident memory) to offer blake2b, which it takes from
    # this built-in module anyway; the shipper must stay small on an old server.
    from _blake2 import blake2b
except ImportError:  # an interpreter built without it
    from hashlib import blake2b

UTF8 = "utf-8"
UTF16_LE = "utf-16-le"
UTF16_BE = "utf-16-be"
CP1252 = "cp1252"

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, UTF8),
    (codecs.BOM_UTF16_LE, UTF16_LE),
    (codecs.BOM_UTF16_BE, UTF16_BE),
)
_LONGEST_BOM = max(len(bom) for bom, _codec in _BOMS)

DEFAULT_MAX_RECORD_BYTES = 1 << 20

# Example CMTrace record (constructed):
# <![LOG[Message text]LOG]!><time="10:12:01.234+420" date="07-26-2002" component="SMS_BOOTSTRAP" ...>
CMTRACE_OPEN = "<![LOG["
CMTRACE_CLOSE = "]LOG]!><"
ROTATION_MARKER = "<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>"
_BLANK_CHARS = " \t\r\x0b\x0c"

# Fingerprint: a hash of the file's first non-blank line (through its LF), at most this many bytes.
FINGERPRINT_MAX_BYTES = 256
_LEADING_BLANK = re.compile(rb"[ \t\r\n\x0b\x0c\x00\xef\xbb\xbf\xfe\xff]*")


def _c1_passthrough(error: UnicodeError) -> tuple[str, int]:
    """cp1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined; Windows maps them to U+0081.. and so do we."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(byte) for byte in error.object[error.start:error.end]), error.end


_CP1252_ERRORS = "bootwatch-c1-passthrough"
codecs.register_error(_CP1252_ERRORS, _c1_passthrough)


def decode_text(raw: bytes) -> str:
    """Bytes of a record in the no-BOM case: UTF-8, else Windows-1252 (never raises)."""
    try:
        return raw.decode(UTF8)
    except UnicodeDecodeError:
        return raw.decode(CP1252, _CP1252_ERRORS)


@dataclass(frozen=True, slots=True)
class FramedRecord:
    """One whole record: where it starts in the file, how many bytes it spans, its decoded text.

    `length` includes the record's line terminator(s) (and a leading BOM for the file's first
    record); `text` excludes the final line terminator and the BOM but keeps internal line breaks.
    """

    offset: int
    length: int
    text: str


def detect_encoding(head: bytes) -> tuple[str, int]:
    """(codec, BOM length) from a file's first bytes; no BOM -> UTF-8 with per-record cp1252 fallback."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    return UTF8, 0


def fingerprint_length(head: bytes) -> int | None:
    """How many leading bytes `file_fingerprint` hashes; None while the file is too short to tell.

    The first non-blank line through its LF, capped at FINGERPRINT_MAX_BYTES: once that line is
    complete (or the cap is reached) the hashed bytes never change while the file only grows, and
    the line almost always carries a timestamp, which tells two files of the same log apart.
    """
    content_start = _LEADING_BLANK.match(head, 0, FINGERPRINT_MAX_BYTES).end()
    line_end = head.find(b"\n", content_start, FINGERPRINT_MAX_BYTES)
    if line_end >= 0:
        return line_end + 1
    if len(head) >= FINGERPRINT_MAX_BYTES:
        return FINGERPRINT_MAX_BYTES
    return None


def fingerprint_of(head: bytes, length: int) -> str:
    """The hex digest of the first `length` bytes: how a remembered fingerprint is checked again."""
    return blake2b(head[:length], digest_size=10).hexdigest()


def file_fingerprint(head: bytes) -> str | None:
    """A file's identity from its first bytes, stable across a rename; None until enough bytes exist."""
    length = fingerprint_length(head)
    return None if length is None else fingerprint_of(head, length)


class RecordColumns(NamedTuple):
    """Records as three parallel lists (the fields of `FramedRecord`), cheap to build in bulk."""

    offsets: list[int]
    lengths: list[int]
    texts: list[str]


class RecordFramer:
    """Cuts a byte stream (one file, read in pieces) into whole records; see the module rules.

    `feed` returns the records completed by the new bytes; `flush` also returns the partial tail
    (at EOF, or when a flush timeout passed). `position` is the offset of the first byte not yet
    emitted (nor skipped as blank): the checkpoint to resume from with `start_offset`.
    With `encoding=None` the encoding is detected from a BOM at offset 0 (else UTF-8).
    """

    def __init__(self, encoding: str | None = None, start_offset: int = 0, *,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        if max_record_bytes < 16:
            raise ValueError("max_record_bytes must be at least 16")
        self._max_record_bytes = max_record_bytes
        self._pending = b""
        self._base = start_offset       # file offset of self._pending[0]
        self._scan_from = 0             # index in _pending of the first line not yet looked at
        self._record_open = False       # a CMTrace record starting at _pending[0] awaits its close
        self._bom_end = -1              # file offset right after a BOM at offset 0, else -1
        self._encoding: str | None = None
        self._needs_bom_check = start_offset == 0
        if encoding is not None:
            self._set_encoding(encoding)

    @property
    def encoding(self) -> str:
        """The codec records are decoded with (UTF-8 until a BOM says otherwise)."""
        return self._encoding or UTF8

    @property
    def position(self) -> int:
        """Offset of the first byte not yet emitted: resuming here loses and repeats nothing."""
        return self._base

    def _set_encoding(self, encoding: str) -> None:
        codec = codecs.lookup(encoding).name
        if codec.startswith("utf-8"):
            codec = UTF8
        elif codec in ("utf-16", "utf-16-le"):
            codec = UTF16_LE     # BOM-less "utf-16": Windows writes little-endian
        elif codec.startswith(("utf-32", "utf-7")):
            raise ValueError(f"unsupported log encoding {encoding!r}: use UTF-8, UTF-16 or a code page")
        self._encoding = codec
        self._wide = codec in (UTF16_LE, UTF16_BE)
        self._unit = 2 if self._wide else 1
        marker_codec = codec if self._wide else "latin-1"
        self._newline = "\n".encode(marker_codec)
        self._crlf = "\r\n".encode(marker_codec)
        self._open = CMTRACE_OPEN.encode(marker_codec)
        self._close = CMTRACE_CLOSE.encode(marker_codec)
        self._marker = ROTATION_MARKER.encode(marker_codec)
        self._max_bytes = self._max_record_bytes - self._max_record_bytes % self._unit

    def feed(self, data: bytes) -> list[FramedRecord]:
        """The records completed by `data` (the next bytes of the file), in order."""
        return list(map(FramedRecord, *self.feed_columns(data)))

    def flush(self) -> list[FramedRecord]:
        """Every record still held, the partial tail included (it ends without a line terminator)."""
        return list(map(FramedRecord, *self.flush_columns()))

    def feed_columns(self, data: bytes) -> RecordColumns:
        """`feed` as columns: the shipper's hot path packs these without building record objects."""
        buffer = self._pending + data if self._pending else data
        if self._needs_bom_check and not self._check_bom(buffer, final=False):
            self._pending = buffer
            return RecordColumns([], [], [])
        return self._scan(buffer, final=False)

    def flush_columns(self) -> RecordColumns:
        """`flush` as columns."""
        buffer = self._pending
        if self._needs_bom_check:
            self._check_bom(buffer, final=True)
        return self._scan(buffer, final=True)

    def _check_bom(self, buffer: bytes, *, final: bool) -> bool:
        """Settle encoding and BOM at offset 0; False while the bytes could still become a BOM."""
        if not final and len(buffer) < _LONGEST_BOM and any(bom.startswith(buffer) for bom, _ in _BOMS):
            return False
        self._needs_bom_check = False
        codec, bom_length = detect_encoding(buffer)
        if self._encoding is None:
            self._set_encoding(codec)
        if bom_length and codecs.lookup(codec).name == self._encoding:
            self._bom_end = bom_length
            self._scan_from = bom_length
        return True

    def _decode(self, raw: bytes) -> str:
        if self._encoding == UTF8:
            return decode_text(raw)
        if self._encoding == CP1252:
            return raw.decode(CP1252, _CP1252_ERRORS)
        return raw.decode(self.encoding, "replace")

    def _bulk_lines(self, buf: bytes, pos: int, region_end: int, columns: RecordColumns) -> bool:
        """Frame buf[pos:region_end] (whole lines, 8-bit codec) in bulk when every line is a plain record.

        The common case, a run of one-line records with uniform line ends and no blank line, no
        CMTrace record and no over-long line, is split and decoded with C-level calls only.
        False (nothing appended) when the run needs the line-by-line path.
        """
        region = buf[pos:region_end]
        if self._open in region:
            return False
        if region.endswith(b"\r\n"):
            separator, terminator = b"\r\n", 2
        elif b"\r\n" not in region:
            separator, terminator = b"\n", 1
        else:
            return False                     # mixed line ends
        body = region[:-terminator]
        if region.isascii():
            # ASCII: one decode of the whole run, and character counts are byte counts.
            texts = body.decode("ascii").split(separator.decode("ascii"))
            measured: list[str] | list[bytes] = texts
        else:
            measured = body.split(separator)
            try:
                texts = list(map(bytes.decode, measured))
            except UnicodeDecodeError:
                return False
        if len(texts) != region.count(b"\n") or "" in texts or any(map(str.isspace, texts)):
            return False                     # a CRLF run holding a lone LF, or a blank line
        lengths = [length + terminator for length in map(len, measured)]
        if max(lengths) > self._max_bytes:
            return False
        offsets = list(accumulate(lengths, initial=self._base + pos))
        offsets.pop()
        columns.offsets.extend(offsets)
        columns.lengths.extend(lengths)
        columns.texts.extend(texts)
        return True

    def _scan(self, buf: bytes, *, final: bool) -> RecordColumns:
        """Emit every record complete in `buf` (all of them when final); keep the rest pending."""
        columns = RecordColumns([], [], [])
        offsets, lengths, texts = columns
        if self._encoding is None:
            self._set_encoding(UTF8)
        base = self._base
        newline, crlf, unit = self._newline, self._crlf, self._unit
        crlf_length = len(crlf)
        open_tag, close_tag, marker = self._open, self._close, self._marker
        max_bytes, wide = self._max_bytes, self._wide
        decode = self._decode
        bom_end = self._bom_end
        size = len(buf)
        record_open = self._record_open
        record_start = 0
        pos = self._scan_from
        # `emitted` is the index in buf up to which bytes are emitted or skipped as blank.
        emitted = 0 if record_open else pos

        def emit(start: int, end: int) -> None:
            text_end = end
            if buf.endswith(crlf, start, end):
                text_end -= crlf_length
            elif buf.endswith(newline, start, end):
                text_end -= unit
            text = decode(buf[start:text_end])
            # The BOM's bytes join the span of the record right after it; its text starts after them.
            offset = 0 if base + start == bom_end else base + start
            offsets.append(offset)
            lengths.append(base + end - offset)
            texts.append(text)

        if not record_open and not wide and self._encoding == UTF8 and base + pos != bom_end:
            region_end = buf.rfind(newline, pos) + 1
            if region_end > pos and self._bulk_lines(buf, pos, region_end, columns):
                emitted = pos = region_end
        while True:
            limit = pos + max_bytes
            found = buf.find(newline, pos, limit)
            if wide:
                while found >= 0 and (base + found) & 1:
                    found = buf.find(newline, found + 1, limit)
            if found >= 0:
                end = found + unit
            elif size >= limit:
                end = limit                  # an over-long line is cut here
            elif final and pos < size:
                end = size                   # the partial tail, at flush
            else:
                break
            if record_open:
                if buf.startswith(open_tag, pos) or buf.startswith(marker, pos):
                    emit(record_start, pos)  # a record whose writer never wrote its close
                    record_open = False
                else:
                    if end - record_start > max_bytes:
                        emit(record_start, pos)
                        record_start = pos
                    if buf.find(close_tag, pos, end) >= 0:
                        emit(record_start, end)
                        record_open = False
                        emitted = end
                    pos = end
                    continue
            if buf.startswith(open_tag, pos):
                if buf.find(close_tag, pos + len(open_tag), end) >= 0:
                    emit(pos, end)
                    emitted = end
                else:
                    record_open = True
                    record_start = pos
                pos = end
                continue
            text_end = end
            if buf.endswith(crlf, pos, end):
                text_end -= crlf_length
            elif buf.endswith(newline, pos, end):
                text_end -= unit
            text = decode(buf[pos:text_end])
            if text and (text[0] not in _BLANK_CHARS or text.strip(_BLANK_CHARS)):
                offset = 0 if base + pos == bom_end else base + pos
                offsets.append(offset)
                lengths.append(base + end - offset)
                texts.append(text)
            emitted = pos = end
        if record_open and final:
            emit(record_start, size)
            record_open = False
            emitted = pos = size
        self._record_open = record_open
        keep_from = record_start if record_open else emitted
        self._pending = buf[keep_from:]
        self._base = base + keep_from
        self._scan_from = pos - keep_from
        return columns


def frame_bytes(data: bytes) -> Iterator[FramedRecord]:
    """Every record of a whole buffer (a complete file), in order."""
    framer = RecordFramer()
    yield from framer.feed(data)
    yield from framer.flush()
