"""Helpers to run `bootwatch collect` as a real process and talk to it like a shipper does."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

ROOT = Path(__file__).resolve().parents[3]
LEGACY = (
    "Record {n} of the bootstrap.  $$<SMS_BOOTSTRAP><Mon Jan 14 10:{m:02d}:{s:02d}.123 2002 "
    "Eastern Standard Time><thread=1234 (0x4D2)>"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shipper_frames(count: int, per_frame: int, site: str = "S01") -> list[list[Any]]:
    """PackedForward frames of bootwatch shipper records, each with its own chunk id."""
    frames = []
    offset = 0
    for first in range(0, count, per_frame):
        entries = []
        for n in range(first, min(first + per_frame, count)):
            text = LEGACY.format(n=n, m=(n // 60) % 60, s=n % 60)
            record = {
                "type": "record",
                "site": site,
                "host": "SECSRV01",
                "path": "C:/SMS_BOOTSTRAP.log",
                "file_id": "fid-kill",
                "offset": offset,
                "message": text,
                "encoding": "utf-8",
                "timezone": "Eastern Standard Time",
            }
            offset += len(text) + 2
            entries.append(msgpack.packb([int(time.time()), record]))
        frames.append(
            [f"bootwatch.{site}", b"".join(entries), {"chunk": f"chunk-{first}", "size": len(entries)}]
        )
    return frames


class CollectorProcess:
    """`python -m bootwatch collect` in a subprocess, with its log kept in a file."""

    def __init__(self, tmp_path: Path, *args: str, config: str | None = None) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.state_dir = tmp_path / "state"
        self.log_path = tmp_path / "collector.log"
        config_path = tmp_path / "collector.toml"
        config_path.write_text(
            (config or "") + f'\n[observability]\nmetrics_listen = "127.0.0.1:{self.metrics_port}"\n'
            "stats_interval_s = 1\n"
        )
        self.command = [
            sys.executable,
            "-m",
            "bootwatch",
            "collect",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--state-dir",
            str(self.state_dir),
            "--config",
            str(config_path),
            *args,
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert self.process.poll() is None, self.log_path.read_text()
                time.sleep(0.05)
        raise AssertionError(f"collector did not listen in time:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.split(" ")
                values[name.removeprefix("bootwatch_collector_")] = float(value)
        return values

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Shipper:
    """Sends frames one at a time, waits for each ack, reconnects and resends what was not acked."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.unpacker = msgpack.Unpacker(raw=False)

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + 30
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                self.unpacker = msgpack.Unpacker(raw=False)
                return sock
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def send(self, frame: list[Any], *, wait_for_ack: bool = True) -> None:
        while True:
            try:
                if self.sock is None:
                    self.sock = self._connect()
                self.sock.sendall(msgpack.packb(frame, use_bin_type=True))
                if not wait_for_ack:
                    return
                self._await_ack(frame[2]["chunk"])
                return
            except OSError:
                self.close()
                time.sleep(0.1)

    def _await_ack(self, chunk: str) -> None:
        assert self.sock is not None
        while True:
            for message in self.unpacker:
                assert message == {"ack": chunk}
                return
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("closed before the ack")
            self.unpacker.feed(data)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.fixture
def collectors(tmp_path: Path) -> Iterator[list[CollectorProcess]]:
    """Collector processes a test starts; all are killed at the end."""
    started: list[CollectorProcess] = []
    yield started
    for collector in started:
        collector.stop()


def wait_for(condition: Any, timeout_s: float = 60, message: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {message}")
        time.sleep(0.1)
