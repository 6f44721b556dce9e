"""Collector throughput and latency: senders -> `bootwatch collect` -> null sink / embedded engine.

Prints one JSON object (see BENCHMARKS.md) with:
- null_sink_records_per_s: bootwatch-shipper frames (PackedForward, acks) over several connections
  through receive, spool commit (fsync), parse, normalize and classify, into a sink that keeps only
  the id set; wall clock from the first send to the last record counted. The collector's own CPU
  time is reported too (`null_sink_records_per_cpu_s`: the one-core figure).
- engine_records_per_s: the same into the embedded engine, until every record is indexed.
- engine_direct_bulk_records_per_s: plain `helpers.bulk` of the same documents (parsed beforehand)
  straight into a fresh engine: the engine's own ceiling.
- baseline_records_per_s: the naive way, in the same run: fluent-logger in Message mode to a
  receiver that applies one regex and `helpers.bulk`s into a fresh engine.
- p50_latency_s / p99_latency_s: send to searchable at 1,000 records/s into the engine.
- max_connections_held: sender connections one collector held open at once (each acked a frame),
  and rss_mb_with_connections_held, the collector's resident memory then.
- engine_ratio_vs_direct_bulk: the median over pairs of (collector into the engine) / (direct bulk),
  each pair measured back to back on fresh engines (target >= 0.9); each pair is printed on a line of
  its own before the JSON.

Everything runs on this machine at once (senders, collector, engine): absolute rates move with the
load; the ratios measured in the same run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fluent.sender import FluentSender  # noqa: E402

from parsers.lifecycle.rules import load_rules  # noqa: E402
from parsers.parse import StreamParser  # noqa: E402
from parsers.schema import document_id, index_for  # noqa: E402
from parsers.store.connect import Store, connect  # noqa: E402
from shippers.framing import FramedRecord  # noqa: E402

LEGACY = (
    "Record {n} of the bootstrap service, step {step}.  "
    "$$<SMS_BOOTSTRAP><Mon Jan 14 {h:02d}:{m:02d}:{s:02d}.123 "
    "2002 Eastern Standard Time><thread=1234 (0x4D2)>"
)
# The naive baseline's one regex: message, component, time text, thread.
NAIVE_PATTERN = re.compile(
    r"^(?P<message>.*?)\s*\$\$<(?P<component>[^>]*)><(?P<time>[^>]*)><thread=(?P<thread>\d+)"
)
SITE = "S01"
STREAMS = 8
# Records the latency poller looks for per search (the oldest not found yet).
LATENCY_POLL_IDS = 500


def record_text(n: int) -> str:
    return LEGACY.format(n=n, step=n % 17, h=(n // 3600) % 24, m=(n // 60) % 60, s=n % 60)


def shipper_records(count: int) -> list[dict[str, Any]]:
    records, offsets = [], [0] * STREAMS
    for n in range(count):
        stream = n % STREAMS
        text = record_text(n)
        records.append(
            {
                "type": "record",
                "site": SITE,
                "host": f"SECSRV{stream:02d}",
                "path": "C:/SMS_BOOTSTRAP.log",
                "file_id": f"bench-{stream}",
                "offset": offsets[stream],
                "message": text,
                "encoding": "utf-8",
                "timezone": "Eastern Standard Time",
            }
        )
        offsets[stream] += len(text) + 2
    return records


def packed_frames(records: list[dict[str, Any]], per_frame: int) -> list[bytes]:
    now = int(time.time())
    frames = []
    for first in range(0, len(records), per_frame):
        batch = records[first : first + per_frame]
        entries = b"".join(msgpack.packb([now, record]) for record in batch)
        options = {"chunk": f"c{first}", "size": len(batch)}
        frames.append(msgpack.packb([f"bootwatch.{SITE}", entries, options], use_bin_type=True))
    return frames


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Collector:
    def __init__(self, workdir: Path, *args: str, config: str = "") -> None:
        self.port, self.metrics_port = free_port(), free_port()
        config_path = workdir / f"collector-{self.port}.toml"
        config_path.write_text(
            config
            + f'\n[observability]\nmetrics_listen = "127.0.0.1:{self.metrics_port}"\n'
            + "stats_interval_s = 3600\n"
        )
        command = [
            sys.executable,
            "-m",
            "bootwatch",
            "collect",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--state-dir",
            str(workdir / f"state-{self.port}"),
            "--config",
            str(config_path),
            "--log-level",
            "WARNING",
            *args,
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("collector did not start") from None
                time.sleep(0.05)

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            lines = answer.read().decode().splitlines()
        return {
            name.removeprefix("bootwatch_collector_"): float(value)
            for name, value in (line.split(" ") for line in lines if line and not line.startswith("#"))
        }

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_counted(self, total: int, timeout_s: float) -> float:
        """Wait until the sink counted `total` records; returns when its last batch was stored (Unix
        time, from the collector's own gauge). Polling rarely keeps the scrapes (each costs both
        processes CPU the engine would otherwise get) from weighing on what is measured."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.metrics()
            if seen["records_indexed_total"] + seen["records_deduplicated_total"] >= total:
                return seen["last_store_write_timestamp_seconds"]
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {seen['records_indexed_total']:.0f} of {total} records in time")
            time.sleep(0.25)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def send_all(port: int, frames: list[bytes], connections: int) -> None:
    """Each connection sends its share of frames, waiting for every ack (as shippers do)."""

    def one(share: list[bytes]) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            unpacker = msgpack.Unpacker()
            for frame in share:
                sock.sendall(frame)
                while True:
                    acked = next(unpacker, None)
                    if acked is not None:
                        break
                    unpacker.feed(sock.recv(65536))

    threads = [
        threading.Thread(target=one, args=(frames[index::connections],)) for index in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# ----------------------------------------------------------------------------- measurements


def measure_collector(workdir: Path, records: list[dict[str, Any]], *args: str) -> tuple[float, float]:
    """(records/s wall, records per collector CPU second) through one collector."""
    frames = packed_frames(records, per_frame=500)
    collector = Collector(workdir, *args)
    try:
        cpu_before = collector.cpu_s()
        started = time.time()  # the same clock as the collector's gauge `wait_counted` returns
        send_all(collector.port, frames, connections=4)
        finished = collector.wait_counted(len(records), timeout_s=600)
        cpu = collector.cpu_s() - cpu_before
    finally:
        collector.close()
    return len(records) / (finished - started), len(records) / max(cpu, 1e-9)


def parsed_documents(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents the collector makes of `records` (parsed and classified the same way)."""
    rules = load_rules()
    parsers: dict[str, StreamParser] = {}
    documents: list[dict[str, Any]] = []
    for record in records:
        parser = parsers.setdefault(
            record["file_id"],
            StreamParser(
                site=SITE,
                host=record["host"],
                path=record["path"],
                file_id=record["file_id"],
                timezone=record["timezone"],
                rules=rules,
            ),
        )
        documents.extend(
            parser.push(FramedRecord(record["offset"], len(record["message"]) + 2, record["message"]))
        )
    for parser in parsers.values():
        documents.extend(parser.flush())
    return documents


def measure_direct_bulk(documents: list[dict[str, Any]]) -> float:
    from elasticsearch import helpers

    actions = [
        {
            "_op_type": "create",
            "_index": index_for(doc["@timestamp"]),
            "_id": document_id(SITE, doc["sms"]["log"]["file_id"], doc["log"]["offset"]),
            "_source": doc,
        }
        for doc in documents
    ]
    with connect() as store:
        from parsers.store.templates import install_templates

        install_templates(store)
        started = time.monotonic()
        helpers.bulk(store.client, actions, chunk_size=1000)
        return len(actions) / (time.monotonic() - started)


def measure_engine(workdir: Path, records: list[dict[str, Any]]) -> float:
    with connect() as store:
        rate, _cpu = measure_collector(workdir, records, "--es-url", store.url)
        return rate


def naive_receiver(port_file: str, es_url: str, total: int) -> None:
    """The baseline's receiver: one regex per record and `helpers.bulk`, nothing else."""
    from elasticsearch import helpers

    with connect(es_url) as store, socket.create_server(("127.0.0.1", 0)) as server:
        Path(port_file).write_text(str(server.getsockname()[1]))
        connection, _peer = server.accept()
        unpacker = msgpack.Unpacker(raw=False)
        batch: list[dict[str, Any]] = []
        done = 0
        while done < total:
            data = connection.recv(262144)
            if not data:
                break
            unpacker.feed(data)
            for _tag, _time, record in unpacker:
                match = NAIVE_PATTERN.match(record["message"])
                fields = match.groupdict() if match else {"message": record["message"]}
                batch.append({"_index": "naive-logs", "_source": fields})
                if len(batch) == 1000:
                    helpers.bulk(store.client, batch)
                    done += len(batch)
                    batch = []
            if batch and done + len(batch) >= total:
                helpers.bulk(store.client, batch)
                done += len(batch)
                batch = []


def measure_baseline(workdir: Path, records: list[dict[str, Any]]) -> float:
    with connect() as store:
        port_file = workdir / "naive.port"
        receiver = subprocess.Popen(
            [sys.executable, __file__, "--naive-receiver", str(port_file), store.url, str(len(records))],
            cwd=ROOT,
        )
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.02)
        sender = FluentSender("bootwatch", host="127.0.0.1", port=int(port_file.read_text()), bufmax=1 << 30)
        started = time.monotonic()
        for record in records:
            sender.emit(SITE, {"message": record["message"], "host": record["host"]})
        sender.close()
        receiver.wait(600)
        return len(records) / (time.monotonic() - started)


def searchable_ids(store: Store, ids: list[str]) -> set[str]:
    """Which of `ids` a search finds now (one `ids` query: its cost does not grow with the index,
    unlike a count of every document, which would load the engine it measures)."""
    answer = store.client.search(
        index="bootwatch-logs-*",
        query={"ids": {"values": ids}},
        size=len(ids),
        source=False,
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    return {hit["_id"] for hit in answer["hits"]["hits"]}


def measure_latency(workdir: Path, rate: int, seconds: float) -> tuple[float, float]:
    """Send `rate` records/s for `seconds` into the engine; p50 and p99 of send -> searchable.

    A poller asks every 20 ms which of the oldest records sent but not yet found are searchable;
    a record's latency runs from just before its frame was sent to the end of the first search
    that found it."""
    records = shipper_records(int(rate * seconds))
    ids = [document_id(SITE, record["file_id"], record["offset"]) for record in records]
    per_frame = max(1, rate // 100)  # a frame every 10 ms
    frames = packed_frames(records, per_frame)
    with connect() as store:
        collector = Collector(workdir, "--es-url", store.url)
        sent_at: list[float] = []
        found_at: dict[int, float] = {}
        stop = threading.Event()

        def poll() -> None:
            waiting: list[int] = []  # sent, not found yet, oldest first
            next_sent = 0
            while not stop.is_set() and len(found_at) < len(records):
                sent = len(sent_at)
                waiting.extend(range(next_sent, sent))
                next_sent = sent
                window = waiting[:LATENCY_POLL_IDS]
                if window:
                    found = searchable_ids(store, [ids[index] for index in window])
                    now = time.monotonic()
                    for index in window:
                        if ids[index] in found:
                            found_at[index] = now
                    waiting = [index for index in waiting if index not in found_at]
                time.sleep(0.02)

        poller = threading.Thread(target=poll)
        try:
            with socket.create_connection(("127.0.0.1", collector.port), timeout=60) as sock:
                unpacker = msgpack.Unpacker()
                poller.start()
                start = time.monotonic()
                for number, frame in enumerate(frames):
                    time.sleep(max(0.0, start + number * 0.01 - time.monotonic()))
                    sent_at.extend([time.monotonic()] * min(per_frame, len(records) - len(sent_at)))
                    sock.sendall(frame)
                    while next(unpacker, None) is None:
                        unpacker.feed(sock.recv(65536))
            deadline = time.monotonic() + 60
            while len(found_at) < len(records) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            if poller.is_alive():
                poller.join()
            collector.close()
    if len(found_at) < len(records):
        raise RuntimeError(f"only {len(found_at)} of {len(records)} records became searchable in time")
    latencies = [found_at[index] - sent for index, sent in enumerate(sent_at)]
    quantiles = statistics.quantiles(latencies, n=100)
    return quantiles[49], quantiles[98]


def measure_connections(workdir: Path, wanted: int) -> tuple[int, float]:
    """Connections held at once (each acked one frame), and the collector's memory then (MB)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, wanted * 2 + 256)), hard))
    collector = Collector(workdir, "--sink", "null", config=f"[limits]\nmax_connections = {wanted + 100}\n")
    sockets: list[socket.socket] = []
    try:
        frame = packed_frames(shipper_records(1), 1)[0]
        for _ in range(wanted):
            sock = socket.create_connection(("127.0.0.1", collector.port), timeout=30)
            sock.sendall(frame)
            sockets.append(sock)
        for sock in sockets:
            unpacker = msgpack.Unpacker()
            while next(unpacker, None) is None:
                unpacker.feed(sock.recv(1024))
        return int(collector.metrics()["connections_open"]), collector.rss_mb()
    finally:
        for sock in sockets:
            sock.close()
        collector.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a run under 30 seconds")
    parser.add_argument(
        "--naive-receiver", nargs=3, metavar=("PORT_FILE", "ES_URL", "TOTAL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.naive_receiver:
        naive_receiver(args.naive_receiver[0], args.naive_receiver[1], int(args.naive_receiver[2]))
        return
    null_records = 10_000 if args.quick else 100_000
    # Past the parsers' 256-record zone look-ahead per stream (8 streams), so a quick run measures the
    # steady rate, not mostly the half second a fresh stream's first records are held. The full run is
    # long enough (about 15 s) that the pipeline's fixed delays (look-ahead, store interval, the last
    # write) do not pass for throughput (the same collector measured 0.86 of plain bulk with 6,000
    # records, 0.95 with 20,000).
    engine_records = 4_000 if args.quick else 20_000
    latency_seconds = 3 if args.quick else 15
    repeats = 1 if args.quick else 3
    # The engine's own speed moves by a third between fresh engines on this shared machine, so the
    # ratio is taken per pair (collector and direct bulk measured back to back, in alternating
    # order) and the median of the pairs' ratios is reported.
    engine_pairs = 1 if args.quick else 5
    records = shipper_records(null_records)
    engine_set = records[:engine_records]
    documents = parsed_documents(engine_set)
    null_rates, null_cpu_rates, engine_rates, direct_rates, pair_ratios = [], [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        for _ in range(repeats):  # median of several: the machine is shared and noisy
            rate, cpu_rate = measure_collector(workdir, records, "--sink", "null")
            null_rates.append(rate)
            null_cpu_rates.append(cpu_rate)
        for pair in range(engine_pairs):
            if pair % 2 == 0:
                engine_rate = measure_engine(workdir, engine_set)
                direct_rate = measure_direct_bulk(documents)
            else:
                direct_rate = measure_direct_bulk(documents)
                engine_rate = measure_engine(workdir, engine_set)
            engine_rates.append(engine_rate)
            direct_rates.append(direct_rate)
            pair_ratios.append(engine_rate / direct_rate)
        baseline = measure_baseline(workdir, engine_set)
        p50, p99 = measure_latency(workdir, 1000, latency_seconds)
        held, rss_mb = measure_connections(workdir, 2000)
    for number, (engine_rate, direct_rate) in enumerate(zip(engine_rates, direct_rates, strict=True), 1):
        print(f"engine pair {number}: collector {engine_rate:.1f} records/s, direct bulk {direct_rate:.1f}, "
              f"ratio {engine_rate / direct_rate:.3f}")
    engine, direct = statistics.median(engine_rates), statistics.median(direct_rates)
    result = {
        "bench": "pipeline_throughput",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "params": {
            "null_sink_records": null_records,
            "engine_records": engine_records,
            "latency_rate": 1000,
            "latency_seconds": latency_seconds,
            "repeats": repeats,
            "engine_pairs": engine_pairs,
            "connections_wanted": 2000,
            "quick": args.quick,
        },
        "metrics": {
            "null_sink_records_per_s": round(statistics.median(null_rates), 1),
            "null_sink_records_per_cpu_s": round(statistics.median(null_cpu_rates), 1),
            "engine_records_per_s": round(engine, 1),
            "engine_direct_bulk_records_per_s": round(direct, 1),
            "engine_ratio_vs_direct_bulk": round(statistics.median(pair_ratios), 3),
            "baseline_records_per_s": round(baseline, 1),
            "p50_latency_s": round(p50, 3),
            "p99_latency_s": round(p99, 3),
            "max_connections_held": held,
            "rss_mb_with_connections_held": round(rss_mb, 1),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
