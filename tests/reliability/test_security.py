"""Security against a real `bootwatch collect` process, with the real shipper transport as the peer:
a wrong shared key, TLS without a trusted certificate and an oversized frame are all refused, while
the right key, a trusted certificate and a normal frame on a new connection are accepted. A config
file holding a secret that others can read is warned about (and still runs); the shared key can come
from a file or the environment instead, and a source that gives no key stops the command with exit 2."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from bootwatch.cli import main
from shippers.config import AuthConfig, Collector, TlsConfig
from shippers.transport import ForwardClient, TransportError, new_chunk_id
from tests.reliability.harness import LOOPBACK, CollectorProcess, CollectorSettings, wait_until

RECORD = {
    "type": "record",
    "site": "S07",
    "host": "SECSRV07",
    "path": "C:/SMS_BOOTSTRAP.log",
    "file_id": "sec",
    "offset": 0,
    "encoding": "utf-8",
    "timezone": "UTC",
    "message": "Bootstrap started  $$<SMS_BOOTSTRAP><Mon Jan 14 10:00:00.000 2002 UTC><thread=1 (0x1)>",
}


def _client(port: int, *, tls: TlsConfig | None = None, auth: AuthConfig | None = None) -> ForwardClient:
    return ForwardClient(
        [Collector(LOOPBACK, port)],
        tls=tls or TlsConfig(),
        auth=auth or AuthConfig(),
        self_hostname="SECSRV07",
        connect_timeout_s=5.0,
        ack_timeout_s=10.0,
    )


def _send_one_record(client: ForwardClient) -> None:
    client.send("bootwatch.S07", msgpack.packb([1_000_000_000, RECORD]), 1, new_chunk_id())


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[CollectorProcess]]:
    processes: list[CollectorProcess] = []
    yield processes
    for process in processes:
        process.stop()


def test_a_wrong_shared_key_is_refused_and_the_right_one_accepted(
    tmp_path: Path, started: list[CollectorProcess]
) -> None:
    settings = CollectorSettings(extra_toml='[security]\nshared_key = "the-right-key"\n')
    collector = CollectorProcess(tmp_path, null_sink=True, settings=settings)
    started.append(collector)
    wrong = _client(collector.port, auth=AuthConfig(shared_key="a-wrong-key"))
    with pytest.raises(TransportError, match=r"refused the handshake|closed"):
        wrong.connect()
    right = _client(collector.port, auth=AuthConfig(shared_key="the-right-key"))
    _send_one_record(right)
    right.close()
    assert collector.metrics()["handshake_failures_total"] == 1


def _openssl(folder: Path, *args: str) -> None:
    binary = shutil.which("openssl")
    assert binary, "the openssl command is needed to make test certificates"
    subprocess.run([binary, *args], cwd=folder, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a collector certificate for 127.0.0.1 / localhost signed by it."""
    folder = tmp_path_factory.mktemp("pki")
    _openssl(
        folder,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=bootwatch-test-ca",
        "-days",
        "2",
    )
    _openssl(
        folder,
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "collector.key",
        "-out",
        "collector.csr",
        "-subj",
        "/CN=localhost",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        folder,
        "x509",
        "-req",
        "-in",
        "collector.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "collector.pem",
    )
    return folder


def test_tls_without_a_trusted_certificate_is_refused_and_with_the_ca_accepted(
    tmp_path: Path, pki: Path, started: list[CollectorProcess]
) -> None:
    settings = CollectorSettings(
        extra_toml=f'[tls]\ncert_file = "{pki / "collector.pem"}"\nkey_file = "{pki / "collector.key"}"\n'
    )
    collector = CollectorProcess(tmp_path, null_sink=True, settings=settings)
    started.append(collector)
    untrusting = _client(collector.port, tls=TlsConfig(enabled=True))  # the system CAs only
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.connect()
    trusting = _client(collector.port, tls=TlsConfig(enabled=True, ca_file=str(pki / "ca.pem")))
    _send_one_record(trusting)
    trusting.close()
    plain = _client(collector.port)  # no TLS at all against a TLS collector: no ack ever comes
    with pytest.raises(TransportError):
        _send_one_record(plain)


def test_an_oversized_frame_is_refused_without_ack_and_the_next_connection_works(
    tmp_path: Path, started: list[CollectorProcess]
) -> None:
    collector = CollectorProcess(tmp_path, null_sink=True, settings=CollectorSettings(max_frame_mb=0.1))
    started.append(collector)
    # Over the limit plus the one read of slack the server allows past a frame.
    big = {**RECORD, "message": "x" * 600_000}
    frame = msgpack.packb(["bootwatch.S07", msgpack.packb([1_000_000_000, big]), {"chunk": "big", "size": 1}])
    with socket.create_connection((LOOPBACK, collector.port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # the collector may close while we are still sending
            sock.sendall(frame)
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # closed, and no ack was sent
    wait_until(lambda: collector.metrics()["frames_oversized_total"] == 1, 10.0, "the oversized counter")
    client = _client(collector.port)
    _send_one_record(client)
    client.close()
    assert collector.metrics()["frames_acked_total"] == 1


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Files written now get mode 0644, readable by everyone, whatever the umask this run has."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_world_readable_config_with_the_shared_key_is_warned_about_and_the_collector_still_runs(
    tmp_path: Path, started: list[CollectorProcess], umask_022: None
) -> None:
    settings = CollectorSettings(extra_toml='[security]\nshared_key = "the-right-key"\n')
    collector = CollectorProcess(tmp_path, null_sink=True, settings=settings)
    started.append(collector)
    config = tmp_path / "collector.toml"
    log = collector.log_path.read_text(encoding="utf-8")
    assert f"{config} holds secrets (security.shared_key) and is readable by everyone" in log
    assert f"chmod 600 {config}" in log
    right = _client(collector.port, auth=AuthConfig(shared_key="the-right-key"))
    _send_one_record(right)
    right.close()


def test_the_collector_reads_its_shared_key_from_a_private_file_without_a_warning(
    tmp_path: Path, started: list[CollectorProcess], umask_022: None
) -> None:
    key_file = tmp_path / "bootwatch_shared_key"
    key_file.write_text("key-from-a-file\n", encoding="utf-8")
    key_file.chmod(0o600)
    settings = CollectorSettings(extra_toml=f'[security]\nshared_key_file = "{key_file}"\n')
    collector = CollectorProcess(tmp_path / "collector", null_sink=True, settings=settings)
    started.append(collector)
    wrong = _client(collector.port, auth=AuthConfig(shared_key="key-from-a-file\n"))
    with pytest.raises(TransportError, match=r"refused the handshake|closed"):
        wrong.connect()
    right = _client(collector.port, auth=AuthConfig(shared_key="key-from-a-file"))
    _send_one_record(right)
    right.close()
    assert "holds secrets" not in collector.log_path.read_text(encoding="utf-8")


def test_an_unset_shared_key_variable_stops_collect_and_ship_with_exit_2_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TEST_UNSET_BOOTWATCH_KEY", raising=False)
    collector_config = tmp_path / "collector.toml"
    collector_config.write_text('[security]\nshared_key_env = "TEST_UNSET_BOOTWATCH_KEY"\n', encoding="utf-8")
    assert main(["collect", "--config", str(collector_config), "--sink", "null"]) == 2
    error = capsys.readouterr().err
    assert "security.shared_key_env names the environment variable TEST_UNSET_BOOTWATCH_KEY" in error
    shipper_config = tmp_path / "shipper.toml"
    shipper_config.write_text(
        'site = "S07"\ncollectors = ["127.0.0.1:24224"]\n'
        '[auth]\nshared_key_env = "TEST_UNSET_BOOTWATCH_KEY"\n',
        encoding="utf-8",
    )
    assert main(["ship", "--check", "--config", str(shipper_config)]) == 2
    error = capsys.readouterr().err
    assert "auth.shared_key_env names the environment variable TEST_UNSET_BOOTWATCH_KEY" in error


def test_ship_check_warns_about_a_world_readable_config_with_the_shared_key_and_still_passes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, umask_022: None
) -> None:
    shipper_config = tmp_path / "shipper.toml"
    shipper_config.write_text(
        f'site = "S07"\ncollectors = ["127.0.0.1:24224"]\npaths = ["{tmp_path.as_posix()}/*.log"]\n'
        '[auth]\nshared_key = "k"\n',
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING):
        assert main(["ship", "--check", "--config", str(shipper_config)]) == 0
    (warning,) = [record.message for record in caplog.records if "holds secrets" in record.message]
    assert str(shipper_config) in warning and f"chmod 600 {shipper_config}" in warning
