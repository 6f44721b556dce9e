"""Reliability figures: crash, rotation storm, load and bad-input fuzzing, in one JSON object.

Runs the scenarios of `tests/reliability/` (real `bootwatch collect` and shipper processes, real
SIGKILLs, a proxy that makes the store unreachable, all on 127.0.0.1) and prints one JSON object
(see BENCHMARKS.md) with:
- records_sent / records_indexed_distinct / duplicates / lost: over the crash and rotation runs,
  ids in the sink compared with the ids of the records written (`rotation_*` give that run alone);
- collector_kills: SIGKILLs of the collector during the crash run (shippers are killed too:
  `shipper_kills`);
- connections_held / ack_p99_s: the load run (the fewest connections the collector reported open
  while every client was sending; ack latency of the frames sent meanwhile);
- fuzz_cases / fuzz_failures: generated inputs to the Forward decoder and the log parsers;
- for sizing: spool_bytes_per_record (spool files after the crash run / records, everything
  retained) and collector_peak_rss_mb (the collector's resident memory under the load run).

Defaults: a few minutes on 2 cores (crash: 20 shippers, 20,000 records into the embedded engine,
10 collector kills, a 15 s store outage; load: 2,000 connections for 20 s). `--quick`: under a
minute. `tests/reliability` with `-m long` runs the issue's full sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.fuzzing import run_fuzz  # noqa: E402
from tests.reliability.scenarios import CrashPlan, run_crash, run_load, run_rotation_storm  # noqa: E402

SIZES = {
    "quick": {
        "shippers": 4,
        "records": 2_000,
        "collector_kills": 3,
        "shipper_kills": 1,
        "outage_s": 4.0,
        "write_s": 6.0,
        "rotation_records": 1_200,
        "rotate_every": 200,
        "connections": 300,
        "load_s": 4.0,
        "hypothesis_cases": 200,
        "mutation_cases": 3_000,
    },
    "default": {
        "shippers": 20,
        "records": 20_000,
        "collector_kills": 10,
        "shipper_kills": 5,
        "outage_s": 15.0,
        "write_s": 45.0,
        "rotation_records": 10_000,
        "rotate_every": 300,
        "connections": 2_000,
        "load_s": 20.0,
        "hypothesis_cases": 2_000,
        "mutation_cases": 60_000,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "default"]
    with tempfile.TemporaryDirectory(prefix="bootwatch-reliability-") as folder:
        workdir = Path(folder)
        crash = run_crash(
            CrashPlan(
                shippers=size["shippers"],
                records=size["records"],
                collector_kills=size["collector_kills"],
                shipper_kills=size["shipper_kills"],
                outage_s=size["outage_s"],
                write_s=size["write_s"],
                sink="engine",
                seed=args.seed,
                drain_timeout_s=300.0,
            ),
            workdir / "crash",
        )
        rotation = run_rotation_storm(
            shippers=min(5, size["shippers"]),
            records=size["rotation_records"],
            rotate_every=size["rotate_every"],
            write_s=size["write_s"] / 2,
            workdir=workdir / "rotation",
        )
        load = run_load(connections=size["connections"], duration_s=size["load_s"], workdir=workdir / "load")
    fuzz = run_fuzz(size["hypothesis_cases"], size["mutation_cases"], random_seed=args.seed)
    delivered = (crash.delivery, rotation.delivery)
    result = {
        "bench": "reliability",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "params": {
            **size,
            "seed": args.seed,
            "crash_sink": "embedded engine behind a TCP proxy",
            "fuzz_failure_examples": fuzz.examples,
        },
        "metrics": {
            "records_sent": sum(d.records_sent for d in delivered),
            "records_indexed_distinct": sum(d.records_indexed_distinct for d in delivered),
            "duplicates": sum(d.duplicates for d in delivered),
            "lost": sum(d.lost for d in delivered),
            "collector_kills": crash.collector_kills,
            "shipper_kills": crash.shipper_kills,
            "store_outage_s": crash.outage_s,
            "crash_elapsed_s": round(crash.elapsed_s, 1),
            "spool_bytes_per_record": round(crash.spool_bytes / max(1, crash.delivery.records_sent), 1),
            "rotation_records_sent": rotation.delivery.records_sent,
            "rotation_lost": rotation.delivery.lost,
            "rotation_duplicates": rotation.delivery.duplicates,
            "rotations": rotation.rotations,
            "connections_wanted": load.connections_wanted,
            "connections_held": load.connections_held,
            "connections_dropped": load.dropped_by_collector,
            "frames_acked": load.frames_acked,
            "ack_p50_s": round(load.ack_p50_s, 4),
            "ack_p99_s": round(load.ack_p99_s, 4),
            "collector_peak_rss_mb": round(load.collector_peak_rss_mb, 1),
            "fuzz_cases": fuzz.cases,
            "fuzz_failures": fuzz.failures,
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
