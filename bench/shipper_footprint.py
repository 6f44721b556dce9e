"""Shipper footprint: memory idle, CPU while following a growing file, records/s catching up a backlog.

The shipper runs as its own process (`python -m shippers --config FILE`, default poll interval and
batch size) against an acking Forward receiver in another process, on 127.0.0.1:

1. `idle_rss_mb`: resident memory once it shipped a small file and sits idle.
2. `cpu_pct_at_1000_rps`: its CPU time (user + system, from /proc) over wall time, in % of one
   core, while the bench appends 1,000 legacy records/s (100 every 0.1 s) to the followed file.
3. `backlog_records_per_s`: a fresh shipper (empty state) on a file of `--backlog-mb` MB of legacy
   records: records divided by the time from its first heartbeat (sent once it is started and
   connected) until the receiver has acked the last record. The time from the process start
   (interpreter start-up included) is reported too (`backlog_elapsed_with_startup_s`), and records
   per second of the shipper's own CPU time, start-up included (`backlog_records_per_cpu_s`): on a
   shared, loaded machine the wall-clock rate measures the neighbours as much as the shipper.

Targets from the issue: idle <= 20 MB, <= 1 % at 1,000 records/s, >= 400,000 records/s.
Linux only (reads /proc). Prints one JSON object on its last line; `--quick` runs in under 30 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import msgpack

REPO_ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT_TAG = "bootwatch.heartbeat"
RECORD = ("Processing file D:\\SMS\\inboxes\\hman.box\\S02.SCU  $$<SMS_HIERARCHY_MANAGER>"
          "<07-26-2016 17:09:27.{ms:03d}+300><thread=4840 (0x12E8)>\r\n")


def _serve(connection: socket.socket, records: Synchronized,  # type: ignore[type-arg]
           heartbeat_at: Synchronized) -> None:  # type: ignore[type-arg]
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64 << 20)
    with connection:
        while data := connection.recv(1 << 20):
            unpacker.feed(data)
            for tag, _entries, options in unpacker:
                if tag == HEARTBEAT_TAG:
                    heartbeat_at.value = time.monotonic()
                else:
                    with records.get_lock():
                        records.value += options["size"]
                connection.sendall(msgpack.packb({"ack": options["chunk"]}))


def receiver_main(port: multiprocessing.Queue, records: Synchronized,  # type: ignore[type-arg]
                  heartbeat_at: Synchronized) -> None:  # type: ignore[type-arg]
    """An acking receiver counting records (from each chunk's `size` option); runs in its own process.

    It also notes when the last heartbeat came: a shipper sends its first one as soon as it is
    connected, which marks the end of its start-up.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    port.put(listener.getsockname()[1])
    while True:
        connection, _address = listener.accept()
        threading.Thread(target=_serve, args=(connection, records, heartbeat_at), daemon=True).start()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def write_records(path: Path, count: int, start: int = 0) -> None:
    with open(path, "ab") as handle:
        handle.write("".join(RECORD.format(ms=(start + n) % 1000) for n in range(count)).encode())


class ShipperProcess:
    def __init__(self, workdir: Path, name: str, log_path: Path, port: int) -> None:
        config = workdir / f"{name}.toml"
        config.write_text(f'site = "S02"\nhost = "BENCH"\ntimezone = "UTC"\n'
                          f'collectors = ["127.0.0.1:{port}"]\npaths = ["{log_path.as_posix()}"]\n'
                          f'state_dir = "{(workdir / name).as_posix()}"\n')
        self.started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "shippers", "--config", str(config)],
                                        cwd=REPO_ROOT, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Short run (under 30 s)")
    parser.add_argument("--backlog-mb", type=float, help="Backlog size (default 100, quick 20)")
    parser.add_argument("--follow-s", type=float, help="Seconds at 1,000 records/s (default 30, quick 6)")
    args = parser.parse_args()
    backlog_mb = args.backlog_mb or (20.0 if args.quick else 100.0)
    follow_s = args.follow_s or (6.0 if args.quick else 30.0)
    idle_settle_s = 2.0 if args.quick else 5.0

    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    received: Synchronized = multiprocessing.Value("q", 0)  # type: ignore[type-arg]
    heartbeat_at: Synchronized = multiprocessing.Value("d", 0.0)  # type: ignore[type-arg]
    receiver = multiprocessing.Process(target=receiver_main, args=(ports, received, heartbeat_at),
                                       daemon=True)
    receiver.start()
    port = ports.get(timeout=10)
    try:
        with tempfile.TemporaryDirectory(prefix="shipper-bench-") as temp:
            workdir = Path(temp)
            # 1 + 2: one shipper, idle then following a file growing at 1,000 records/s.
            live = workdir / "Sms_bootstrap.log"
            write_records(live, 10)
            shipper = ShipperProcess(workdir, "live", live, port)
            try:
                wait_for(lambda: received.value >= 10, 30, "the first records")
                time.sleep(idle_settle_s)
                idle_rss = rss_mb(shipper.process.pid)
                written = 10
                cpu_before, wall_before = cpu_seconds(shipper.process.pid), time.monotonic()
                next_write = wall_before
                while time.monotonic() - wall_before < follow_s:
                    write_records(live, 100, written)
                    written += 100
                    next_write += 0.1
                    time.sleep(max(0.0, next_write - time.monotonic()))
                wait_for(lambda: received.value >= written, 30, "the followed records")
                cpu_used = cpu_seconds(shipper.process.pid) - cpu_before
                cpu_pct = 100 * cpu_used / (time.monotonic() - wall_before)
                follow_rss = rss_mb(shipper.process.pid)
            finally:
                shipper.stop()
            # 3: a fresh shipper catching up on a backlog.
            backlog = workdir / "ConfigMgrSetup.log"
            record_bytes = len(RECORD.format(ms=0))
            backlog_records = int(backlog_mb * (1 << 20)) // record_bytes
            for start in range(0, backlog_records, 100_000):
                write_records(backlog, min(100_000, backlog_records - start), start)
            before = received.value
            heartbeat_at.value = 0.0
            catch_up = ShipperProcess(workdir, "backlog", backlog, port)
            try:
                wait_for(lambda: received.value - before >= backlog_records, 300, "the backlog")
                done = time.monotonic()
                elapsed = done - heartbeat_at.value
                with_startup = done - catch_up.started
                backlog_cpu = cpu_seconds(catch_up.process.pid)
                backlog_rss = rss_mb(catch_up.process.pid)
            finally:
                catch_up.stop()
    finally:
        receiver.terminate()
        receiver.join(5)

    print(json.dumps({
        "bench": "shipper_footprint", "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "params": {"quick": args.quick, "backlog_mb": backlog_mb, "backlog_records": backlog_records,
                   "follow_s": follow_s, "record_bytes": record_bytes},
        "metrics": {"idle_rss_mb": round(idle_rss, 2), "cpu_pct_at_1000_rps": round(cpu_pct, 3),
                    "backlog_records_per_s": round(backlog_records / elapsed, 1),
                    "backlog_records_per_cpu_s": round(backlog_records / backlog_cpu, 1),
                    "rss_mb_at_1000_rps": round(follow_rss, 2), "backlog_rss_mb": round(backlog_rss, 2),
                    "backlog_cpu_s": round(backlog_cpu, 3), "backlog_elapsed_s": round(elapsed, 3),
                    "backlog_elapsed_with_startup_s": round(with_startup, 3)},
    }))


if __name__ == "__main__":
    main()
