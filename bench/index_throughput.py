"""Writer throughput into the embedded engine against plain `helpers.bulk` of the same documents.

Both sides index the same LogDocument-shaped documents into fresh `bootwatch-logs-*` indices of one
embedded engine (osmem-server), with the same `create` actions (index by event month, deterministic
`_id`) and the same batch size; runs alternate and the medians are compared (BENCHMARKS.md). The
writer adds what plain `helpers.bulk` lacks (per-item outcome accounting, the retry policy, dead
letters, byte-bounded batches): the ratio shows whether that costs throughput.

Prints one JSON object on its last line: `records_per_s` (writer), `direct_bulk_records_per_s`,
`ratio_vs_direct` (target >= 0.9), and the client CPU seconds per 1,000 records of each side (the part
the writer adds; the engine's own speed bounds both rates). `--quick` runs in well under 30 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import helpers

from parsers.schema import LogDocument, document_id, format_utc_millis, index_for
from parsers.store.connect import Store, connect
from parsers.store.templates import install_templates
from parsers.store.writer import DEFAULT_BATCH_DOCS, BulkWriter

_MESSAGES = (
    "Bootstrap service started, reading C:\\SMS_BOOTSTRAP\\bootstrap.ini",
    "Waiting for changes to the inbox, timeout 3600 seconds",
    "Failed to connect to the SQL Server, retrying",
    "ERROR - Setup failed, Win32 error = 5",
    "Copied S02.SCU to the outbox",
    "Processing file D:\\SMS\\inboxes\\hman.box\\S02.SCU",
)


def build_documents(count: int, seed: int) -> list[dict[str, Any]]:
    """Documents as the parsers build them: 40 sites, two event months, realistic message lengths."""
    rng = random.Random(seed)
    moment = datetime(2002, 7, 30, 0, 0, tzinfo=UTC)
    offsets: dict[str, int] = {}
    documents = []
    for _ in range(count):
        moment += timedelta(seconds=rng.randint(1, 30))
        site = f"S{rng.randint(1, 40):02d}"
        offset = offsets.get(site, 0)
        message = rng.choice(_MESSAGES) + " " + "x" * rng.randint(0, 120)
        original = (
            f"{message}  $$<SMS_BOOTSTRAP><{moment:%a %b %d %H:%M:%S.000 %Y} Pacific Daylight Time><thread=1>"
        )
        offsets[site] = offset + len(original) + 2
        document = {
            "@timestamp": format_utc_millis(moment),
            "message": message,
            "event": {"original": original, "dataset": "sms.bootstrap", "timezone": "America/Los_Angeles"},
            "log": {
                "level": "error" if message.startswith("ERROR") else "info",
                "logger": "SMS_BOOTSTRAP",
                "file": {"path": "C:\\SMS_BOOTSTRAP.log"},
                "offset": offset,
            },
            "process": {"thread": {"id": 1}},
            "host": {"name": f"{site.lower()}-server"},
            "sms": {
                "log": {"format": "sms_legacy", "file_id": f"fp-{site}", "encoding": "utf-8"},
                "site": {"code": site},
            },
            "error": {"code": "0x80070005"} if "Win32" in message else {},
        }
        documents.append(document)
    LogDocument.model_validate(documents[0])
    return documents


def _direct_actions(documents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for document in documents:
        sms = document["sms"]
        yield {
            "_op_type": "create",
            "_index": index_for(document["@timestamp"]),
            "_id": document_id(sms["site"]["code"], sms["log"]["file_id"], document["log"]["offset"]),
            "_source": document,
        }


def _fresh(store: Store) -> None:
    for name in list(store.client.indices.get(index="bootwatch-logs-*", expand_wildcards="all")):
        store.client.indices.delete(index=name)


def _timed(store: Store, documents: list[dict[str, Any]], write: Callable[[], int]) -> tuple[float, float]:
    """(records/s, client CPU seconds per 1,000 records) of one run into fresh indices."""
    _fresh(store)
    started = time.perf_counter()
    cpu_started = time.process_time()
    written = write()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if written != len(documents):
        raise SystemExit(f"wrote {written} of {len(documents)} documents: the comparison would be unfair")
    return len(documents) / elapsed, cpu * 1000 / len(documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # many short alternating rounds: the engine's speed on a shared machine drifts within seconds
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1,000 records, 8 rounds")
    args = parser.parse_args()
    records, rounds = (1_000, 8) if args.quick else (args.records, args.rounds)
    documents = build_documents(records, args.seed)

    with connect() as store:
        install_templates(store)
        writer = BulkWriter(store)

        def with_writer() -> int:
            return writer.write(documents).indexed

        def with_direct_bulk() -> int:
            indexed, _errors = helpers.bulk(
                store.client, _direct_actions(documents), chunk_size=DEFAULT_BATCH_DOCS
            )
            return indexed

        writer_runs: list[tuple[float, float]] = []
        direct_runs: list[tuple[float, float]] = []
        for round_number in range(rounds):
            # alternate which goes first so drift on a shared machine hits both alike
            order = [(writer_runs, with_writer), (direct_runs, with_direct_bulk)]
            for runs, write in order if round_number % 2 == 0 else reversed(order):
                runs.append(_timed(store, documents, write))
        _fresh(store)

    writer_rate = statistics.median(rate for rate, _cpu in writer_runs)
    direct_rate = statistics.median(rate for rate, _cpu in direct_runs)
    print(
        json.dumps(
            {
                "bench": "index_throughput",
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "params": {
                    "records": records,
                    "rounds": rounds,
                    "seed": args.seed,
                    "batch_docs": DEFAULT_BATCH_DOCS,
                    "store": "embedded osmem-server",
                },
                "metrics": {
                    "records_per_s": round(writer_rate, 1),
                    "direct_bulk_records_per_s": round(direct_rate, 1),
                    "ratio_vs_direct": round(writer_rate / direct_rate, 3),
                    # what the client itself spends: the engine, not Python, bounds both rates
                    "client_cpu_s_per_1k_records": round(
                        statistics.median(cpu for _r, cpu in writer_runs), 4
                    ),
                    "direct_client_cpu_s_per_1k_records": round(
                        statistics.median(cpu for _r, cpu in direct_runs), 4
                    ),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
