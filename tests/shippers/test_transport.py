"""Transport (`shippers/transport.py`): frame format, backoff policy, TLS with CA verification."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
from shipper_harness import ForwardReceiver, LogWriter, RunningShipper, file_id_of, shipper_toml, wait_until

from shippers.config import AuthConfig, Collector, TlsConfig
from shippers.transport import (
    Backoff,
    ForwardClient,
    RecordPacker,
    TransportError,
    forward_frame,
    new_chunk_id,
)


def test_chunk_id_is_base64_of_16_random_bytes() -> None:
    first, second = new_chunk_id(), new_chunk_id()
    assert len(base64.b64decode(first)) == 16 and first != second


def test_packed_forward_frame_decodes_to_tag_entries_and_options() -> None:
    packer = RecordPacker(site="S02", host="SECSRV01", timezone="UTC")
    entries = packer.pack(path="C:/Sms_bootstrap.log", file_id="abc", encoding="utf-8",
                          offsets=[0, 70000], texts=["first", "sécond"], read_at=1_700_000_000.25)
    tag, payload, options = msgpack.unpackb(forward_frame("bootwatch.S02", entries, 2, "Y2h1bms="), raw=False)
    assert (tag, options) == ("bootwatch.S02", {"chunk": "Y2h1bms=", "size": 2})
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(payload)
    (time0, first), (_time1, second) = list(unpacker)
    assert time0 == msgpack.ExtType(0, bytes.fromhex("6553f100") + (250_000_000).to_bytes(4, "big"))
    assert first == {"type": "record", "site": "S02", "host": "SECSRV01", "timezone": "UTC",
                     "path": "C:/Sms_bootstrap.log", "file_id": "abc", "encoding": "utf-8", "offset": 0,
                     "message": "first"}
    assert (second["offset"], second["message"]) == (70000, "sécond")


def test_packing_no_records_gives_no_entries() -> None:
    packer = RecordPacker(site="S02", host="h", timezone="UTC")
    assert packer.pack(path="p", file_id="f", encoding="utf-8", offsets=[], texts=[], read_at=0.0) == b""


def test_backoff_doubles_per_round_with_jitter_and_is_capped() -> None:
    low = Backoff(1.0, 8.0, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    high = Backoff(1.0, 8.0, rng=lambda: 1.0)
    assert [high.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    high.reset()
    assert high.next_delay() == 1.0


def test_client_reports_no_collector_when_none_answers() -> None:
    client = ForwardClient([Collector("127.0.0.1", 1)], tls=TlsConfig(), auth=AuthConfig(), self_hostname="h",
                           connect_timeout_s=0.5, ack_timeout_s=0.5)
    with pytest.raises(TransportError, match="no collector answered"):
        client.send("bootwatch.S02", b"", 0, new_chunk_id())


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    assert binary, "the openssl command is needed to make test certificates"
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    folder = tmp_path_factory.mktemp("pki")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=folder)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=test-ca", "-days", "2", "-out", "ca.pem",
             cwd=folder)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key", cwd=folder)
    _openssl("req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr", cwd=folder)
    (folder / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "server.ext", "-out", "server.pem", cwd=folder)
    # A second CA that signed nothing: trusting it must fail the connection.
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "other.key", cwd=folder)
    _openssl("req", "-x509", "-new", "-key", "other.key", "-subj", "/CN=other-ca", "-days", "2", "-out",
             "other.pem", cwd=folder)
    return folder


def test_tls_delivery_verifies_the_collector_against_the_configured_ca(
        tmp_path: Path, pki: Path, receivers: Callable[..., ForwardReceiver],
        start_shipper: Callable[[str], RunningShipper]) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(pki / "server.pem", pki / "server.key")
    receiver = receivers(tls_context=server)
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(3)
    untrusting = start_shipper(shipper_toml(tmp_path / "other", [log.path], [receiver.address],
                                            tls={"enabled": True, "ca_file": str(pki / "other.pem")}))
    other_ca = TlsConfig(enabled=True, ca_file=str(pki / "other.pem"))
    client = ForwardClient([Collector("127.0.0.1", receiver.port)], tls=other_ca, auth=AuthConfig(),
                           self_hostname="h", connect_timeout_s=1, ack_timeout_s=1)
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        client.connect()
    untrusting.stop()
    assert receiver.records == []
    start_shipper(shipper_toml(tmp_path / "state", [log.path], [receiver.address],
                               tls={"enabled": True, "ca_file": str(pki / "ca.pem")}))
    file_id = file_id_of(log.path)
    want = {(file_id, offset) for offset in log.offsets}
    wait_until(lambda: receiver.received() == want, what="records over TLS")
