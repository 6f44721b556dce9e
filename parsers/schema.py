"""The normalized schema: pydantic models that are the contract between every stage.

A `RawRecord` is one whole record as framed from a file (by the shipper, by `bootwatch parse`,
by `replay`, or by the collector re-framing line-per-record senders). A `LogDocument` is
exactly what gets indexed into `bootwatch-logs-YYYY.MM`. Field names follow ECS where ECS has
the field and live under `sms.*` where it does not; other tools read these names.

The hot path (parse + normalize) builds plain dicts of the `LogDocument` shape and serializes
them with `orjson`: validating every record through pydantic would cost several
times the parse itself. Tests validate parser output against these models, and the index
mappings are generated from them, so the models stay the one source of truth.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from parsers.times import format_utc_millis
from parsers.vocabulary import AttemptState, LifecycleAction, LogFormat, LogLevel

UtcMillis = Annotated[datetime, PlainSerializer(format_utc_millis, return_type=str, when_used="json")]

# Keyword fields are capped so one absurd line cannot break a strict mapping.
Keyword = Annotated[str, Field(max_length=1024)]


class Strict(BaseModel):
    """Base: unknown fields are a contract violation, not silently kept."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- input record


class RawRecord(Strict):
    """One whole record cut from a log file, with where it came from."""

    site: Keyword | None = Field(None, description="SMS site code of the secondary, e.g. S02")
    host: Keyword | None = Field(None, description="Host name of the machine that wrote the log")
    path: str = Field(description="Path of the log file as the shipper saw it")
    file_id: Keyword = Field(description="File identity (fingerprint); stable across rotation renames")
    offset: int = Field(ge=0, description="Byte offset of the record's first byte in the original file")
    text: str = Field(description="The decoded record, without its final line terminator")
    encoding: Keyword = Field("utf-8", description="Encoding the bytes were decoded with")
    timezone: Keyword | None = Field(
        None, description="Host zone (IANA or Windows name) for records that carry no zone"
    )
    shipped_at: UtcMillis | None = Field(None, description="When the shipper read the record (UTC)")


# --------------------------------------------------------------------------- log document


class EventFields(Strict):
    original: str = Field(description="The record exactly as framed, before any cleanup")
    dataset: Keyword = Field(description="Which log this came from, e.g. sms.bootstrap, sms.setup")
    action: LifecycleAction | None = Field(None, description="Lifecycle action from the rules, if any")
    timezone: Keyword = Field(description="The zone used to compute @timestamp (IANA name or a fixed offset)")
    ingested: UtcMillis | None = Field(None, description="When bootwatch indexed the record (UTC)")


class LogFile(Strict):
    path: str


class LogFields(Strict):
    level: LogLevel
    logger: Keyword | None = Field(None, description="The SMS component that wrote the record")
    file: LogFile
    offset: int = Field(ge=0, description="Byte offset of the record's start in the original file")


class ThreadFields(Strict):
    id: int | None = Field(None, ge=0, le=2**32 - 1)


class ProcessFields(Strict):
    thread: ThreadFields = Field(default_factory=ThreadFields)


class HostFields(Strict):
    name: Keyword | None = None


class ErrorFields(Strict):
    code: Keyword | None = Field(None, description="HRESULT form: lower-case 0x, upper-case hex digits")


class SmsLogFields(Strict):
    format: LogFormat
    file_id: Keyword | None = Field(None, description="File identity used in the document id")
    encoding: Keyword | None = None


class SmsSiteFields(Strict):
    code: Keyword | None = None


class StatusMessage(Strict):
    """Fields of an embedded `STATMSG:` line."""

    id: int | None = None
    severity: Literal["I", "W", "E"] | None = None
    level: Keyword | None = None
    source: Keyword | None = None
    component: Keyword | None = None
    system: Keyword | None = None
    site: Keyword | None = None
    pid: int | None = None
    tid: int | None = None
    gmt_date: UtcMillis | None = Field(None, description="GMTDATE: the status message's own UTC time")
    insertion_strings: list[str] = Field(default_factory=list, description="ISTR0..ISTR9 in order")
    num_attrs: int | None = None


class SmsErrorFields(Strict):
    hint: str | None = Field(None, description="Known cause of error.code, from the code table")


class SmsFields(Strict):
    log: SmsLogFields
    site: SmsSiteFields = Field(default_factory=SmsSiteFields)
    status_message: StatusMessage | None = None
    error: SmsErrorFields = Field(default_factory=SmsErrorFields)


class LogDocument(Strict):
    """One normalized record: exactly what is indexed."""

    timestamp: UtcMillis = Field(alias="@timestamp", description="UTC, ISO 8601 with milliseconds")
    message: str
    event: EventFields
    log: LogFields
    process: ProcessFields = Field(default_factory=ProcessFields)
    host: HostFields = Field(default_factory=HostFields)
    sms: SmsFields
    error: ErrorFields = Field(default_factory=ErrorFields)


def document_id(site: str | None, file_id: str, offset: int) -> str:
    """Deterministic `_id` of a record: the same record always gets the same id, so replays dedupe."""
    key = f"{site or '-'}\x1f{file_id}\x1f{offset}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def index_for(timestamp_iso: str, prefix: str = "bootwatch-logs") -> str:
    """Monthly index from an ISO timestamp `YYYY-MM-...`: a record always lands in the same index."""
    return f"{prefix}-{timestamp_iso[0:4]}.{timestamp_iso[5:7]}"


# --------------------------------------------------------------------------- store documents (issue 3)


class HeartbeatFile(Strict):
    """One followed file as a heartbeat reports it."""

    path: str = Field(description="Path of the log file as the shipper saw it")
    file_id: Keyword = Field(description="File identity (fingerprint)")
    size: int = Field(ge=0, description="File size in bytes when the heartbeat was sent")
    offset: int = Field(ge=0, description="Acknowledged offset: bytes of the file already delivered")


class HeartbeatDocument(Strict):
    """One shipper heartbeat, indexed into `bootwatch-heartbeats`: proof the shipper was alive then."""

    timestamp: UtcMillis = Field(alias="@timestamp", description="When the collector received it (UTC)")
    site: Keyword = Field(description="SMS site code the shipper serves")
    host: Keyword = Field(description="Host name of the shipper's machine")
    shipper_version: Keyword | None = Field(None, description="Version of the sending shipper")
    files: list[HeartbeatFile] = Field(default_factory=list, description="Files the shipper follows")
    queue_bytes: int = Field(0, ge=0, description="Bytes waiting in the shipper's on-disk queue")
    queue_records: int = Field(0, ge=0, description="Records waiting in the shipper's on-disk queue")
    heartbeat_s: float = Field(gt=0, description="The shipper's heartbeat interval in seconds")


class DeadLetterDocument(Strict):
    """A record the store refused (mapping violation, bad value): kept with the reason, never dropped."""

    timestamp: UtcMillis = Field(alias="@timestamp", description="When the record was dead-lettered (UTC)")
    reason: str = Field(description="The server's error reason")
    error_type: Keyword = Field(description="The server's error type, e.g. strict_dynamic_mapping_exception")
    status: int = Field(description="HTTP status of the refused item")
    target_index: Keyword = Field(description="Index the record was meant for")
    document_id: Keyword = Field(description="The `_id` the record was meant to have")
    original: str = Field(description="The refused document, as JSON")
    site: Keyword | None = Field(None, description="sms.site.code of the refused document, if readable")
    file_id: Keyword | None = Field(None, description="sms.log.file_id of the refused document, if readable")
    offset: int | None = Field(None, description="log.offset of the refused document, if readable")


AlertAction = Literal["raised", "resolved"]


class AlertDocument(Strict):
    """One alert event in `bootwatch-alerts`: a saved query started (or stopped) matching a site attempt."""

    at: UtcMillis = Field(description="When the alert runner raised or resolved the alert (UTC)")
    query: Keyword = Field(description="Name of the saved query that matched")
    site: Keyword = Field(description="SMS site code")
    host: Keyword | None = Field(None, description="Host of the site server, when known")
    attempt_id: Keyword | None = Field(None, description="The install attempt the alert is about")
    state: AttemptState | None = Field(None, description="The attempt's state when the alert fired")
    action: AlertAction = Field(description="raised: started matching; resolved: stopped matching")
    message: str | None = Field(None, description="Human-readable summary sent to the channels")
    notified: list[Keyword] = Field(default_factory=list, description="Channels notified: email, webhook...")


# --------------------------------------------------------------------------- site install attempts


class SiteAttempt(Strict):
    """One install attempt of one secondary site, judged as of a time: the document in `bootwatch-sites`
    (`_id` = `attempt_id`). Built by `parsers.lifecycle.attempts.SiteTracker`."""

    site: Keyword = Field(description="SMS site code of the secondary")
    host: Keyword | None = Field(None, description="Host name from the attempt's latest record that had one")
    attempt_id: Keyword = Field(description="Deterministic: site and the time of the record that opened it")
    attempt_number: int = Field(ge=1, description="1 for the site's first attempt seen, 2 for the next...")
    state: AttemptState = Field(description="in_progress, succeeded, failed_unreported, stalled or dark")
    implicit_start: bool = Field(
        False, description="Opened by a failure or success record because no start marker was seen"
    )
    started_at: UtcMillis = Field(description="Time of the start marker (or of the record that opened it)")
    last_event_at: UtcMillis = Field(description="Time of the attempt's latest record")
    ended_at: UtcMillis | None = Field(
        None, description="Success time; for a failure the Bootstrap stop after it, else the failure time"
    )
    failed_at: UtcMillis | None = Field(None, description="Time of the attempt's first install.failed record")
    detected_at: UtcMillis | None = Field(
        None, description="As-of time at which bootwatch first judged the attempt in its current bad state"
    )
    last_message: str | None = Field(None, description="Message of the attempt's latest record (truncated)")
    error_code: Keyword | None = Field(None, description="First error.code among the attempt's error records")
    hint: str | None = Field(None, description="Known cause of error_code")
    shipper_last_seen: UtcMillis | None = Field(None, description="Latest shipper heartbeat for the site")
    record_count: int = Field(ge=0, description="Records attributed to the attempt")
    judged_as_of: UtcMillis = Field(description="The time the state was judged for")
    evidence: int = Field(
        0,
        ge=0,
        description="Records of the site (all attempts) the judging tracker had folded; a stored judgment "
        "is replaced only by one made on at least as many",
    )
