"""`bootwatch collect` as a real process: SIGKILL mid-stream, store outage, SIGTERM, bad config, metrics."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from osmem_server import OsmemServer

from parsers.store.connect import Store, connect
from tests.parsers.collector.conftest import (
    ROOT,
    CollectorProcess,
    Shipper,
    free_port,
    shipper_frames,
    wait_for,
)

RECORDS = 2000
PER_FRAME = 50


@pytest.fixture
def engine() -> Iterator[Store]:
    """A store of the test's own, outliving the collector processes it serves."""
    with connect() as store:
        yield store


def indexed_offsets(store: Store) -> list[int]:
    client = store.client
    if not client.indices.exists(index="bootwatch-logs-*"):
        return []
    client.indices.refresh(index="bootwatch-logs-*")
    hits = client.search(index="bootwatch-logs-*", size=10_000, source=["log.offset"])["hits"]["hits"]
    return [hit["_source"]["log"]["offset"] for hit in hits]


def test_sigkill_during_a_stream_then_restart_indexes_every_record_once(
    tmp_path: Path, engine: Store, collectors: list[CollectorProcess]
) -> None:
    collector = CollectorProcess(tmp_path, "--es-url", engine.url)
    collectors.append(collector)
    frames = shipper_frames(RECORDS, PER_FRAME)
    shipper = Shipper(collector.port)
    for number, frame in enumerate(frames):
        if number == len(frames) // 2:
            # Kill while a frame is in flight (it may or may not be committed), restart, and let
            # the shipper resend what it has no ack for, as a real shipper does.
            shipper.send(frame, wait_for_ack=False)
            collector.kill()
            collector.start()
        shipper.send(frame)
    shipper.close()
    expected = sorted(offset for frame in frames for offset in _offsets(frame))
    wait_for(lambda: len(indexed_offsets(engine)) >= RECORDS, message="all records indexed")
    offsets = indexed_offsets(engine)
    assert sorted(offsets) == expected  # every record, none twice
    assert collector.terminate() == 0


def test_sigkill_then_restart_on_the_embedded_engine_rebuilds_it_with_every_record_once(
    tmp_path: Path, collectors: list[CollectorProcess]
) -> None:
    collector = CollectorProcess(tmp_path)
    collectors.append(collector)
    frames = shipper_frames(600, 50)
    shipper = Shipper(collector.port)
    for frame in frames[:6]:
        shipper.send(frame)
    wait_for(lambda: collector.metrics()["records_indexed_total"] == 300, message="first half indexed")
    shipper.send(frames[6], wait_for_ack=False)
    collector.kill()  # its engine dies with it: everything indexed so far is gone from memory
    collector.start()
    for frame in frames[6:]:
        shipper.send(frame)
    shipper.close()
    engine_urls = re.findall(r"embedded engine \(in memory[^)]*\) at (\S+)", collector.log_path.read_text())
    assert len(engine_urls) == 2, collector.log_path.read_text()
    with connect(engine_urls[-1]) as store:
        wait_for(lambda: len(indexed_offsets(store)) >= 600, message="rebuilt and complete")
        assert sorted(indexed_offsets(store)) == sorted(
            offset for frame in frames for offset in _offsets(frame)
        )
    assert collector.terminate() == 0


def _offsets(frame: list[object]) -> list[int]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(frame[1])
    return [record["offset"] for _time, record in unpacker]


def test_store_down_then_up_grows_the_spool_then_drains_it(
    tmp_path: Path, collectors: list[CollectorProcess]
) -> None:
    store_port = free_port()
    collector = CollectorProcess(tmp_path, "--es-url", f"http://127.0.0.1:{store_port}")
    collectors.append(collector)
    shipper = Shipper(collector.port)
    frames = shipper_frames(300, 30, site="S09")
    for frame in frames:
        shipper.send(frame)  # acked although the store is down: the spool holds them
    shipper.close()
    assert collector.metrics()["frames_acked_total"] == len(frames)
    wait_for(lambda: collector.metrics()["store_errors_total"] >= 1, message="a failed store attempt")
    assert collector.metrics()["spool_pending_records"] == 300
    server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{store_port}")
    try:
        with connect(server.url) as store:
            wait_for(
                lambda: len(indexed_offsets(store)) >= 300, timeout_s=60, message="drained after the outage"
            )
            assert len(set(indexed_offsets(store))) == 300
        wait_for(lambda: collector.metrics()["spool_pending_records"] == 0, message="spool drained")
    finally:
        assert collector.terminate() == 0
        server.close()


def test_sigterm_stops_cleanly_with_exit_code_zero(
    tmp_path: Path, collectors: list[CollectorProcess]
) -> None:
    collector = CollectorProcess(tmp_path, "--sink", "null")
    collectors.append(collector)
    shipper = Shipper(collector.port)
    for frame in shipper_frames(100, 10):
        shipper.send(frame)
    wait_for(lambda: collector.metrics()["records_indexed_total"] == 100, message="null sink saw all")
    metrics = collector.metrics()
    assert metrics["connections_open"] == 1
    assert metrics["frames_received_total"] == 10
    assert collector.terminate() == 0
    shipper.close()
    assert "collector stopped" in collector.log_path.read_text()


def _collect_with(config: Path) -> subprocess.CompletedProcess[str]:
    """`bootwatch collect --config CONFIG` run to its end (a bad config ends it at once)."""
    return subprocess.run(
        [sys.executable, "-m", "bootwatch", "collect", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_bad_config_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[limits]\nmax_frame_mb = -1\n")
    done = _collect_with(config)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"bootwatch collect: {config}: key 'limits.max_frame_mb': Input should be greater than 0"
    ]


def test_an_unknown_config_key_exits_2_saying_to_remove_it(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[limits]\nmax_frame_megabytes = 4\n")
    done = _collect_with(config)
    assert done.returncode == 2
    assert "unknown key 'limits.max_frame_megabytes'" in done.stderr
    assert "Traceback" not in done.stderr
