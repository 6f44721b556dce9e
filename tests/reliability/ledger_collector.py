"""The real collector with a sink that survives SIGKILL: `python -m tests.reliability.ledger_collector`.

`bootwatch collect --sink null` keeps its id set in memory, so a SIGKILL forgets it; the crash
scenarios with a million records need the id set to outlive the collector without the memory an
Elasticsearch-API engine would take (about 12 KB a document). This runs the same `Collector`
(Forward server, spool, pipeline, parsers) with `LedgerSink`, which appends `<id>\\t<marker>` for
every document to a file and fsyncs it before the batch counts as written, exactly as a store
acknowledges a bulk request. While the `--outage-flag` file exists the sink is unavailable, the
same `SinkUnavailable` path a store outage takes: the spool grows and drains when the flag goes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

from parsers.collector.config import load_config
from parsers.collector.service import Collector
from parsers.collector.sinks import NullSink, SinkResult, SinkUnavailable, id_of
from tests.reliability.harness import MARKER


class LedgerSink(NullSink):
    """A null sink whose id set is an append-only file, durable before `write` returns."""

    def __init__(self, ledger: Path, outage_flag: Path | None) -> None:
        super().__init__()
        self._outage_flag = outage_flag
        self._ledger = ledger.open("ab")

    def _check_reachable(self) -> None:
        if self._outage_flag is not None and self._outage_flag.exists():
            raise SinkUnavailable(f"outage: {self._outage_flag} exists")

    def write(self, documents: list[dict[str, Any]]) -> SinkResult:
        self._check_reachable()
        lines = []
        for document in documents:
            match = MARKER.search(document.get("message", ""))
            lines.append(f"{id_of(document)}\t{match.group(1) if match else ''}\n")
        self._ledger.write("".join(lines).encode("utf-8"))
        self._ledger.flush()
        os.fsync(self._ledger.fileno())
        # Re-deliveries are told apart when the ledger is read; no id set in memory (a million ids).
        return SinkResult(indexed=len(documents))

    def write_heartbeats(self, heartbeats: list[dict[str, Any]]) -> None:
        self._check_reachable()
        # Only their count matters here: keeping them all would grow without bound in long runs.

    def maintain(self, now: datetime) -> None:
        self._check_reachable()

    def close(self) -> None:
        self._ledger.close()


async def serve(collector: Collector) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await collector.start()
    await stop.wait()
    await collector.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--outage-flag", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config, {})
    collector = Collector(
        config, LedgerSink(args.ledger, args.outage_flag), rules=None, replay_retained=False
    )
    asyncio.run(serve(collector))


if __name__ == "__main__":
    main()
