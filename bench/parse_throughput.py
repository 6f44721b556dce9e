"""Parse + normalize throughput against a naive baseline, measured in the same run.

Two comparisons, each alternating runs and taking the median (BENCHMARKS.md):

1. In process, records/s from decoded record text to JSON bytes: `StreamParser.push` +
   `pydantic_core.to_json` (`records_per_s`) against the naive baseline, one regex per line into a
   dict plus `json.dumps` (`baseline_records_per_s`), on a seeded simulated-style corpus mixing every
   family (mostly legacy, as on a real secondary), STATMSG lines, error codes and plain lines.
2. Whole command on a legacy file: `bootwatch parse FILE > /dev/null` (`command_records_per_s`)
   against a naive script doing the same job (read lines, one regex, dict, `json.dumps`, print)
   (`baseline_command_records_per_s`), both as fresh processes.

Prints one JSON object on its last line. `--quick` runs in well under 30 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from pydantic_core import to_json

from parsers.parse import StreamParser

REPO_ROOT = Path(__file__).resolve().parent.parent

_COMPONENTS = ("SMS_BOOTSTRAP", "SMS_HIERARCHY_MANAGER", "SMS_SITE_COMPONENT_MANAGER", "SMS_DESPOOLER",
               "SMS_EXECUTIVE", "Configuration Manager Setup", r"C:\WINNT\MS\SMS\CORE\BIN\CLISVCL.EXE")
_MESSAGES = (
    r"Processing file D:\SMS\inboxes\hman.box\{site}.SCU",
    "Bootstrap service started, reading C:\\SMS_BOOTSTRAP\\bootstrap.ini",
    "Waiting for changes to the inbox, timeout 3600 seconds",
    "Failed to connect to the SQL Server, retrying",
    "ERROR - Setup failed, Win32 error = 5~",
    "WARNING - Low disk space on drive D:",
    "Copied {site}.SCU to the outbox~~",
    "Sender failover to address 2",
    "Install of the secondary site returned 0x80070005",
)


def build_corpus(records: int, seed: int) -> list[str]:
    """Decoded records as a framer would hand them over: about 70% legacy, the rest mixed."""
    rng = random.Random(seed)
    moment = datetime(2016, 7, 26, 9, 0, 0)
    corpus: list[str] = []
    for _ in range(records):
        moment += timedelta(milliseconds=rng.randint(1, 4000))
        site = f"S{rng.randint(0, 99):02d}"
        message = rng.choice(_MESSAGES).format(site=site)
        component = rng.choice(_COMPONENTS)
        thread = rng.randint(1, 9000)
        millis = moment.microsecond // 1000
        pick = rng.random()
        if pick < 0.55:
            stamp = f"{moment:%m-%d-%Y %H:%M:%S}.{millis:03d}+420"
            corpus.append(f"{message}  $$<{component}><{stamp}><thread={thread} (0x{thread:X})>")
        elif pick < 0.70:
            stamp = f"{moment:%a %b} {moment.day} {moment.hour}:{moment:%M:%S}.{millis:03d} {moment.year}"
            corpus.append(
                f"{message}  $$<{component}><{stamp} Pacific Daylight Time><thread={thread} (0x{thread:X})>")
        elif pick < 0.72:
            gmt = moment + timedelta(hours=7)
            corpus.append(
                f'STATMSG: ID=1015 SEV=I LEV=M SOURCE="SMS Server" COMP="{component}" SYS=SRV{site} '
                f'SITE={site} PID=1234 TID={thread} GMTDATE={gmt:%a %b %d %H:%M:%S}.{millis:03d} {gmt.year} '
                f'ISTR0="{site}" ISTR1="" NUMATTRS=0  $$<{component}>'
                f"<{moment:%m-%d-%Y %H:%M:%S}.{millis:03d}+420><thread={thread} (0x{thread:X})>")
        elif pick < 0.90:
            corpus.append(
                f'<![LOG[{message}]LOG]!><time="{moment:%H:%M:%S}.{millis:03d}+420" date="{moment:%m-%d-%Y}" '
                f'component="{component}" context="" type="{rng.choice("1123")}" thread="{thread}" '
                f'file="site.cpp:120">')
        elif pick < 0.95:
            corpus.append(f"{moment:%m-%d-%Y %H:%M:%S} {message}")
        elif pick < 0.99:
            corpus.append(f"[{thread:X}][{moment:%a %m/%d/%Y %H:%M:%S}]:{message}")
        else:
            corpus.append(f"Continuation of the previous record: {message}")
    return corpus


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


def run_naive(corpus: list[str]) -> int:
    pattern = re.compile(_NAIVE_PATTERN)
    produced = 0
    for line in corpus:
        match = pattern.match(line)
        record = match.groupdict() if match else {"message": line}
        produced += len(json.dumps(record)) > 0
    return produced


def run_parser(corpus: list[str]) -> int:
    parser = StreamParser(site="S02", host="SEC02", path=r"C:\SMS\Logs\hman.log", file_id="bench",
                          timezone="Pacific Standard Time")
    produced = 0
    for offset, text in enumerate(corpus):
        for doc in parser.push(_Record(offset, text)):
            produced += len(to_json(doc)) > 0
    for doc in parser.close():
        produced += len(to_json(doc)) > 0
    return produced


class _Record:
    """A framed record as `StreamParser.push` reads it (text and offset)."""

    __slots__ = ("offset", "text")

    def __init__(self, offset: int, text: str) -> None:
        self.offset = offset
        self.text = text


def timed(job: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    produced = job()
    return time.perf_counter() - start, produced


def write_legacy_file(path: Path, records: int, seed: int) -> None:
    rng = random.Random(seed)
    moment = datetime(2016, 7, 26, 9, 0, 0)
    with path.open("w", encoding="utf-8", newline="\r\n") as out:
        for _ in range(records):
            moment += timedelta(milliseconds=rng.randint(1, 4000))
            thread = rng.randint(1, 9000)
            message = rng.choice(_MESSAGES).format(site="S02")
            stamp = f"{moment:%m-%d-%Y %H:%M:%S}.{moment.microsecond // 1000:03d}+420"
            out.write(f"{message}  $$<{rng.choice(_COMPONENTS)}><{stamp}><thread={thread} (0x{thread:X})>\n")


def run_command(arguments: list[str]) -> float:
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    start = time.perf_counter()
    subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL, env=environment, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--records", type=int, default=200_000, help="records in the in-process corpus")
    cli.add_argument("--file-records", type=int, default=200_000, help="records in the legacy file")
    cli.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is kept")
    cli.add_argument("--seed", type=int, default=1)
    cli.add_argument("--quick", action="store_true", help="small sizes, fewer rounds (under 30 s)")
    args = cli.parse_args()
    if args.quick:
        args.records, args.file_records, args.rounds = 30_000, 30_000, 3

    corpus = build_corpus(args.records, args.seed)
    ours: list[float] = []
    naive: list[float] = []
    for _ in range(args.rounds):
        seconds, produced = timed(lambda: run_parser(corpus))
        ours.append(produced / seconds)
        seconds, produced = timed(lambda: run_naive(corpus))
        naive.append(produced / seconds)

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
        "params": {"records": args.records, "file_records": args.file_records, "rounds": args.rounds,
                   "seed": args.seed},
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
