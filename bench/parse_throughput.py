"""Parse + normalize throughput against a naive baseline, measured in the same run.

Two comparisons, each alternating runs and taking the median (BENCHMARKS.md); times are the
process's CPU time (`time.process_time`, children's CPU time for commands), so other load on the
shared machine does not count against either side:

1. In process, records/s from decoded record text to JSON bytes: one `StreamParser` per file,
   `push_text` + `orjson.dumps` as `bootwatch parse` writes them (`records_per_s`), against the naive
   baseline, one regex per record into a dict plus `json.dumps` (`baseline_records_per_s`). The
   corpus is a simulated fleet (`bootwatch.simulate`, seeded): every family, zones, encodings,
   STATMSG lines, error codes, plain noise, framed once beforehand (framing is the shipper's cost,
   not measured here). Every round parses a fleet of its own, so no round is served from what the
   parser remembered of an earlier one.
2. Whole command on a legacy file: `bootwatch parse FILE > /dev/null` (`command_records_per_s`)
   against a naive script doing the same job (read lines, one regex, dict, `json.dumps`, print)
   (`baseline_command_records_per_s`), both as fresh processes. The project's bytecode is compiled
   first, as an installed package's is: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
   run would otherwise compile two dozen modules from source again.

Prints one JSON object on its last line. `--quick` runs in well under 30 seconds.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from orjson import dumps as to_json

from bootwatch.simulate import Fleet
from parsers.parse import StreamParser
from shippers.framing import RecordFramer, detect_encoding

REPO_ROOT = Path(__file__).resolve().parent.parent

_COMPONENTS = ("SMS_HIERARCHY_MANAGER", "SMS_SITE_COMPONENT_MANAGER", "SMS_DESPOOLER", "SMS_EXECUTIVE",
               "SMS_REPLICATION_MANAGER")
_MESSAGES = (
    r"Processing file D:\SMS\inboxes\hman.box\S02.SCU",
    "Waiting for changes to the inbox, timeout 3600 seconds",
    "Copied S02.SCU to the outbox~~",
    "Sender failover to address 2",
    "Site control file processed",
    "Failed to connect to the SQL Server, retrying",
    "Install of the secondary site returned 0x80070005",
)


@dataclass(frozen=True, slots=True)
class StreamCorpus:
    """One simulated file, framed: what a `StreamParser` for it is built from, and its records."""

    site: str
    host: str
    timezone: str
    path: str
    encoding: str
    records: tuple[tuple[int, str], ...]  # (offset, text)


def build_corpus(sites: int, seed: int) -> list[StreamCorpus]:
    """Every file of a simulated fleet of `sites` sites, framed into records."""
    plan = Fleet.plan(sites, seed)
    streams: list[StreamCorpus] = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        plan.write_all(out)
        for site_folder in sorted(path for path in out.iterdir() if path.is_dir()):
            setting = json.loads((site_folder / "site.json").read_text(encoding="utf-8"))
            for log in sorted(path for path in site_folder.iterdir() if path.name != "site.json"):
                data = log.read_bytes()
                encoding, _bom = detect_encoding(data[:4])
                framer = RecordFramer(encoding)
                framed = [*framer.feed(data), *framer.flush()]
                streams.append(StreamCorpus(setting["site"], setting["host"], setting["timezone"],
                                            f"{site_folder.name}/{log.name}", encoding,
                                            tuple((record.offset, record.text) for record in framed)))
    return streams


# ------------------------------------------------------------------ the naive baseline

_NAIVE_PATTERN = r"^(?P<message>.*?)\s*\$\$<(?P<component>[^>]*)><(?P<time>[^>]*)><thread=(?P<thread>[^>]*)>"

NAIVE_SCRIPT = f'''
import json, re, sys
pattern = re.compile({_NAIVE_PATTERN!r})
with open(sys.argv[1], encoding="utf-8", errors="replace") as lines:
    for line in lines:
        match = pattern.match(line)
        record = match.groupdict() if match else {{"message": line.rstrip()}}
        print(json.dumps(record))
'''


def run_naive(corpus: list[StreamCorpus]) -> int:
    pattern = re.compile(_NAIVE_PATTERN)
    produced = 0
    for stream in corpus:
        for _offset, text in stream.records:
            match = pattern.match(text)
            record = match.groupdict() if match else {"message": text}
            produced += len(json.dumps(record)) > 0
    return produced


def run_parser(corpus: list[StreamCorpus]) -> int:
    produced = 0
    for stream in corpus:
        parser = StreamParser(site=stream.site, host=stream.host, path=stream.path, file_id=stream.path,
                              timezone=stream.timezone, encoding=stream.encoding)
        push = parser.push_text
        for offset, text in stream.records:
            for doc in push(text, offset):
                produced += len(to_json(doc)) > 0
        for doc in parser.close():
            produced += len(to_json(doc)) > 0
    return produced


def timed(job: Callable[[], int]) -> tuple[float, int]:
    start = time.process_time()
    produced = job()
    return time.process_time() - start, produced


def write_legacy_file(path: Path, records: int, seed: int) -> None:
    rng = random.Random(seed)
    moment = datetime(2016, 7, 26, 9, 0, 0)
    with path.open("w", encoding="utf-8", newline="\r\n") as out:
        for _ in range(records):
            moment += timedelta(milliseconds=rng.randint(1, 4000))
            thread = rng.randint(1, 9000)
            message = rng.choice(_MESSAGES)
            stamp = f"{moment:%m-%d-%Y %H:%M:%S}.{moment.microsecond // 1000:03d}+420"
            out.write(f"{message}  $$<{rng.choice(_COMPONENTS)}><{stamp}><thread={thread} (0x{thread:X})>\n")


def run_command(arguments: list[str]) -> float:
    """CPU seconds (user + system) the command took."""
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL, env=environment, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--sites", type=int, default=600, help="simulated sites in the in-process corpus")
    cli.add_argument("--file-records", type=int, default=200_000, help="records in the legacy file")
    cli.add_argument("--rounds", type=int, default=5,
                     help="alternating rounds, each on a fleet of its own; the median is kept")
    cli.add_argument("--seed", type=int, default=1)
    cli.add_argument("--quick", action="store_true", help="small sizes, fewer rounds (under 30 s)")
    args = cli.parse_args()
    if args.quick:
        args.sites, args.file_records, args.rounds = 100, 30_000, 3

    # Each round parses a fleet neither side has seen (seeds seed+1, seed+2, ...), after a warm-up
    # on the seed's own fleet: the parser remembers repeated messages, minutes and zone conversions,
    # and parsing one corpus again and again would serve every record from those caches, which no
    # collector sees. Its one-time set-up (zone tables, code table) is paid in the warm-up.
    warm_up = build_corpus(args.sites, args.seed)
    run_parser(warm_up)
    run_naive(warm_up)
    ours: list[float] = []
    naive: list[float] = []
    records = 0
    for round_number in range(1, args.rounds + 1):
        corpus = build_corpus(args.sites, args.seed + round_number)
        records += sum(len(stream.records) for stream in corpus)
        seconds, produced = timed(lambda corpus=corpus: run_parser(corpus))
        ours.append(produced / seconds)
        seconds, produced = timed(lambda corpus=corpus: run_naive(corpus))
        naive.append(produced / seconds)

    compileall.compile_dir(REPO_ROOT, quiet=1, rx=re.compile(r"[\\/](\.venv|\.git|tests|bench)([\\/]|$)"))
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "hman.log"
        write_legacy_file(log, args.file_records, args.seed)
        command: list[float] = []
        naive_command: list[float] = []
        for _ in range(args.rounds):
            ours_seconds = run_command([sys.executable, "-m", "bootwatch", "parse", str(log)])
            naive_seconds = run_command([sys.executable, "-c", NAIVE_SCRIPT, str(log)])
            command.append(args.file_records / ours_seconds)
            naive_command.append(args.file_records / naive_seconds)

    records_per_s = statistics.median(ours)
    baseline = statistics.median(naive)
    command_rate = statistics.median(command)
    baseline_command = statistics.median(naive_command)
    print(json.dumps({
        "bench": "parse_throughput",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "params": {"sites": args.sites, "records": records,
                   "file_records": args.file_records, "rounds": args.rounds, "seed": args.seed},
        "metrics": {
            "records_per_s": round(records_per_s, 1),
            "baseline_records_per_s": round(baseline, 1),
            "ratio_vs_baseline": round(records_per_s / baseline, 3),
            "command_records_per_s": round(command_rate, 1),
            "baseline_command_records_per_s": round(baseline_command, 1),
            "command_ratio_vs_baseline": round(command_rate / baseline_command, 3),
        },
    }))


if __name__ == "__main__":
    main()
