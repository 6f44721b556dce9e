"""Parsed record -> `LogDocument`-shaped dict: the document exactly as it will be indexed.

Built as plain nested dicts (no pydantic per record: validating costs several times the parse);
tests validate the output with `LogDocument.model_validate`. Shape:

- always present: `@timestamp`, `message`, `event.{original, dataset, timezone}`,
  `log.{level, logger, file.path, offset}`, `process.thread.id`, `host.name`,
  `sms.log.{format, file_id, encoding}`, `sms.site.code` (null when unknown), so consumers can
  index them directly;
- present only when they have a value: `event.action`, `error.code`, `sms.error.hint` (a code
  the table knows), `sms.status_message`.

`@timestamp` and `event.timezone` are filled by the stream parser, which knows the file's zone.

The parts that are the same for every record of a stream (`host`, `log.file` and `sms.site`) are one
dict shared by that stream's documents: treat those as read-only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from parsers.codes import error_fields
from parsers.formats.record import BoundedCache, ParsedRecord
from parsers.formats.statmsg import parse_statmsg
from parsers.lifecycle.rules import Rules

STATMSG_MARK = "STATMSG:"
_LEVEL_OF_SEVERITY = {"E": "error", "W": "warning", "I": "info"}

# File name -> event.dataset. Bootstrap, setup and prerequisite logs have fixed names; any other
# log is named after its file: "hman.log" -> sms.hman, "SMSPROV.LOG" -> sms.smsprov.
# Rotated (".lo_") and date-stamped history names ("sitecomp-20160726-120000.log") map like the live file.
_DATASET_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"bootstrap", re.IGNORECASE), "sms.bootstrap"),
    (re.compile(r"prereq", re.IGNORECASE), "sms.prereq"),
    (re.compile(r"setup", re.IGNORECASE), "sms.setup"),
)
_HISTORY_SUFFIX = re.compile(r"[-_.]?\d{6,}(?:[-_.]\d+)*\Z")
_NOT_NAME = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)
def dataset_for(path: str) -> str:
    """`event.dataset` from a log file's path (Windows or POSIX separators)."""
    name = re.split(r"[\\/]", path)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    for pattern, dataset in _DATASET_RULES:
        if pattern.search(stem):
            return dataset
    stem = _HISTORY_SUFFIX.sub("", stem)
    component = _NOT_NAME.sub("_", stem.lower()).strip("_")
    return f"sms.{component or 'unknown'}"


def status_message(parsed: ParsedRecord) -> dict[str, Any] | None:
    """The `sms.status_message` fields of a record whose message is a `STATMSG:` line, else None."""
    if STATMSG_MARK not in parsed.message:
        return None
    return parse_statmsg(parsed.message)


# What a message says, whatever record it is in: (`error.code`, `sms.error.hint`) or None, and its
# lifecycle action (given its logger, level and the stream's dataset) or None.
_MessageFacts = tuple[tuple[str, str | None] | None, str | None]


@lru_cache(maxsize=16)
def _shared_facts(rules: Rules | None) -> BoundedCache[_MessageFacts]:
    """(message, logger, level, dataset) -> its facts, shared by every stream with these rules: one
    look-up a record instead of one for the code and one for the action, warm for a new stream, and
    one bounded cache however many datasets the streams have."""
    return BoundedCache()


class DocumentBuilder:
    """Builds the documents of one stream (one file): its constant fields are computed once."""

    __slots__ = ("_action_for", "_dataset", "_encoding", "_facts", "_file", "_file_id", "_host", "_site")

    def __init__(self, *, site: str | None, host: str | None, path: str, file_id: str | None,
                 encoding: str | None, rules: Rules | None = None) -> None:
        self._action_for = rules.action_for if rules is not None else None
        self._site = {"code": site}
        self._host = {"name": host}
        self._file = {"path": path}
        self._file_id = file_id
        self._encoding = encoding
        self._dataset = dataset_for(path)
        self._facts = _shared_facts(rules)

    def build(self, parsed: ParsedRecord, original: str, offset: int, stamp: tuple[str, str] | None,
              status: dict[str, Any] | None, encoding: str | None = None) -> dict[str, Any]:
        """The document. `stamp` is (`@timestamp`, `event.timezone`), or None for the stream parser
        to fill in later; `status` the record's STATMSG fields (`status_message`); `encoding`
        overrides the stream's for a record decoded differently."""
        message = parsed.message
        timestamp, zone = stamp if stamp is not None else (None, None)
        level = parsed.level
        if status is not None:
            level = _LEVEL_OF_SEVERITY.get(status.get("severity") or "", level)
        doc: dict[str, Any] = {
            "@timestamp": timestamp,
            "message": message,
            "event": {"original": original, "dataset": self._dataset, "timezone": zone},
            "log": {"level": level, "logger": parsed.logger, "file": self._file, "offset": offset},
            "process": {"thread": {"id": parsed.thread}},
            "host": self._host,
            "sms": {
                "log": {
                    "format": parsed.format, "file_id": self._file_id, "encoding": encoding or self._encoding,
                },
                "site": self._site,
            },
        }
        if status is not None:
            doc["sms"]["status_message"] = status
        facts_key = (message, parsed.logger, level, self._dataset)
        error, action = self._facts.get(facts_key) or self._learn(facts_key)
        if error is not None:
            doc["error"] = {"code": error[0]}
            if error[1] is not None:
                doc["sms"]["error"] = {"hint": error[1]}
        if action is not None:
            doc["event"]["action"] = action
        return doc

    def _learn(self, key: tuple[str, str | None, str, str]) -> _MessageFacts:
        message, logger, level, dataset = key
        action = None
        if self._action_for is not None:
            action = self._action_for(message, logger, level, dataset)
        return self._facts.remember(key, (error_fields(message), action))
