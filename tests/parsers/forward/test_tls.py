"""TLS: a server certificate, and optional client certificate verification (openssl-made throwaways)."""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from parsers.forward.server import build_tls_context
from tests.parsers.forward.conftest import Peer, ServerHarness


def openssl(*args: str, cwd: Path) -> None:
    openssl_binary = shutil.which("openssl")
    assert openssl_binary, "the openssl command is needed to make test certificates"
    subprocess.run([openssl_binary, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def signed_pair(folder: Path, name: str, subject: str, extensions: str) -> None:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=folder)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=folder)
    (folder / f"{name}.ext").write_text(extensions)
    openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.pem",
        cwd=folder,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA with a server certificate for localhost and a client certificate."""
    folder = tmp_path_factory.mktemp("pki")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=folder)
    openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=test-ca",
        "-days",
        "2",
        "-out",
        "ca.pem",
        cwd=folder,
    )
    signed_pair(folder, "server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    signed_pair(folder, "client", "/CN=SECSRV01", "extendedKeyUsage=clientAuth\n")
    return folder


def client_context(pki: Path, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if with_certificate:
        context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return context


def test_tls_connection_is_acked(pki: Path, make_harness: Callable[..., ServerHarness]) -> None:
    context = build_tls_context(str(pki / "server.pem"), str(pki / "server.key"), None)
    running = make_harness(tls_context=context)
    peer = Peer(running.port, context=client_context(pki, with_certificate=False))
    peer.send(["t", 1, {"log": "over tls"}, {"chunk": "tls"}])
    assert peer.receive() == {"ack": "tls"}
    assert running.stored()[0][2] == {"log": "over tls"}


def test_client_certificate_is_required_when_a_client_ca_is_set(
    pki: Path, make_harness: Callable[..., ServerHarness]
) -> None:
    context = build_tls_context(str(pki / "server.pem"), str(pki / "server.key"), str(pki / "ca.pem"))
    running = make_harness(tls_context=context)
    trusted = Peer(running.port, context=client_context(pki, with_certificate=True))
    trusted.send(["t", 1, {"log": "with cert"}, {"chunk": "ok"}])
    assert trusted.receive() == {"ack": "ok"}
    anonymous = Peer(running.port, context=client_context(pki, with_certificate=False))
    # TLS 1.3 finishes the client side before the server checks the certificate: the refusal shows
    # as the server closing the connection, and nothing it sent is stored.
    with contextlib.suppress(ssl.SSLError, ConnectionResetError, BrokenPipeError):
        anonymous.send(["t", 1, {"log": "no cert"}, {"chunk": "no"}])
    assert anonymous.is_closed_by_server()
    assert [record["log"] for _t, _s, record in running.stored()] == ["with cert"]


def test_plain_tcp_to_a_tls_listener_gets_nothing_stored(
    pki: Path, make_harness: Callable[..., ServerHarness]
) -> None:
    context = build_tls_context(str(pki / "server.pem"), str(pki / "server.key"), None)
    running = make_harness(tls_context=context)
    peer = Peer(running.port)
    peer.send(["t", 1, {"log": "cleartext"}, {"chunk": "c"}])
    assert peer.is_closed_by_server()
    assert running.stored() == []
