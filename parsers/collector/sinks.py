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
from elasticsearch import ApiError, helpers

from parsers.lifecycle.attempts import FleetTracker, SiteTracker
from parsers.schema import HeartbeatDocument, document_id, format_utc_millis
from parsers.store.connect import Store
from parsers.store.errors import StoreUnavailable
from parsers.store.sites import SiteStore
from parsers.store.templates import DEADLETTER_INDEX, LOGS_INDEX_PREFIX, install_templates
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

    def maintain(self, now: datetime) -> None: ...

    def prepare(self) -> None: ...

    def close(self) -> None: ...


def key_of(document: dict[str, Any]) -> tuple[str | None, str, int]:
    """What the document's id is made of: (site, file_id, offset)."""
    sms = document["sms"]
    return sms["site"].get("code"), sms["log"]["file_id"], document["log"]["offset"]


def id_of(document: dict[str, Any]) -> str:
    """The document's own id: (site, file_id, offset), as the store computes it."""
    return document_id(*key_of(document))


def _site_of(document: dict[str, Any]) -> str | None:
    return ((document.get("sms") or {}).get("site") or {}).get("code") or None


class NullSink:
    """Keeps only the set of document identities: measures the collector without a store.

    It keeps the (site, file_id, offset) keys rather than hashing each into its `_id`: the same
    identity, without a hash per record in the measured path."""

    def __init__(self) -> None:
        self.keys: set[tuple[str | None, str, int]] = set()
        self.heartbeats: list[dict[str, Any]] = []
        self.dead: list[DeadRecord] = []

    @property
    def ids(self) -> set[str]:
        """The `_id`s the store would give the documents kept."""
        return {document_id(*key) for key in self.keys}

    def write(self, documents: list[dict[str, Any]]) -> SinkResult:
        before = len(self.keys)
        self.keys.update([key_of(document) for document in documents])
        indexed = len(self.keys) - before
        return SinkResult(indexed=indexed, deduplicated=len(documents) - indexed)

    def write_heartbeats(self, heartbeats: list[dict[str, Any]]) -> None:
        self.heartbeats.extend(heartbeats)

    def dead_letter(self, records: list[DeadRecord]) -> int:
        self.dead.extend(records)
        return len(records)

    def maintain(self, now: datetime) -> None:
        """No site state to re-judge."""

    def prepare(self) -> None:
        """Nothing to connect to."""

    def close(self) -> None:
        """Nothing to release."""


class StoreSink:
    """Writes to the store: log documents through the bulk writer, heartbeats and site install state
    through the site store. Connects lazily, so a store that is down at start only grows the spool.

    Site install state: one tracker per site folds the records written; after each batch the touched
    sites' attempts are judged as of now and saved (the store keeps the judgment made on the most
    evidence), and attempt ids a late record took back are deleted. On a site's first record or
    heartbeat since start, its tracker resumes from the stored latest attempt, so a collector restarted
    against a durable cluster carries on (numbering, the open attempt) instead of starting the site over;
    with the embedded engine the store starts empty and the spool replay rebuilds it."""

    def __init__(self, connect: Callable[[], Store]) -> None:
        self._connect = connect
        self._store: Store | None = None
        self._writer: BulkWriter | None = None
        self._sites: SiteStore | None = None
        self.fleet = FleetTracker()
        # Per site: superseded attempt ids not deleted yet (kept across a failed batch, retried with it).
        self._superseded: dict[str, set[str]] = {}

    def _open(self) -> tuple[BulkWriter, SiteStore]:
        """The writers (connecting, and installing the index templates, on first use)."""
        if self._store is None:
            try:
                store = self._connect()
            except StoreUnavailable as exc:
                raise SinkUnavailable(str(exc)) from exc
            try:
                install_templates(store)
            except (StoreUnavailable, TransportError) as exc:
                store.close()
                raise SinkUnavailable(f"cannot install index templates: {exc}") from exc
            self._store, self._writer, self._sites = store, BulkWriter(store), SiteStore(store)
            kind = (
                "the embedded engine (in memory, rebuilt from the spool at start)"
                if store.is_embedded
                else "store"
            )
            log.info("indexing into %s at %s", kind, store.url)
        assert self._writer is not None and self._sites is not None
        return self._writer, self._sites

    def prepare(self) -> None:
        """Connect and install the templates now if the store is up (else on the first write)."""
        try:
            self._open()
        except SinkUnavailable as exc:
            log.warning("store not reachable yet (%s); frames are spooled until it is", exc)

    @property
    def store(self) -> Store:
        self._open()
        assert self._store is not None
        return self._store

    def write(self, documents: list[dict[str, Any]]) -> SinkResult:
        writer, sites = self._open()
        try:
            result = writer.write(documents)
        except (StoreUnavailable, TransportError) as exc:
            raise self._lost(exc) from exc
        try:
            for site in sorted({code for doc in documents if (code := _site_of(doc))}):
                self._tracker(sites, site)
        except (StoreUnavailable, TransportError) as exc:
            raise self._lost(exc) from exc
        touched = {doc["sms"]["site"]["code"] for doc in documents if self.fleet.observe(doc)}
        self._save_sites(sites, touched)
        return SinkResult(result.indexed, result.deduplicated, result.dead_lettered)

    def _tracker(self, sites: SiteStore, site: str) -> SiteTracker:
        """The site's tracker; on its first use since start, resumed from the stored latest attempt."""
        tracker = self.fleet.trackers.get(site)
        if tracker is None:
            stored = sites.latest_attempt(site)
            tracker = self.fleet.resume(stored) if stored is not None else self.fleet.tracker(site)
        return tracker

    def _save_sites(self, sites: SiteStore, touched: set[str]) -> None:
        """Store the touched sites' attempts as judged now (merged with what is stored), then delete the
        attempts a late record took back (after the save, so the site never shows no attempt)."""
        now = datetime.now(UTC)
        try:
            for site in sorted(touched):
                tracker = self.fleet.tracker(site)
                judged = tracker.judge(now)
                sites.save(judged)
                superseded = self._superseded.setdefault(site, set())
                superseded.update(tracker.take_superseded_ids())
                superseded.difference_update(attempt.attempt_id for attempt in judged)
                if superseded:
                    sites.delete_superseded(sorted(superseded), tracker.records_seen)
                    superseded.clear()
        except (StoreUnavailable, TransportError) as exc:
            raise self._lost(exc) from exc
        except ApiError as exc:
            # The logs are stored; a site document the server refuses must not block them.
            log.error("could not save site install state: %s", exc)

    def _lost(self, exc: Exception) -> SinkUnavailable:
        log.warning("store unavailable: %s", exc)
        return SinkUnavailable(str(exc))

    def write_heartbeats(self, heartbeats: list[dict[str, Any]]) -> None:
        _writer, sites = self._open()
        try:
            for heartbeat in heartbeats:
                model = HeartbeatDocument.model_validate(heartbeat)
                sites.record_heartbeat(model)
                self._tracker(sites, model.site).observe_heartbeat(model.timestamp)
        except (StoreUnavailable, TransportError) as exc:
            raise self._lost(exc) from exc

    def maintain(self, now: datetime) -> None:
        """Re-judge open attempts (stalled / dark appear without new records)."""
        _writer, sites = self._open()
        try:
            sites.sweep(now)
        except (StoreUnavailable, TransportError) as exc:
            raise self._lost(exc) from exc

    def dead_letter(self, records: list[DeadRecord]) -> int:
        now = format_utc_millis(datetime.now(UTC))
        actions = []
        for dead in records:
            original = json.dumps(dead.record, default=str, ensure_ascii=False)
            record_id = hashlib.blake2b(original.encode("utf-8", "surrogateescape"), digest_size=16)
            body = {
                "@timestamp": now,
                "reason": dead.reason,
                "error_type": "collector_rejected",
                "status": 0,
                "target_index": LOGS_INDEX_PREFIX,
                "document_id": record_id.hexdigest(),
                "original": original,
            }
            action = {"_op_type": "create", "_index": DEADLETTER_INDEX, "_id": record_id.hexdigest()}
            actions.append({**action, "_source": body})
        try:
            _ok, errors = helpers.bulk(self.store.client, actions, raise_on_error=False)
        except TransportError as exc:
            raise self._lost(exc) from exc
        failed = [error for error in errors if next(iter(error.values())).get("status") != 409]
        if failed:
            raise SinkUnavailable(f"{DEADLETTER_INDEX} refused {len(failed)} document(s): {failed[0]}")
        return len(records)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
