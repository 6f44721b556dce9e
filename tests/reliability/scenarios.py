"""The reliability scenarios, sized by their arguments: the tests run them small, `-m long` and
`bench/reliability.py` run them big.

- `run_crash`: N real shippers follow N growing logs while the collector is SIGKILLed at random
  moments, the store is unreachable once for a while, and shippers are SIGKILLed and restarted; at
  the end the store must hold every record written, each exactly once (ids compared).
- `run_rotation_storm`: logs rotated (`X.log` -> `X.lo_`) every few hundred records while shipping.
- `run_load`: many concurrent shipper connections sending heartbeats and records to one collector;
  no connection may be dropped by the collector; ack latency percentiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from parsers.forward.modes import pack_event_time
from parsers.store.connect import Store, connect
from tests.reliability.harness import (
    LOOPBACK,
    CollectorProcess,
    CollectorSettings,
    Delivery,
    Ledger,
    ShipperProcess,
    SiteLog,
    StoreProxy,
    engine_ids,
    wait_until,
)

WRITE_CHUNK = 25  # records per append: a logging service flushing a few lines at a time


@dataclass
class CrashPlan:
    shippers: int
    records: int
    collector_kills: int
    shipper_kills: int
    outage_s: float
    write_s: float  # how long the writers take to write every record (the faults happen meanwhile)
    sink: str = "engine"  # "engine": the embedded engine behind a proxy; "ledger": the id ledger
    seed: int = 1
    drain_timeout_s: float = 120.0


@dataclass
class CrashReport:
    delivery: Delivery
    collector_kills: int
    shipper_kills: int
    outage_s: float
    elapsed_s: float
    sink_writes: int = 0  # documents the sink was handed, re-deliveries included (ledger only)
    spool_bytes: int = 0  # the spool's files at the end (every record retained: retain_mb not reached)
    faults: list[str] = field(default_factory=list)  # what happened when, for a failure's message


@dataclass
class _Fault:
    at_s: float
    action: Callable[[], None]
    name: str


def _site_code(index: int) -> str:
    return f"C{index:02d}"


def _writer(
    logs: list[SiteLog],
    records: int,
    write_s: float,
    done: threading.Event,
    before_rotation: Callable[[SiteLog], None] | None = None,
    rotate_every: int = 0,
) -> None:
    """Round-robin appends spread evenly over `write_s`; rotates each log every `rotate_every` records."""
    started = time.monotonic()
    written = 0
    chunks = max(1, records // WRITE_CHUNK)
    for chunk in range(chunks):
        log = logs[chunk % len(logs)]
        count = WRITE_CHUNK if chunk < chunks - 1 else records - written
        written += count
        while count:
            room = count
            if rotate_every:
                if log.written % rotate_every == 0 and log.path.exists():
                    if before_rotation is not None:
                        before_rotation(log)
                    log.rotate()
                room = rotate_every - log.written % rotate_every
            appended = min(count, room)
            log.append(appended)
            count -= appended
        pause = started + write_s * (chunk + 1) / chunks - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    done.set()


def run_crash(plan: CrashPlan, workdir: Path) -> CrashReport:
    """Ship `plan.records` records through SIGKILLs, a store outage and shipper restarts; compare ids."""
    rng = random.Random(plan.seed)
    started = time.monotonic()
    store: Store | None = None
    proxy: StoreProxy | None = None
    ledger: Ledger | None = None
    outage_flag = workdir / "outage"
    if plan.sink == "engine":
        store = connect()
        proxy = StoreProxy(int(store.url.rsplit(":", 1)[1]))
        collector = CollectorProcess(workdir / "collector", store_url=proxy.url)
    else:
        ledger = Ledger(workdir / "ledger.tsv")
        collector = CollectorProcess(workdir / "collector", ledger=ledger.path, outage_flag=outage_flag)
    logs = [SiteLog(workdir / "logs" / _site_code(n), _site_code(n)) for n in range(plan.shippers)]
    shippers: list[ShipperProcess] = []
    try:
        shippers = [ShipperProcess(workdir / "shippers" / log.site, log, [collector.port]) for log in logs]
        done = threading.Event()
        writer = threading.Thread(target=_writer, args=(logs, plan.records, plan.write_s, done), daemon=True)

        def kill_collector() -> None:
            collector.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            collector.start()

        def store_down() -> None:
            if proxy is not None:
                proxy.stop()
            else:
                outage_flag.touch()

        def store_up() -> None:
            if proxy is not None:
                proxy.start()
            else:
                outage_flag.unlink()

        def kill_shipper() -> None:
            shipper = rng.choice(shippers)
            shipper.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            shipper.start()

        faults = [
            _Fault(rng.uniform(0.1, 0.9) * plan.write_s, kill_collector, "collector SIGKILL")
            for _ in range(plan.collector_kills)
        ]
        faults += [
            _Fault(rng.uniform(0.1, 0.9) * plan.write_s, kill_shipper, "shipper SIGKILL")
            for _ in range(plan.shipper_kills)
        ]
        if plan.outage_s > 0:
            down_at = rng.uniform(0.1, 0.5) * plan.write_s
            faults += [
                _Fault(down_at, store_down, "store down"),
                _Fault(down_at + plan.outage_s, store_up, "store up"),
            ]
        faults.sort(key=lambda fault: fault.at_s)
        writer.start()
        fault_clock = time.monotonic()
        applied = []
        for fault in faults:
            delay = fault_clock + fault.at_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            applied.append(f"{time.monotonic() - fault_clock:.1f}s {fault.name}")
            fault.action()
        writer.join(plan.write_s * 4 + 60)
        assert done.is_set(), "the writer did not finish"
        expected = {record_id: marker for log in logs for record_id, marker in log.expected.items()}

        def indexed() -> dict[str, str]:
            if store is not None:
                return engine_ids(store)
            assert ledger is not None
            return ledger.refresh()

        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: expected.keys() <= indexed().keys(),
                plan.drain_timeout_s,
                "every record in the sink",
                every_s=1.0,
            )
        time.sleep(1.0)  # a late re-delivery under another id would show up now
        report = CrashReport(
            delivery=Delivery.compare(expected, indexed()),
            collector_kills=collector.kills,
            shipper_kills=sum(shipper.kills for shipper in shippers),
            outage_s=plan.outage_s,
            elapsed_s=time.monotonic() - started,
            sink_writes=ledger.writes if ledger is not None else 0,
            faults=applied,
            spool_bytes=sum(path.stat().st_size for path in (workdir / "collector" / "state").glob("spool*")),
        )
        for shipper in shippers:
            shipper.terminate()
        collector.terminate()
        return report
    finally:
        for shipper in shippers:
            shipper.stop()
        collector.stop()
        if proxy is not None:
            proxy.stop()
        if store is not None:
            store.close()


@dataclass
class RotationReport:
    delivery: Delivery
    rotations: int
    elapsed_s: float


def run_rotation_storm(
    shippers: int,
    records: int,
    rotate_every: int,
    write_s: float,
    workdir: Path,
    drain_timeout_s: float = 60.0,
) -> RotationReport:
    """Rotate every log each `rotate_every` records while the shippers ship; compare ids.

    SMS keeps one rotated file: renaming `X.log` over an `X.lo_` the shipper has not finished would
    lose records in any setup, so before each rotation the writer waits (bounded) until the
    generation about to be replaced is in the sink. Rotations still land mid-stream: the shipper is
    reading the current `X.log` while it is renamed.
    """
    started = time.monotonic()
    ledger = Ledger(workdir / "ledger.tsv")
    collector = CollectorProcess(workdir / "collector", ledger=ledger.path)
    logs = [SiteLog(workdir / "logs" / f"R{n:02d}", f"R{n:02d}") for n in range(shippers)]
    processes: list[ShipperProcess] = []

    def before_rotation(log: SiteLog) -> None:
        if len(log.generations) >= 2:
            replaced = log.generations[-2]
            with contextlib.suppress(TimeoutError):
                wait_until(
                    lambda: all(record_id in ledger.refresh() for record_id in replaced),
                    20.0,
                    "the rotated file's records",
                    every_s=0.05,
                )

    try:
        processes = [ShipperProcess(workdir / "shippers" / log.site, log, [collector.port]) for log in logs]
        done = threading.Event()
        _writer(logs, records, write_s, done, before_rotation, rotate_every)
        expected = {record_id: marker for log in logs for record_id, marker in log.expected.items()}
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: expected.keys() <= ledger.refresh().keys(),
                drain_timeout_s,
                "every record in the sink",
                every_s=0.5,
            )
        time.sleep(1.0)
        report = RotationReport(
            Delivery.compare(expected, ledger.refresh()),
            rotations=sum(len(log.generations) - 1 for log in logs),
            elapsed_s=time.monotonic() - started,
        )
        for process in processes:
            process.terminate()
        collector.terminate()
        return report
    finally:
        for process in processes:
            process.stop()
        collector.stop()


# --------------------------------------------------------------------------------------------- load


@dataclass
class LoadReport:
    connections_wanted: int
    connections_opened: int
    connections_held: int  # the fewest the collector reported open while the load ran
    dropped_by_collector: int
    frames_acked: int
    ack_p50_s: float
    ack_p99_s: float
    collector_peak_rss_mb: float = 0.0  # sampled once a second while the load ran (Linux only)
    latencies_s: list[float] = field(default_factory=list, repr=False)


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's soft open-file limit towards `wanted`; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def resident_mb(pid: int) -> float:
    """A process's resident memory in MB from /proc (0.0 where there is no /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kilobytes = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
    return int(kilobytes) / 1024


def _record_frame(number: int, sequence: int) -> bytes:
    site = f"L{number % 100:02d}"
    record = {
        "type": "record",
        "site": site,
        "host": f"LOADHOST{number}",
        "path": "C:/SMS_BOOTSTRAP.log",
        "file_id": f"load-{number}",
        "offset": sequence * 200,
        "encoding": "utf-8",
        "timezone": "Eastern Standard Time",
        "message": f"rec {site}-{number:05d}{sequence:06d} load.  $$<SMS_BOOTSTRAP><Mon Jan 14 10:00:00.000 "
        f"2002 Eastern Standard Time><thread=1 (0x1)>",
    }
    entries = msgpack.packb([pack_event_time(time.time()), record])
    return msgpack.packb([f"bootwatch.{site}", entries, {"chunk": f"r{number}-{sequence}", "size": 1}])


def _heartbeat_frame(number: int, sequence: int) -> bytes:
    site = f"L{number % 100:02d}"
    beat = {
        "type": "heartbeat",
        "site": site,
        "host": f"LOADHOST{number}",
        "shipper_version": "load",
        "files": [
            {
                "path": "C:/SMS_BOOTSTRAP.log",
                "file_id": f"load-{number}",
                "size": sequence * 200,
                "offset": sequence * 200,
            }
        ],
        "queue_bytes": 0,
        "queue_records": 0,
        "heartbeat_s": 10.0,
    }
    entries = msgpack.packb([pack_event_time(time.time()), beat])
    return msgpack.packb(["bootwatch.heartbeat", entries, {"chunk": f"h{number}-{sequence}", "size": 1}])


async def _await_ack(reader: asyncio.StreamReader, unpacker: msgpack.Unpacker, timeout_s: float) -> Any:
    while True:
        for message in unpacker:
            return message
        data = await asyncio.wait_for(reader.read(4096), timeout_s)
        if not data:
            raise ConnectionResetError("closed by the collector")
        unpacker.feed(data)


async def _load(
    port: int, connections: int, duration_s: float, period_s: float, sample_open: Callable[[], float]
) -> tuple[int, int, int, list[float], list[float]]:
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for number in range(connections):
        opened.append(await asyncio.open_connection(LOOPBACK, port))
        if number % 100 == 99:
            await asyncio.sleep(0.05)  # stay inside the listen backlog
    latencies: list[float] = []
    dropped = 0
    acked = 0
    deadline = time.monotonic() + duration_s
    rng = random.Random(7)

    async def one(number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal dropped, acked
        unpacker = msgpack.Unpacker(raw=False)
        sequence = 0
        await asyncio.sleep(rng.uniform(0, period_s))
        try:
            while time.monotonic() < deadline:
                frame = (_heartbeat_frame if sequence % 5 == 0 else _record_frame)(number, sequence)
                sent = time.monotonic()
                writer.write(frame)
                await writer.drain()
                answer = await _await_ack(reader, unpacker, 60.0)
                assert isinstance(answer, dict) and "ack" in answer, answer
                latencies.append(time.monotonic() - sent)
                acked += 1
                sequence += 1
                await asyncio.sleep(period_s * rng.uniform(0.5, 1.5))
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            dropped += 1

    held_samples: list[float] = []

    async def sample() -> None:
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            held_samples.append(await asyncio.to_thread(sample_open))

    await asyncio.gather(sample(), *(one(n, r, w) for n, (r, w) in enumerate(opened)))
    for _reader, writer in opened:
        writer.close()
    return len(opened), dropped, acked, latencies, held_samples


def run_load(connections: int, duration_s: float, workdir: Path, period_s: float = 2.0) -> LoadReport:
    """`connections` shipper connections, each sending a frame (records, every 5th a heartbeat) every
    ~`period_s` and waiting for its ack, to one collector with the null sink for `duration_s`."""
    # The client and the collector each hold one descriptor per connection, plus their own files.
    limit = raise_open_file_limit(connections + 256)
    connections = min(connections, limit - 256)
    settings = CollectorSettings(max_connections=connections + 100)
    collector = CollectorProcess(workdir / "collector", null_sink=True, settings=settings)
    try:
        rss_mb: list[float] = []

        def sample_open() -> float:
            rss_mb.append(resident_mb(collector.process.pid if collector.process else 0))
            return collector.metrics()["connections_open"]

        opened, dropped, acked, latencies, held = asyncio.run(
            _load(collector.port, connections, duration_s, period_s, sample_open)
        )
        ordered = sorted(latencies)
        report = LoadReport(
            connections_wanted=connections,
            connections_opened=opened,
            connections_held=int(min(held)) if held else 0,
            dropped_by_collector=dropped,
            frames_acked=acked,
            ack_p50_s=statistics.median(ordered) if ordered else 0.0,
            ack_p99_s=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0,
            collector_peak_rss_mb=max(rss_mb, default=0.0),
            latencies_s=ordered,
        )
        collector.terminate()
        return report
    finally:
        collector.stop()
