"""The reliability suite's harness: real processes, real sockets and real faults, all on 127.0.0.1.

Pieces the scenarios (`scenarios.py`) put together, shared by `tests/reliability/` and
`bench/reliability.py`:
- `SiteLog` writes a secondary's Bootstrap log the way SMS does (legacy records, CRLF, `X.log`
  renamed to `X.lo_` at rotation) and remembers the `_id` every record must get in the store, from
  the same identity rules the shipper applies (`file_fingerprint` of the file's first line, record
  offsets), so the store is compared with what was written, not with what bootwatch says it read.
- `CollectorProcess` runs `bootwatch collect` (into a store) or `ledger_collector` (into a ledger
  file that keeps the id set across SIGKILLs) as a child process that can be SIGKILLed and restarted.
- `ShipperProcess` runs the real shipper (`python -m shippers`) the same way.
- `StoreProxy` sits between the collector and the store; stopping it makes the store unreachable
  (connections reset, new ones refused) without touching the store itself.
- `Ledger` / `engine_ids` read back which ids reached the sink.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from elasticsearch import helpers

from parsers.schema import document_id
from parsers.store.connect import Store
from shippers.framing import FINGERPRINT_MAX_BYTES, file_fingerprint

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
# One legacy SMS record (LOG_FORMATS.md family 1); `rec <SITE>-<n>` makes every record unique.
RECORD = (
    "rec {marker} Bootstrap step {n} of the secondary site install.  $$<SMS_BOOTSTRAP>"
    "<Mon Jan 14 10:{m:02d}:{s:02d}.{ms:03d} 2002 Eastern Standard Time><thread=1234 (0x4D2)>\r\n"
)
MARKER = re.compile(r"rec ([A-Z0-9]+-\d+)")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def tail(path: Path, lines: int = 30) -> str:
    """The end of a child's log, for failure messages."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# ------------------------------------------------------------------------------------------ the logs


class SiteLog:
    """One secondary's Bootstrap log: appends unique records and rotates `X.log` -> `X.lo_` like SMS."""

    def __init__(self, folder: Path, site: str, name: str = "Sms_bootstrap.log") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.site = site
        self.path = folder / name
        self.rotated_path = self.path.with_suffix(".lo_")
        self.written = 0
        # id -> marker of every record written, and the ids of each file generation in order
        self.expected: dict[str, str] = {}
        self.generations: list[list[str]] = []
        self._offset = 0
        self._file_id: str | None = None

    def append(self, count: int) -> None:
        """Append `count` records (one write, as a logging service flushes)."""
        lines = []
        for _ in range(count):
            n = self.written
            marker = f"{self.site}-{n:07d}"
            lines.append(RECORD.format(marker=marker, n=n, m=(n // 60) % 60, s=n % 60, ms=n % 1000))
            self.written += 1
        data = "".join(lines).encode("utf-8")
        if self._file_id is None:
            self._file_id = file_fingerprint(data[:FINGERPRINT_MAX_BYTES])
            assert self._file_id is not None, "the first record is one whole line"
            self.generations.append([])
            self._offset = 0
        ids = self.generations[-1]
        for line in lines:
            record_id = document_id(self.site, self._file_id, self._offset)
            self.expected[record_id] = MARKER.search(line).group(1)  # type: ignore[union-attr]
            ids.append(record_id)
            self._offset += len(line.encode("utf-8"))
        with self.path.open("ab") as handle:
            handle.write(data)
            handle.flush()

    def rotate(self) -> None:
        """SMS at its size limit: `X.log` becomes `X.lo_` (replacing the last one); a new `X.log` follows."""
        os.replace(self.path, self.rotated_path)
        self._file_id = None


# ------------------------------------------------------------------------------------------ processes


class ChildProcess:
    """A child process with its output in a log file; SIGKILL and restart at will."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer would do."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT_S)
        self.kills += 1

    def terminate(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Make sure the child is gone (at the end of a scenario, whatever happened)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)


@dataclass
class CollectorSettings:
    """What a scenario changes in the collector's config (TOML text appended to the defaults)."""

    extra_toml: str = ""
    retry_max_s: float = 1.0
    max_connections: int = 4096
    max_frame_mb: float = 16.0


class CollectorProcess(ChildProcess):
    """`bootwatch collect` into a store, or `ledger_collector` into a ledger file, on a fixed port."""

    def __init__(
        self,
        workdir: Path,
        *,
        store_url: str | None = None,
        ledger: Path | None = None,
        outage_flag: Path | None = None,
        null_sink: bool = False,
        settings: CollectorSettings | None = None,
    ) -> None:
        settings = settings or CollectorSettings()
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.metrics_port = free_port()
        config_path = workdir / "collector.toml"
        config_path.write_text(
            f'listen = "{LOOPBACK}:{self.port}"\nstate_dir = "{workdir / "state"}"\n'
            f"{settings.extra_toml}\n"
            f"[limits]\nmax_connections = {settings.max_connections}\nidle_timeout_s = 600.0\n"
            f"max_frame_mb = {settings.max_frame_mb}\n"
            f"[pipeline]\nretry_max_s = {settings.retry_max_s}\nreframe_flush_s = 0.3\n"
            "site_sweep_s = 3600.0\n"
            f'[observability]\nmetrics_listen = "{LOOPBACK}:{self.metrics_port}"\nstats_interval_s = 5.0\n',
            encoding="utf-8",
        )
        if ledger is not None:
            command = [
                sys.executable,
                "-m",
                "tests.reliability.ledger_collector",
                "--config",
                str(config_path),
                "--ledger",
                str(ledger),
            ]
            if outage_flag is not None:
                command += ["--outage-flag", str(outage_flag)]
        else:
            command = [
                sys.executable,
                "-m",
                "bootwatch",
                "collect",
                "--config",
                str(config_path),
                "--log-level",
                "WARNING",
            ]
            command += ["--sink", "null"] if null_sink else ["--es-url", str(store_url)]
        super().__init__(command, workdir / "collector.log")
        self.start()

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.5).close()
                return
            except OSError:
                if not self.running:
                    raise RuntimeError(f"the collector exited at start:\n{tail(self.log_path)}") from None
                time.sleep(0.05)
        raise TimeoutError(
            f"the collector did not listen within {START_TIMEOUT_S:g} s:\n{tail(self.log_path)}"
        )

    def metrics(self) -> dict[str, float]:
        """The collector's Prometheus /metrics as {name without prefix: value}."""
        url = f"http://{LOOPBACK}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name.removeprefix("bootwatch_collector_")] = float(value)
        return values


@dataclass
class ShipperTuning:
    """Shipper settings that make a test of seconds behave like hours of production."""

    poll_interval_s: float = 0.05
    rescan_s: float = 0.5
    flush_after_s: float = 0.3
    heartbeat_s: float = 2.0
    ack_timeout_s: float = 15.0
    backoff_max_s: float = 1.0
    batch_max_mb: float = 0.25


class ShipperProcess(ChildProcess):
    """The real shipper (`python -m shippers`) following one site's logs."""

    def __init__(
        self, workdir: Path, log: SiteLog, collector_ports: list[int], tuning: ShipperTuning | None = None
    ) -> None:
        tuning = tuning or ShipperTuning()
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "shipper.toml"
        collectors = ", ".join(f'"{LOOPBACK}:{port}"' for port in collector_ports)
        config_path.write_text(
            f'site = "{log.site}"\nhost = "SEC{log.site}"\ncollectors = [{collectors}]\n'
            f'paths = ["{log.path.parent.as_posix()}/*.log"]\n'
            f'state_dir = "{(workdir / "state").as_posix()}"\n'
            f'timezone = "Eastern Standard Time"\n'
            f"heartbeat_s = {tuning.heartbeat_s}\npoll_interval_s = {tuning.poll_interval_s}\n"
            f"rescan_s = {tuning.rescan_s}\nflush_after_s = {tuning.flush_after_s}\n"
            f"batch_max_mb = {tuning.batch_max_mb}\nconnect_timeout_s = 2.0\n"
            f"ack_timeout_s = {tuning.ack_timeout_s}\nbackoff_initial_s = 0.1\n"
            f'backoff_max_s = {tuning.backoff_max_s}\nlog_level = "warning"\n',
            encoding="utf-8",
        )
        super().__init__(
            [sys.executable, "-m", "shippers", "--config", str(config_path)], workdir / "shipper.log"
        )
        self.start()


# ------------------------------------------------------------------------------------- the store side


class StoreProxy:
    """A TCP relay in front of the store. `stop()` = the store is unreachable; `start()` = it is back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="proxy-accept", daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass  # either side closed: the proxy's job for this connection is over
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def engine_ids(store: Store) -> dict[str, str]:
    """Every log document in the store: `_id` -> the record's marker."""
    client = store.client
    if not client.indices.exists(index="bootwatch-logs-*"):
        return {}
    client.indices.refresh(index="bootwatch-logs-*")
    found = {}
    for hit in helpers.scan(
        client, index="bootwatch-logs-*", query={"query": {"match_all": {}}}, _source=["message"], size=5000
    ):
        match = MARKER.search(hit["_source"].get("message", ""))
        found[hit["_id"]] = match.group(1) if match else ""
    return found


@dataclass
class Ledger:
    """Reads the ledger file `ledger_collector` appends (`<id>\\t<marker>` per document written)."""

    path: Path
    ids: dict[str, str] = field(default_factory=dict)
    writes: int = 0
    _offset: int = 0

    def refresh(self) -> dict[str, str]:
        if not self.path.exists():
            return self.ids
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data.rfind(b"\n") + 1  # a line being written at a kill is finished by the redelivery
        for line in data[:complete].decode("utf-8").splitlines():
            record_id, _tab, marker = line.partition("\t")
            self.ids[record_id] = marker
            self.writes += 1
        self._offset += complete
        return self.ids


@dataclass
class Delivery:
    """What the sink holds compared with what was written."""

    records_sent: int
    records_indexed_distinct: int
    duplicates: int
    lost: int

    @classmethod
    def compare(cls, expected: dict[str, str], indexed: dict[str, str]) -> Delivery:
        indexed_ids = set(indexed)
        return cls(
            records_sent=len(expected),
            records_indexed_distinct=len(indexed_ids),
            # A document the store holds beyond the expected ids: a record stored twice under another id.
            duplicates=len(indexed_ids - expected.keys()),
            lost=len(expected.keys() - indexed_ids),
        )
