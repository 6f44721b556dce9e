"""The SQLite spool: ordered, bounded, resumable, retaining drained frames within a budget."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from parsers.spool import DECODED_CACHE_RECORDS, Spool, SpoolFormatError, SpoolInput, SpoolWriter


def frame(n: int, size: int = 10, **line_bytes: int) -> SpoolInput:
    return SpoolInput(f"tag{n}", bytes([n % 256]) * size, records=1, line_bytes=dict(line_bytes))


def open_spool(path: Path, max_bytes: int = 1000, retain_bytes: int = 0) -> Spool:
    return Spool(path / "spool.sqlite3", max_bytes=max_bytes, retain_bytes=retain_bytes)


def test_frames_are_read_back_in_order_after_the_cursor(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append([frame(1), frame(2)])
    spool.append([frame(3)])
    assert [f.tag for f in spool.read_after(0, 100)] == ["tag1", "tag2", "tag3"]
    assert [f.tag for f in spool.read_after(1, 100)] == ["tag2", "tag3"]
    assert [f.tag for f in spool.read_after(0, 2)] == ["tag1", "tag2"]


def test_a_restart_resumes_from_the_cursor_with_the_same_counts(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    seqs = spool.append([frame(1), frame(2), frame(3)])
    assert seqs is not None
    spool.mark_drained(seqs[0])
    spool.close()
    reopened = open_spool(tmp_path)
    stats = reopened.stats()
    assert (stats.drained_seq, stats.pending_frames, stats.pending_bytes) == (seqs[0], 2, 20)
    assert [f.tag for f in reopened.read_after(reopened.drained_seq, 100)] == ["tag2", "tag3"]


def test_frames_past_the_bound_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, max_bytes=25)
    assert spool.append([frame(1), frame(2)]) is not None
    assert spool.append([frame(3)]) is None
    assert spool.stats().pending_frames == 2
    assert len(spool.read_after(0, 100)) == 2


def test_draining_makes_room_for_new_frames(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, max_bytes=25)
    seqs = spool.append([frame(1), frame(2)])
    assert seqs is not None
    spool.mark_drained(seqs[-1])
    assert spool.append([frame(3), frame(4)]) is not None


def test_drained_frames_are_retained_within_budget_oldest_pruned_first(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, retain_bytes=25)
    seqs = spool.append([frame(n) for n in range(1, 6)])
    assert seqs is not None
    spool.mark_drained(seqs[3])  # 40 bytes drained, 25 may stay: the two oldest go
    assert [f.tag for f in spool.read_after(0, 100)] == ["tag3", "tag4", "tag5"]
    assert spool.first_retained_seq() == seqs[1]
    assert spool.stats().retained_bytes == 20


def test_line_stream_positions_run_on_across_frames_and_restarts(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append([frame(1, a=5, b=3), frame(2, a=4)])
    spool.close()
    reopened = open_spool(tmp_path)
    reopened.append([frame(3, a=1, b=1)])
    starts = [f.line_starts for f in reopened.read_after(0, 100)]
    assert starts == [{"a": 0, "b": 0}, {"a": 5}, {"a": 9, "b": 3}]


def test_a_spool_of_another_format_version_is_refused(tmp_path: Path) -> None:
    open_spool(tmp_path).close()
    with sqlite3.connect(tmp_path / "spool.sqlite3") as connection:
        connection.execute("UPDATE meta SET value = 99 WHERE key = 'format_version'")
    with pytest.raises(SpoolFormatError, match="format 99"):
        open_spool(tmp_path)


def test_writer_commits_queued_submissions_and_refuses_past_the_bound(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, max_bytes=35)
    writer = SpoolWriter(spool)

    async def submit_all() -> list[bool]:
        futures = [writer.submit([frame(n)]) for n in range(1, 5)]
        return list(await asyncio.gather(*futures))

    try:
        assert asyncio.run(submit_all()) == [True, True, True, False]
    finally:
        writer.close()
    assert spool.stats().pending_frames == 3


def keyed(n: int, key: bytes, **line_bytes: int) -> SpoolInput:
    keyed_frame = frame(n, **line_bytes)
    keyed_frame.retry_key = key
    return keyed_frame


def test_a_resent_frame_is_accepted_without_being_spooled_again_even_after_a_restart(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    assert spool.append([keyed(1, b"k1", a=5)]) == [1]
    assert spool.append([keyed(1, b"k1", a=5), keyed(2, b"k2", a=4)]) == [2]
    spool.close()
    reopened = open_spool(tmp_path)
    assert reopened.append([keyed(1, b"k1", a=5)]) == []
    stats = reopened.stats()
    assert (stats.pending_frames, stats.resent_frames, stats.resent_records) == (2, 1, 1)
    # The re-sent frame took no stream positions: the next line still starts where frame 2 ended.
    reopened.append([frame(3, a=1)])
    assert [f.line_starts for f in reopened.read_after(0, 100)] == [{"a": 0}, {"a": 5}, {"a": 9}]


def test_retry_keys_are_forgotten_past_the_window(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=1000, retain_bytes=0, retry_window_frames=2)
    spool.append([keyed(1, b"k1"), keyed(2, b"k2"), keyed(3, b"k3")])
    assert spool.append([keyed(3, b"k3"), keyed(2, b"k2")]) == []
    assert spool.append([keyed(1, b"k1")]) == [4]


def test_decoded_entries_are_handed_to_the_reader_in_memory_within_the_cache_bound(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    within, beyond = frame(1), frame(2)
    within.decoded = ([[1, {"log": "x"}]] * (DECODED_CACHE_RECORDS - 1), True)
    beyond.decoded = ([[1, {"log": "y"}]] * 2, True)
    spool.append([within, beyond])
    first, second = spool.read_after(0, 10 * DECODED_CACHE_RECORDS)
    assert first.decoded is within.decoded
    assert second.decoded is None  # past the bound: the reader decodes the stored bytes
    assert spool.read_after(0, 10 * DECODED_CACHE_RECORDS)[0].decoded is None  # handed over once
