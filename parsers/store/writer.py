"""The bulk writer: log documents -> `bootwatch-logs-YYYY.MM`, idempotent, retried, never dropping a record.

Each document gets a deterministic `_id` (`document_id(sms.site.code, sms.log.file_id, log.offset)`) and
is sent with `op_type: create`, so a 409 means "already stored" and counts as deduplicated. Batches are
cut by count and bytes by an I/O-free chunker and sent with the official `helpers.streaming_bulk`, one
at a time and in order, the next one serialized while the previous one is on the wire;
the `RetryPolicy` decides per item: 429 / 5xx / connection errors are resent (only those items) after a
capped, jittered backoff; any other 4xx (a strict-mapping violation, a bad value) goes to
`bootwatch-deadletter` with the reason and the original document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import Elasticsearch, helpers

from parsers.schema import DeadLetterDocument, document_id, format_utc_millis, index_for
from parsers.store.connect import Store
from parsers.store.errors import StoreError, StoreUnavailable
from parsers.store.retry import ItemOutcome, RetryPolicy
from parsers.store.templates import DEADLETTER_INDEX, KEYWORD_LIMIT, LOGS_INDEX_PREFIX

# header (`{"create": {"_index", "_id"}}`) and the serialized document
Action = tuple[dict[str, dict[str, str]], bytes]

DEFAULT_BATCH_DOCS = 1000
DEFAULT_BATCH_BYTES = 5 * 1024 * 1024
_CONNECTION_FAILURE_STATUS = 503  # nothing reached the index: treated like "unavailable"


@dataclass(slots=True)
class WriteResult:
    """Counts of one `write` call; every input record is in exactly one of the first three."""

    indexed: int = 0
    deduplicated: int = 0
    dead_lettered: int = 0
    retried: int = 0  # item resends, not records

    @property
    def records(self) -> int:
        return self.indexed + self.deduplicated + self.dead_lettered

    def add(self, other: WriteResult) -> None:
        self.indexed += other.indexed
        self.deduplicated += other.deduplicated
        self.dead_lettered += other.dead_lettered
        self.retried += other.retried


class RetriesExhausted(StoreUnavailable):
    """The policy gave up on items the server kept refusing with 429/5xx; `result` counts what was done."""

    def __init__(self, message: str, result: WriteResult) -> None:
        super().__init__(message)
        self.result = result


def log_action(document: dict[str, Any], index_prefix: str = LOGS_INDEX_PREFIX) -> Action:
    """The bulk action of one log document: monthly index from `@timestamp`, id from its origin."""
    sms = document["sms"]
    log = document["log"]
    file_identity = sms["log"].get("file_id") or log["file"]["path"]
    doc_id = document_id(sms.get("site", {}).get("code"), file_identity, log["offset"])
    header = {"create": {"_index": index_for(document["@timestamp"], index_prefix), "_id": doc_id}}
    return header, pydantic_core.to_json(document)


def chunk_actions(actions: Iterable[Action], max_docs: int, max_bytes: int) -> Iterator[list[Action]]:
    """Cut actions into batches of at most `max_docs` and about `max_bytes` (one oversized action alone)."""
    batch: list[Action] = []
    batch_bytes = 0
    for action in actions:
        # header bytes are small and near-constant: the body dominates the request size
        size = len(action[1]) + 64
        if batch and (len(batch) >= max_docs or batch_bytes + size > max_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(action)
        batch_bytes += size
    if batch:
        yield batch


def _as_is(action: Action) -> Action:
    # the actions are already (header, serialized body): nothing to expand
    return action


@dataclass(slots=True)
class _Refusal:
    action: Action
    status: int
    error: dict[str, Any] | str


@dataclass(slots=True)
class _BatchOutcome:
    result: WriteResult = field(default_factory=WriteResult)
    refused: list[_Refusal] = field(default_factory=list)


class BulkWriter:
    """Writes log documents idempotently; reusable across calls (the collector calls `write` per batch)."""

    def __init__(
        self,
        store: Store,
        *,
        policy: RetryPolicy | None = None,
        batch_docs: int = DEFAULT_BATCH_DOCS,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        index_prefix: str = LOGS_INDEX_PREFIX,
    ) -> None:
        # the policy is the only retry layer: the transport must not resend on its own
        self.client: Elasticsearch = store.client.options(max_retries=0, retry_on_status=())
        self.policy = policy or RetryPolicy()
        self.batch_docs = batch_docs
        self.batch_bytes = batch_bytes
        self.index_prefix = index_prefix

    def write(self, documents: Iterable[dict[str, Any]]) -> WriteResult:
        """Index the documents; returns how many were indexed, deduplicated, dead-lettered and retried."""
        total = WriteResult()
        malformed: list[_Refusal] = []
        batches = chunk_actions(self._actions(documents, malformed), self.batch_docs, self.batch_bytes)
        # One batch on the wire while the next is serialized here, so the store does not sit idle
        # between the requests of a large write. Batches still go one at a time and in order.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-send") as sender:
            on_the_wire: Future[_BatchOutcome] | None = None
            for batch in batches:
                if on_the_wire is not None:
                    self._settle(on_the_wire, malformed, total)
                on_the_wire = sender.submit(self._send, batch)
            if on_the_wire is not None:
                self._settle(on_the_wire, malformed, total)
        self._dead_letter_all(malformed, total)
        return total

    def _settle(self, sent: Future[_BatchOutcome], malformed: list[_Refusal], total: WriteResult) -> None:
        """Wait for a sent batch, count it, and dead-letter what it and the batches so far refused."""
        try:
            outcome = sent.result()
        except RetriesExhausted as exc:
            total.add(exc.result)
            raise RetriesExhausted(str(exc), total) from exc
        total.add(outcome.result)
        self._dead_letter_all(outcome.refused, total)
        self._dead_letter_all(malformed, total)

    def _actions(self, documents: Iterable[dict[str, Any]], malformed: list[_Refusal]) -> Iterator[Action]:
        """Bulk actions; a document that cannot even be placed (no `@timestamp`, no `log.offset`) is set
        aside in `malformed` to be dead-lettered: a bad record is data, not an exception."""
        for document in documents:
            try:
                yield log_action(document, self.index_prefix)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                body = pydantic_core.to_json(document, fallback=str)
                header = {
                    "create": {
                        "_index": f"{self.index_prefix}-unplaced",
                        "_id": hashlib.blake2b(body, digest_size=16).hexdigest(),
                    }
                }
                reason = {"type": "malformed_document", "reason": f"cannot compute index and id: {exc!r}"}
                malformed.append(_Refusal((header, body), 0, reason))

    def _dead_letter_all(self, refusals: list[_Refusal], total: WriteResult) -> None:
        """Dead-letter and count the refusals, then forget them (the list is emptied)."""
        if not refusals:
            return
        try:
            total.retried += self._dead_letter(refusals)
        except RetriesExhausted as exc:
            total.retried += exc.result.retried
            raise RetriesExhausted(str(exc), total) from exc
        total.dead_lettered += len(refusals)
        refusals.clear()

    def _send(self, batch: list[Action]) -> _BatchOutcome:
        """Send a batch, resending only the retryable items, until none is left or the policy gives up."""
        outcome = _BatchOutcome()
        pending = batch
        attempt = 0
        while pending:
            attempt += 1
            retry: list[Action] = []
            for action, status, error in self._bulk(pending):
                verdict = self.policy.outcome(status)
                if verdict is ItemOutcome.INDEXED:
                    outcome.result.indexed += 1
                elif verdict is ItemOutcome.DEDUPLICATED:
                    outcome.result.deduplicated += 1
                elif verdict is ItemOutcome.RETRY:
                    retry.append(action)
                else:
                    outcome.refused.append(_Refusal(action, status, error))
            if retry and not self.policy.should_retry(attempt):
                raise RetriesExhausted(
                    f"{len(retry)} record(s) still refused with 429/5xx after {attempt} attempts",
                    outcome.result,
                )
            if retry:
                outcome.result.retried += len(retry)
                self.policy.wait(attempt)
            pending = retry
        return outcome

    def _bulk(self, actions: list[Action]) -> Iterator[tuple[Action, int, dict[str, Any] | str]]:
        """One `_bulk` request through the official helper: (action, status, error) per item, in order."""
        try:
            results = list(
                helpers.streaming_bulk(
                    self.client,
                    actions,
                    chunk_size=len(actions),
                    max_chunk_bytes=2**62,
                    expand_action_callback=_as_is,
                    raise_on_error=False,
                    raise_on_exception=False,
                    yield_ok=True,
                )
            )
        except (TransportConnectionError, ConnectionTimeout) as exc:
            for action in actions:
                yield action, _CONNECTION_FAILURE_STATUS, str(exc)
            return
        for action, (_ok, item) in zip(actions, results, strict=True):
            (info,) = item.values()
            status = info.get("status", 500)
            status = int(status) if isinstance(status, int) else 500
            if "exception" in info and self.policy.outcome(status) is ItemOutcome.DEAD_LETTER:
                # the whole request was refused (401, 403, 413...): not any record's fault
                raise StoreError(f"the store refused the bulk request: {status} {info.get('error', '')}")
            yield action, status, info.get("error", "")

    def _dead_letter(self, refusals: list[_Refusal]) -> int:
        """Store refused records in `bootwatch-deadletter` (same `_id`, so a replay dedupes them too).

        Returns the item resends it took."""
        now = format_utc_millis(datetime.now(UTC))
        outcome = self._send([_dead_letter_action(refusal, now) for refusal in refusals])
        if outcome.refused:
            first = outcome.refused[0]
            raise StoreError(
                f"{DEADLETTER_INDEX} refused {len(outcome.refused)} dead letter(s) ({first.error}); "
                "run `bootwatch setup` to install its template"
            )
        return outcome.result.retried


def _dead_letter_action(refusal: _Refusal, dead_lettered_at: str) -> Action:
    header, body = refusal.action
    target = header["create"]
    error = refusal.error
    if isinstance(error, dict):
        error_type = str(error.get("type", "unknown"))
        reason = str(error.get("reason", error))
    else:
        error_type, reason = "unknown", str(error)
    error_type = error_type[:KEYWORD_LIMIT]
    original_text = body.decode("utf-8", "replace")
    site, file_id, offset = _origin_of(original_text)
    letter = DeadLetterDocument.model_validate(
        {
            "@timestamp": dead_lettered_at,
            "reason": reason,
            "error_type": error_type,
            "status": refusal.status,
            "target_index": target["_index"],
            "document_id": target["_id"],
            "original": original_text,
            "site": site[:KEYWORD_LIMIT] if isinstance(site, str) else None,
            "file_id": file_id[:KEYWORD_LIMIT] if isinstance(file_id, str) else None,
            "offset": offset if isinstance(offset, int) else None,
        }
    )
    dead_header = {"create": {"_index": DEADLETTER_INDEX, "_id": target["_id"]}}
    return dead_header, pydantic_core.to_json(
        letter.model_dump(mode="json", by_alias=True, exclude_none=True)
    )


def _origin_of(original_text: str) -> tuple[Any, Any, Any]:
    """(site, file_id, offset) of a refused document, as far as its JSON says."""
    try:
        original = json.loads(original_text)
        return (
            (original.get("sms") or {}).get("site", {}).get("code"),
            (original.get("sms") or {}).get("log", {}).get("file_id"),
            (original.get("log") or {}).get("offset"),
        )
    except (ValueError, AttributeError):
        # A refused record that is not even a JSON object is still kept, just without its origin.
        return None, None, None
