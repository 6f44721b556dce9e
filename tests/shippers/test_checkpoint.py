"""Shipper state (`shippers/checkpoint.py`): offsets advance on ack, the queue spills and is bounded."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from shippers.checkpoint import STATE_FILE, Batch, BatchQueue, FileState, StateError, StateStore


def state(file_id: str = "f1") -> FileState:
    return FileState(file_id, "C:/Sms_bootstrap.log", 1, 2, 40, "utf-8", 0, 0)


def batch(end: int, size: int = 100, file_id: str = "f1") -> Batch:
    return Batch(file_id, f"chunk{end}", b"x" * size, 3, end)


def test_acknowledged_batch_advances_the_checkpoint_and_survives_reopening(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_file(state())
    queue = BatchQueue(store, memory_limit_bytes=1000, disk_limit_bytes=10_000)
    first, second = batch(120), batch(250)
    queue.put(first)
    queue.put(second)
    assert queue.next_batch(0) is first
    queue.acknowledge(first)
    assert queue.next_batch(0) is second
    store.close()
    reopened = StateStore(tmp_path).files()["f1"]
    # Only the acknowledged batch counts: the one still in memory is read again after a restart.
    assert (reopened.acked_offset, reopened.resume_offset) == (120, 120)


def test_batches_spill_to_disk_in_order_when_memory_is_full_and_the_sender_is_down(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_file(state())
    queue = BatchQueue(store, memory_limit_bytes=250, disk_limit_bytes=10_000)
    queue.set_sender_healthy(False)
    batches = [batch(end) for end in (100, 200, 300, 400)]
    for item in batches:
        queue.put(item)
    assert store.queued_records == 12 and queue.depth == (400, 12)
    assert store.files()["f1"].resume_offset == 400   # durable on disk: reading resumes after them
    store.close()
    store = StateStore(tmp_path)
    queue = BatchQueue(store, memory_limit_bytes=250, disk_limit_bytes=10_000)
    order = []
    while (item := queue.next_batch(0)) is not None:
        order.append(item.chunk)
        queue.acknowledge(item)
    assert order == ["chunk100", "chunk200", "chunk300", "chunk400"]
    assert store.queued_bytes == 0 and store.files()["f1"].acked_offset == 400


def test_reader_waits_for_memory_room_while_the_sender_delivers(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_file(state())
    queue = BatchQueue(store, memory_limit_bytes=250, disk_limit_bytes=10_000)
    first, second, third = batch(100), batch(200), batch(300)
    queue.put(first)
    queue.put(second)
    acknowledger = threading.Timer(0.2, queue.acknowledge, args=(first,))
    acknowledger.start()
    started = time.monotonic()
    queue.put(third)          # no room until the ack: it waits instead of spilling to disk
    assert time.monotonic() - started >= 0.15
    assert store.queued_bytes == 0 and queue.depth == (200, 6)
    acknowledger.join()


def test_queue_reports_full_at_its_disk_limit(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_file(state())
    queue = BatchQueue(store, memory_limit_bytes=0, disk_limit_bytes=250)
    queue.put(batch(100))
    queue.put(batch(200))
    assert not queue.full
    queue.put(batch(300))
    assert queue.full
    queue.acknowledge(queue.next_batch(0))  # type: ignore[arg-type]
    assert not queue.full


def test_state_file_of_another_format_version_is_refused(tmp_path: Path) -> None:
    StateStore(tmp_path).close()
    with sqlite3.connect(tmp_path / STATE_FILE) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(StateError, match="format version 99"):
        StateStore(tmp_path)


def test_garbage_state_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="not a usable shipper state file"):
        StateStore(tmp_path)
