"""The bulk writer: idempotent creates, retries of only the refused items, dead letters, batching."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from store_helpers import BulkProxy, FaultMode, log_document

from parsers.schema import DeadLetterDocument, document_id
from parsers.store.connect import Store, connect
from parsers.store.errors import StoreError
from parsers.store.retry import RetryPolicy
from parsers.store.templates import DEADLETTER_INDEX
from parsers.store.writer import BulkWriter, RetriesExhausted, chunk_actions, log_action

pytestmark = pytest.mark.integration

ProxyFactory = Callable[[int, FaultMode], BulkProxy]


def _fast_policy(max_attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, initial_backoff_s=0.01, max_backoff_s=0.05)


def _count(store: Store, index: str) -> int:
    store.client.indices.refresh(index=index)
    return int(store.client.count(index=index)["count"])


def test_documents_land_in_their_event_month_index_with_deterministic_ids(store: Store) -> None:
    documents = [
        log_document(0, timestamp="2002-07-31T23:59:59.000Z"),
        log_document(80, timestamp="2002-08-01T00:00:00.000Z"),
    ]
    result = BulkWriter(store).write(documents)
    assert (result.indexed, result.deduplicated, result.dead_lettered) == (2, 0, 0)
    stored = store.client.get(index="bootwatch-logs-2002.08", id=document_id("S02", "fp-1", 80))
    assert stored["_source"]["log"]["offset"] == 80
    assert _count(store, "bootwatch-logs-2002.07") == 1


def test_writing_the_same_records_twice_counts_them_as_deduplicated(store: Store) -> None:
    documents = [log_document(offset) for offset in range(0, 500, 50)]
    writer = BulkWriter(store, batch_docs=4)
    first = writer.write(documents)
    second = writer.write(documents)
    assert (first.indexed, first.deduplicated) == (10, 0)
    assert (second.indexed, second.deduplicated) == (0, 10)
    assert _count(store, "bootwatch-logs-*") == 10


def test_items_refused_with_429_are_resent_alone_and_then_stored(
    store: Store, bulk_proxy: ProxyFactory
) -> None:
    proxy = bulk_proxy(1, "partial")
    documents = [log_document(offset) for offset in range(8)]
    with connect(proxy.url) as through_proxy:
        result = BulkWriter(through_proxy, policy=_fast_policy()).write(documents)
    assert (result.indexed, result.retried, result.deduplicated) == (8, 4, 0)
    first_call, second_call = proxy.bulk_calls
    assert len(first_call) == 8
    assert second_call == first_call[1::2]
    assert _count(store, "bootwatch-logs-*") == 8


def test_a_whole_request_answered_429_is_retried_after_backoff(
    store: Store, bulk_proxy: ProxyFactory
) -> None:
    proxy = bulk_proxy(2, "whole")
    documents = [log_document(offset) for offset in range(6)]
    with connect(proxy.url) as through_proxy:
        result = BulkWriter(through_proxy, policy=_fast_policy(), batch_docs=3).write(documents)
    assert (result.indexed, result.retried) == (6, 3)
    assert proxy.bulk_calls[1] == proxy.bulk_calls[2]
    assert _count(store, "bootwatch-logs-*") == 6


def test_a_large_write_sends_its_batches_in_order_one_at_a_time(
    store: Store, bulk_proxy: ProxyFactory
) -> None:
    proxy = bulk_proxy(0, "whole")  # call 0 never comes: a plain recording proxy
    documents = [log_document(offset) for offset in range(0, 700, 10)]
    with connect(proxy.url) as through_proxy:
        result = BulkWriter(through_proxy, batch_docs=8).write(documents)
    assert (result.indexed, result.deduplicated) == (70, 0)
    sent_ids = [doc_id for call in proxy.bulk_calls for doc_id in call]
    assert sent_ids == [document_id("S02", "fp-1", doc["log"]["offset"]) for doc in documents]
    assert [len(call) for call in proxy.bulk_calls] == [8] * 8 + [6]
    # The next batch is prepared while one is on the wire, but never sent beside it.
    assert proxy.most_bulk_in_flight == 1


def test_when_the_policy_gives_up_on_a_batch_the_later_batches_are_not_sent(
    store: Store, bulk_proxy: ProxyFactory
) -> None:
    proxy = bulk_proxy(2, "whole")
    documents = [log_document(offset) for offset in range(0, 60, 10)]
    with connect(proxy.url) as through_proxy, pytest.raises(RetriesExhausted) as raised:
        BulkWriter(through_proxy, policy=_fast_policy(max_attempts=1), batch_docs=2).write(documents)
    assert raised.value.result.indexed == 2
    assert len(proxy.bulk_calls) == 2
    assert _count(store, "bootwatch-logs-*") == 2


def test_a_dropped_connection_is_retried(store: Store, bulk_proxy: ProxyFactory) -> None:
    proxy = bulk_proxy(1, "drop")
    with connect(proxy.url) as through_proxy:
        result = BulkWriter(through_proxy, policy=_fast_policy()).write([log_document(0), log_document(10)])
    assert (result.indexed, result.retried) == (2, 2)
    assert _count(store, "bootwatch-logs-*") == 2


def test_the_policy_gives_up_with_the_counts_so_far(store: Store, bulk_proxy: ProxyFactory) -> None:
    proxy = bulk_proxy(1, "whole")
    with connect(proxy.url) as through_proxy, pytest.raises(RetriesExhausted) as raised:
        BulkWriter(through_proxy, policy=_fast_policy(max_attempts=1)).write([log_document(0)])
    assert raised.value.result.indexed == 0
    assert len(proxy.bulk_calls) == 1


def test_a_strict_mapping_violation_is_dead_lettered_with_reason_and_original(store: Store) -> None:
    good = log_document(0)
    bad = log_document(100)
    bad["sms"]["unexpected"] = "field the schema does not know"
    writer = BulkWriter(store)
    result = writer.write([good, bad])
    assert (result.indexed, result.dead_lettered) == (1, 1)
    assert _count(store, DEADLETTER_INDEX) == 1
    letter = store.client.get(index=DEADLETTER_INDEX, id=document_id("S02", "fp-1", 100))["_source"]
    DeadLetterDocument.model_validate(letter)
    assert letter["status"] == 400
    assert "unexpected" in letter["reason"]
    assert json.loads(letter["original"]) == bad
    assert (letter["site"], letter["file_id"], letter["offset"]) == ("S02", "fp-1", 100)
    again = writer.write([good, bad])
    assert (again.deduplicated, again.dead_lettered) == (1, 1)
    assert _count(store, DEADLETTER_INDEX) == 1


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    actions = [log_action(log_document(offset, message="x" * 300)) for offset in range(10)]
    by_count = list(chunk_actions(actions, max_docs=4, max_bytes=10**9))
    assert [len(batch) for batch in by_count] == [4, 4, 2]
    one_size = len(actions[0][1]) + 64
    by_bytes = list(chunk_actions(actions, max_docs=1000, max_bytes=3 * one_size))
    assert [len(batch) for batch in by_bytes] == [3, 3, 3, 1]
    assert [action for batch in by_bytes for action in batch] == actions


def test_a_record_larger_than_the_byte_limit_goes_alone() -> None:
    actions = [log_action(log_document(offset, message="y" * 5000)) for offset in range(3)]
    assert [len(batch) for batch in chunk_actions(actions, max_docs=10, max_bytes=100)] == [1, 1, 1]


def test_a_document_without_timestamp_or_offset_is_dead_lettered_not_raised(store: Store) -> None:
    unplaceable = {"message": "a record the parser left without @timestamp"}
    result = BulkWriter(store).write([log_document(0), unplaceable])
    assert (result.indexed, result.dead_lettered) == (1, 1)
    store.client.indices.refresh(index=DEADLETTER_INDEX)
    (hit,) = store.client.search(index=DEADLETTER_INDEX)["hits"]["hits"]
    assert hit["_source"]["error_type"] == "malformed_document"
    assert json.loads(hit["_source"]["original"]) == unplaceable


def test_a_refused_bulk_request_raises_instead_of_dead_lettering_every_record(
    store: Store, bulk_proxy: ProxyFactory
) -> None:
    proxy = bulk_proxy(1, "forbidden")
    with connect(proxy.url) as through_proxy, pytest.raises(StoreError, match="403"):
        BulkWriter(through_proxy, policy=_fast_policy()).write([log_document(0)])
    assert len(proxy.bulk_calls) == 1
    assert not store.client.indices.exists(index=DEADLETTER_INDEX)
