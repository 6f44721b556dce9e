"""Where the pipeline's documents go: the store (Elasticsearch or the embedded engine) or a null sink.

A sink either takes a whole batch or raises `SinkUnavailable`; the pipeline then keeps the batch
in the spool and retries it later. Batches may be written twice (after a crash or a retry): sinks
de-duplicate by the record's own id, never by anything the sender chose.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from elastic_transport import TransportError
from elasticsearch import helpers

from parsers.schema import document_id, format_utc_millis
from parsers.store.connect import Store
from parsers.store.errors import StoreUnavailable
from parsers.store.templates import DEADLETTER_INDEX, HEARTBEATS_INDEX, LOGS_INDEX_PREFIX, install_templates
from parsers.store.writer import BulkWriter

log = logging.getLogger(__name__)


class SinkUnavailable(Exception):
    """The sink cannot take the batch now (store down); retry the same batch later."""


@dataclass(slots=True)
class SinkResult:
    indexed: int = 0
    deduplicated: int = 0
    dead_lettered: int = 0


@dataclass(slots=True)
class DeadRecord:
    """A record the collector could not turn into a document, kept with the reason."""

    reason: str
    tag: str
    record: dict[str, Any]


class Sink(Protocol):
    def write(self, documents: list[dict[str, Any]]) -> SinkResult: ...

    def write_heartbeats(self, heartbeats: list[dict[str, Any]]) -> None: ...

    def dead_letter(self, records: list[DeadRecord]) -> int: ...

    def close(self) -> None: ...


def id_of(document: dict[str, Any]) -> str:
    """The document's own id: (site, file_id, offset), as the store computes it."""
    sms = document["sms"]
    return document_id(sms["site"].get("code"), sms["log"]["file_id"], document["log"]["offset"])


def heartbeat_id(heartbeat: dict[str, Any]) -> str:
    """Same heartbeat (site, host, time) -> same id, so a spool replay does not duplicate it."""
    key = f"{heartbeat['site']}\x1f{heartbeat['host']}\x1f{heartbeat['@timestamp']}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


class NullSink:
    """Keeps only the set of document ids: measures the collector without a store."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.heartbeats: list[dict[str, Any]] = []
        self.dead: list[DeadRecord] = []

    def write(self, documents: list[dict[str, Any]]) -> SinkResult:
        before = len(self.ids)
        self.ids.update(id_of(document) for document in documents)
        indexed = len(self.ids) - before
        return SinkResult(indexed=indexed, deduplicated=len(documents) - indexed)

    def write_heartbeats(self, heartbeats: list[dict[str, Any]]) -> None:
        self.heartbeats.extend(heartbeats)

    def dead_letter(self, records: list[DeadRecord]) -> int:
        self.dead.extend(records)
        return len(records)

    def close(self) -> None:
        """Nothing to release."""


class StoreSink:
    """Writes to the store through its bulk writer; connects lazily so a store that is down at start
    only grows the spool."""

    def __init__(self, connect: Callable[[], Store]) -> None:
        self._connect = connect
        self._store: Store | None = None
        self._writer: BulkWriter | None = None

    @property
    def store(self) -> Store:
        """The open store (connecting, and installing templates, on first use)."""
        if self._store is None:
            try:
                store = self._connect()
            except StoreUnavailable as exc:
                raise SinkUnavailable(str(exc)) from exc
            try:
                install_templates(store)
            except Exception as exc:
                store.close()
                raise SinkUnavailable(f"cannot install index templates: {exc}") from exc
            self._store, self._writer = store, BulkWriter(store)
        return self._store

    def _lost(self, exc: Exception) -> SinkUnavailable:
        log.warning("store unavailable: %s", exc)
        return SinkUnavailable(str(exc))

    def write(self, documents: list[dict[str, Any]]) -> SinkResult:
        self.store  # noqa: B018 - connects on first use
        assert self._writer is not None
        try:
            result = self._writer.write(documents)
        except StoreUnavailable as exc:
            raise self._lost(exc) from exc
        return SinkResult(result.indexed, result.deduplicated, result.dead_lettered)

    def _bulk_create(self, index: str, items: list[tuple[str, dict[str, Any]]]) -> None:
        actions = [{"_op_type": "create", "_index": index, "_id": _id, "_source": body} for _id, body in items]
        try:
            _ok, errors = helpers.bulk(self.store.client, actions, raise_on_error=False, stats_only=False)
        except TransportError as exc:
            raise self._lost(exc) from exc
        failed = [error for error in errors if next(iter(error.values())).get("status") != 409]
        if failed:
            raise SinkUnavailable(f"{index} refused {len(failed)} document(s): {failed[0]}")

    def write_heartbeats(self, heartbeats: list[dict[str, Any]]) -> None:
        self._bulk_create(HEARTBEATS_INDEX, [(heartbeat_id(beat), beat) for beat in heartbeats])

    def dead_letter(self, records: list[DeadRecord]) -> int:
        now = format_utc_millis(datetime.now(UTC))
        items = []
        for dead in records:
            original = json.dumps(dead.record, default=str, ensure_ascii=False)
            record_id = hashlib.blake2b(original.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
            body = {
                "@timestamp": now,
                "reason": dead.reason,
                "error_type": "collector_rejected",
                "status": 0,
                "target_index": LOGS_INDEX_PREFIX,
                "document_id": record_id,
                "original": original,
            }
            items.append((record_id, body))
        self._bulk_create(DEADLETTER_INDEX, items)
        return len(records)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
