"""The collector in-process: the embedded engine rebuilt from the spool, and the /metrics endpoint."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from parsers.collector.config import CollectorConfig
from parsers.collector.service import Collector
from parsers.collector.sinks import StoreSink
from parsers.lifecycle.rules import load_rules
from parsers.store.connect import Store, connect
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
    from parsers.collector.sinks import NullSink

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
