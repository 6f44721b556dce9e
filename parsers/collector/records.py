"""What a received record is and where it comes from: shipper record, heartbeat, or one line.

The bootwatch shipper sends whole framed records with their own `file_id` and `offset`. Other
senders (Fluent Bit tail, Fluentd, fluent-logger) send one physical line per record under `log`
or `message`, naming their origin with `site` / `host` / `path` keys or a `bootwatch.<SITE>` tag;
the collector re-frames those per stream (site + host + path) and gives each stream a
collector-side file identity, since the sender has none.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shippers.framing import decode_text

TAG_PREFIX = "bootwatch."
HEARTBEAT_TAG = "bootwatch.heartbeat"
_KEY_SEPARATOR = "\x1f"
_BOM = "\ufeff"


def repaired(value: Any) -> Any:
    """`value` with every string made encodable, recursing into lists and maps.

    The unpacker keeps invalid UTF-8 in msgpack strings as surrogate escapes, so a line-per-record
    sender's cp1252 bytes survive for re-framing. Anywhere else such a string cannot become JSON:
    its bytes are decoded the way the framer decodes a record (UTF-8, else Windows-1252).
    """
    if isinstance(value, str):
        if value.isascii() or is_utf8(value):
            return value
        try:
            return decode_text(value.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:  # a surrogate no decoder made: not text at all
            return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {repaired(key): repaired(item) for key, item in value.items()}
    if isinstance(value, list):
        return [repaired(item) for item in value]
    return value


def is_utf8(text: str) -> bool:
    """False when the sender's bytes were not UTF-8 (the unpacker kept them as surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_heartbeat(tag: str, record: dict[str, Any]) -> bool:
    return record.get("type") == "heartbeat" or tag == HEARTBEAT_TAG


def is_shipper_record(record: dict[str, Any]) -> bool:
    """A whole record framed by the bootwatch shipper (it carries its own identity)."""
    return "file_id" in record and "offset" in record and isinstance(record.get("message"), str)


def site_of(tag: str, record: dict[str, Any]) -> str | None:
    """The record's `site` key, else the `<SITE>` of a `bootwatch.<SITE>` tag."""
    site = record.get("site")
    if isinstance(site, str) and site:
        return site
    if tag.startswith(TAG_PREFIX) and tag != HEARTBEAT_TAG:
        return tag[len(TAG_PREFIX) :] or None
    return None


def line_text(record: dict[str, Any]) -> str | None:
    """The physical line a line-per-record sender put in `log` (Fluent Bit tail) or `message`.

    A leading byte-order mark is dropped: it marks the first line of a file written with one and
    is not text (the framer would drop it only if that line came first, and after a sender's
    restart it can come after later lines).
    """
    text = record.get("log")
    if not isinstance(text, str):
        text = record.get("message")
    if not isinstance(text, str):
        return None
    return text[1:] if text.startswith(_BOM) else text


def _text_field(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) and value else "-"


def line_stream(tag: str, record: dict[str, Any]) -> tuple[str, int] | None:
    """(stream key, bytes the line occupies with its terminator) for a line-per-record record."""
    if is_shipper_record(record) or is_heartbeat(tag, record):
        return None
    text = line_text(record)
    if text is None:
        return None
    path = record.get("path")
    key = _KEY_SEPARATOR.join(
        (
            site_of(tag, record) or "-",
            _text_field(record, "host"),
            path if isinstance(path, str) and path else tag,
        )
    )
    return key, len(text.encode("utf-8", "surrogateescape")) + 1


def split_stream_key(key: str) -> tuple[str | None, str | None, str]:
    """(site, host, path) of a stream key; "-" parts are unknown."""
    site, host, path = key.split(_KEY_SEPARATOR)
    return (None if site == "-" else site), (None if host == "-" else host), path


def stream_file_id(key: str) -> str:
    """A stable file identity for a line-per-record stream (the sender gives none)."""
    return "fwd-" + hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=10).hexdigest()
