"""The collector in-process: the embedded engine rebuilt from the spool, and the /metrics endpoint."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
import pytest

from parsers.collector.config import CollectorConfig, ConfigError
from parsers.collector.service import Collector
from parsers.collector.sinks import NullSink, SinkResult, StoreSink
from parsers.forward.modes import pack_event_time
from parsers.lifecycle.rules import load_rules
from parsers.store.connect import Store, connect
from parsers.store.sites import SiteStore
from tests.parsers.collector.conftest import Shipper, shipper_frames


def config_for(tmp_path: Path) -> CollectorConfig:
    return CollectorConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "state_dir": str(tmp_path / "state"),
            "observability": {"metrics_listen": "127.0.0.1:0"},
            "pipeline": {"reframe_flush_s": 0.2},
        }
    )


def count_logs(store: Store) -> int:
    store.client.indices.refresh(index="bootwatch-logs-*")
    return int(store.client.count(index="bootwatch-logs-*")["count"])


async def run_collector(tmp_path: Path, frames: list[list[object]], expect_indexed: int) -> int:
    """Start a collector on the embedded engine, send `frames`, wait, and return the engine's count."""
    sink = StoreSink(connect)
    collector = Collector(config_for(tmp_path), sink, rules=load_rules(), replay_retained=True)
    await collector.start()
    try:
        shipper = Shipper(collector.port)
        for frame in frames:
            await asyncio.to_thread(shipper.send, frame)
        shipper.close()
        for _ in range(300):
            if collector.metrics.records_indexed + collector.metrics.records_deduplicated >= expect_indexed:
                break
            await asyncio.sleep(0.05)
        return await asyncio.to_thread(count_logs, sink.store)
    finally:
        await collector.stop()


def test_embedded_engine_is_rebuilt_from_the_spool_at_start(tmp_path: Path) -> None:
    frames = shipper_frames(200, 20)
    assert asyncio.run(run_collector(tmp_path, frames[:5], expect_indexed=100)) == 100
    # A new process with a new, empty embedded engine: the retained spool refills it, then new data.
    assert asyncio.run(run_collector(tmp_path, frames[5:], expect_indexed=200)) == 200


def test_metrics_endpoint_serves_prometheus_text_and_404s_other_paths(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, int]:
        collector = Collector(config_for(tmp_path), NullSink(), rules=None, replay_retained=True)
        await collector.start()
        try:
            base = f"http://127.0.0.1:{collector.metrics_port}"
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"{base}/metrics", timeout=5).read()
            )
            with pytest.raises(urllib.error.HTTPError) as missing:
                await asyncio.to_thread(urllib.request.urlopen, f"{base}/other", timeout=5)
            return text.decode(), missing.value.code
        finally:
            await collector.stop()

    text, missing_status = asyncio.run(scenario())
    assert "# TYPE bootwatch_collector_frames_acked_total counter" in text
    assert "bootwatch_collector_spool_pending_bytes 0" in text
    assert "bootwatch_collector_indexing_lag_seconds 0" in text
    assert missing_status == 404


def test_metrics_say_when_the_sink_last_stored_a_batch(tmp_path: Path) -> None:
    def last_write(text: str) -> float:
        (value,) = re.findall(r"^bootwatch_collector_last_store_write_timestamp_seconds (\S+)$", text, re.M)
        return float(value)

    async def scenario() -> tuple[str, float, str, float]:
        collector = Collector(config_for(tmp_path), NullSink(), rules=None, replay_retained=True)
        await collector.start()
        try:
            url = f"http://127.0.0.1:{collector.metrics_port}/metrics"

            def scrape() -> str:
                return str(urllib.request.urlopen(url, timeout=5).read().decode())

            before = await asyncio.to_thread(scrape)
            sent_at = time.time()
            shipper = Shipper(collector.port)
            for frame in shipper_frames(40, 20):
                await asyncio.to_thread(shipper.send, frame)
            shipper.close()
            for _ in range(300):
                if collector.metrics.records_indexed >= 40:
                    break
                await asyncio.sleep(0.05)
            return before, sent_at, await asyncio.to_thread(scrape), time.time()
        finally:
            await collector.stop()

    before, sent_at, after, scraped_at = asyncio.run(scenario())
    assert last_write(before) == 0
    assert sent_at <= last_write(after) <= scraped_at
    assert "bootwatch_collector_records_indexed_total 40" in after


class KeepingSink(NullSink):
    """The null sink, also keeping the documents so the test can read them."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[dict[str, object]] = []

    def write(self, documents: list[dict[str, Any]]) -> SinkResult:
        self.documents.extend(documents)
        return super().write(documents)


def fluent_bit_frame(lines: list[str], chunk: str) -> bytes:
    """A frame shaped like Fluent Bit 4.2 / 5 with acks: Forward mode, array32 headers, EventTime with
    metadata, options chunk / size / fluent_signal."""
    origin = {"site": "S02", "host": "SECSRV02", "path": "C:\\ConfigMgrSetup.log"}
    entries = b"".join(
        b"\xdd\x00\x00\x00\x02"
        + msgpack.packb([pack_event_time(1700000000.25), {}])
        + msgpack.packb({"log": line, **origin})
        for line in lines
    )
    options = msgpack.packb({"chunk": chunk, "size": len(lines), "fluent_signal": 0})
    return (
        b"\xdd\x00\x00\x00\x03"
        + msgpack.packb("bootwatch.S02")
        + b"\xdd"
        + len(lines).to_bytes(4, "big")
        + entries
        + options
    )


def test_fluent_bit_line_per_record_frames_are_reframed_into_whole_records(tmp_path: Path) -> None:
    head = "<![LOG[Installing the secondary site"
    tail = ']LOG]!><time="10:00:01.000+300" date="01-14-2002" component="setup" context="" type="1"'
    tail += ' thread="12" file="x.cpp:1">'

    async def scenario(sink: KeepingSink) -> None:
        collector = Collector(config_for(tmp_path), sink, rules=load_rules(), replay_retained=True)
        await collector.start()
        try:

            def send() -> None:
                with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as sock:
                    unpacker = msgpack.Unpacker(raw=False)
                    for chunk, lines in (("a", ["plain first line", head]), ("b", [tail])):
                        sock.sendall(fluent_bit_frame(lines, chunk))
                        while (ack := next(unpacker, None)) is None:
                            unpacker.feed(sock.recv(1024))
                        assert ack == {"ack": chunk}

            await asyncio.to_thread(send)
            for _ in range(100):
                if len(sink.ids) >= 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            await collector.stop()

    sink = KeepingSink()
    asyncio.run(scenario(sink))
    by_offset = {document["log"]["offset"]: document for document in sink.documents}  # type: ignore[index]
    assert sorted(by_offset) == [0, len("plain first line") + 1]
    cmtrace = by_offset[len("plain first line") + 1]
    assert cmtrace["event"]["original"] == head + "\n" + tail  # type: ignore[index]
    assert cmtrace["sms"]["site"]["code"] == "S02"  # type: ignore[index]
    assert cmtrace["host"]["name"] == "SECSRV02"  # type: ignore[index]


def test_heartbeats_and_install_state_reach_the_store(tmp_path: Path) -> None:
    lines = [
        "SMS_BOOTSTRAP service started.",
        "Setup failed, Win32 error = 5",
        "SMS_BOOTSTRAP service stopped.",
    ]
    trailer = "  $$<SMS_BOOTSTRAP><Mon Jan 14 10:00:0{n}.000 2002 Eastern Standard Time><thread=1 (0x1)>"
    records, offset = [], 0
    for n, line in enumerate(lines):
        text = line + trailer.format(n=n)
        records.append(
            {
                "type": "record",
                "site": "S07",
                "host": "SECSRV07",
                "path": "C:/SMS_BOOTSTRAP.log",
                "file_id": "fid-s07",
                "offset": offset,
                "message": text,
                "encoding": "utf-8",
                "timezone": "Eastern Standard Time",
            }
        )
        offset += len(text) + 2
    beat = {
        "type": "heartbeat",
        "site": "S07",
        "host": "SECSRV07",
        "shipper_version": "0.1.0",
        "files": [{"path": "C:/SMS_BOOTSTRAP.log", "file_id": "fid-s07", "size": offset, "offset": offset}],
        "queue_bytes": 0,
        "queue_records": 0,
        "heartbeat_s": 30,
    }
    frames = [
        ["bootwatch.S07", [[1700000000, record] for record in records], {"chunk": "logs"}],
        ["bootwatch.heartbeat", [[1700000000, beat]], {"chunk": "beat"}],
    ]

    async def scenario() -> tuple[dict[str, object], list[str]]:
        sink = StoreSink(connect)
        collector = Collector(config_for(tmp_path), sink, rules=load_rules(), replay_retained=True)
        await collector.start()
        try:
            shipper = Shipper(collector.port)
            for frame in frames:
                await asyncio.to_thread(shipper.send, frame)
            shipper.close()
            for _ in range(200):
                if collector.metrics.records_indexed == 3 and collector.metrics.heartbeats_received == 1:
                    break
                await asyncio.sleep(0.05)
            sites = SiteStore(sink.store)
            states = [attempt.state for attempt in sites.iter_attempts("S07")]
            return await asyncio.to_thread(sites.shipper_last_seen), states
        finally:
            await collector.stop()

    last_seen, states = asyncio.run(scenario())
    assert "S07" in last_seen
    assert states == ["failed_unreported"]


def test_unreadable_tls_files_are_a_config_error_naming_the_keys(tmp_path: Path) -> None:
    config = CollectorConfig.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "tls": {"cert_file": str(tmp_path / "missing.pem"), "key_file": str(tmp_path / "missing.key")},
        }
    )
    with pytest.raises(ConfigError, match=re.escape("'tls.cert_file' / 'tls.key_file'")):
        Collector(config, NullSink(), rules=None, replay_retained=False)


def test_a_state_dir_that_cannot_hold_the_spool_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = CollectorConfig.model_validate({"state_dir": str(blocker / "state")})
    with pytest.raises(ConfigError, match=r"key 'state_dir'.*choose a writable folder"):
        Collector(config, NullSink(), rules=None, replay_retained=False)


def test_a_frame_resent_after_a_lost_ack_is_acked_and_indexed_once_even_across_a_restart(
    tmp_path: Path,
) -> None:
    lines = ["plain line one of the setup log", "plain line two", "plain line three"]
    frame = fluent_bit_frame(lines, "5d41402abc4b2a76b9719d911017c592")

    def send(port: int, *, read_ack: bool) -> object:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(frame)
            if not read_ack:
                return None  # the connection drops: the sender never sees the ack
            unpacker = msgpack.Unpacker(raw=False)
            while (ack := next(unpacker, None)) is None:
                unpacker.feed(sock.recv(1024))
            return ack

    async def settle(collector: Collector, sink: NullSink, records: int) -> None:
        """Until `records` documents are in the sink and the spool is drained."""
        for _ in range(100):
            stats = collector.spool.stats()
            if len(sink.keys) >= records and stats.drained_seq == stats.last_seq:
                return
            await asyncio.sleep(0.05)

    async def lifetime(attempts: list[bool]) -> tuple[list[object], set[tuple[object, ...]], tuple[int, ...]]:
        sink = NullSink()
        collector = Collector(config_for(tmp_path), sink, rules=None, replay_retained=True)
        await collector.start()
        try:
            acks = []
            for read_ack in attempts:
                acks.append(await asyncio.to_thread(send, collector.port, read_ack=read_ack))
                # Committed whether or not its ack was read: the next attempt is a re-send.
                await settle(collector, sink, len(lines))
            stats = collector.spool.stats()
            return acks, set(sink.keys), (stats.last_seq, stats.resent_frames, stats.resent_records)
        finally:
            await collector.stop()

    acks, keys, numbers = asyncio.run(lifetime([False, True]))
    assert acks == [None, {"ack": "5d41402abc4b2a76b9719d911017c592"}]
    assert len(keys) == len(lines)
    assert numbers == (1, 1, 3)
    # A collector restarted on the same spool still knows the frame (it was killed before the ack).
    acks, replayed_keys, numbers = asyncio.run(lifetime([True]))
    assert acks == [{"ack": "5d41402abc4b2a76b9719d911017c592"}]
    assert replayed_keys == keys
    assert numbers == (1, 1, 3)
