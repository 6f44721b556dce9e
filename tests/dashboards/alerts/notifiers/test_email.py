"""Email delivery to a real local SMTP server (aiosmtpd): plain, STARTTLS with login, temporary failures."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dashboards.alerts.config import EmailChannel
from dashboards.alerts.events import AlertEvent, AlertKey
from dashboards.alerts.notifiers.email import EmailNotifier
from dashboards.alerts.notifiers.retry import DeliveryError

RAISED = AlertEvent(
    key=AlertKey("silent-install-failures", "S12", "S12-20021025T221323355Z"),
    action="raised",
    at=datetime(2002, 10, 27, 8, tzinfo=UTC),
    query_title="Silent install failures",
    severity="critical",
    state="failed_unreported",
    host="PHOENIX-SEC11",
    message="S12 (PHOENIX-SEC11): Silent install failures: attempt S12-1 is failed_unreported",
    error_code="0x80070005",
    hint="Access denied",
)
RESOLVED = AlertEvent(
    key=AlertKey("silent-install-failures", "S07", "S07-1"),
    action="resolved",
    at=datetime(2002, 10, 27, 8, tzinfo=UTC),
    query_title="Silent install failures",
    severity="critical",
    state="succeeded",
    host=None,
    message="S07: no longer silent install failures: attempt S07-1 is now succeeded",
)


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps every accepted message; answers the first `temporary_failures` with 451."""

    temporary_failures: int = 0
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    tried: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tried += 1
        if self.tried <= self.temporary_failures:
            return "451 4.3.0 Mailbox busy, try again"
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(controller: Controller) -> Controller:
    controller.start()
    return controller


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made with the openssl command."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
def plain_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = _start(Controller(mailbox, hostname="127.0.0.1", port=port))
    try:
        yield mailbox, port
    finally:
        controller.stop()


def _channel(port: int, **settings: Any) -> EmailChannel:
    return EmailChannel(
        type="email",
        name="mail",
        host="127.0.0.1",
        port=port,
        sender="bootwatch@example.net",
        to=["sms-admins@example.net", "oncall@example.net"],
        timeout_s=5,
        **settings,
    )


def test_one_mail_lists_every_alert_of_the_run(plain_server: tuple[Mailbox, int]) -> None:
    mailbox, port = plain_server
    EmailNotifier(_channel(port)).send([RAISED, RESOLVED])
    ((sender, recipients, content),) = mailbox.messages
    assert sender == "bootwatch@example.net"
    assert recipients == ["sms-admins@example.net", "oncall@example.net"]
    message = message_from_bytes(content, policy=default_policy)
    assert message["Subject"] == "[bootwatch] 1 raised, 1 resolved: S07, S12"
    body = message.get_content()
    assert "S12 (PHOENIX-SEC11): Silent install failures" in body
    assert "error: 0x80070005 Access denied" in body
    assert "S07: no longer silent install failures" in body


def test_a_temporary_4xx_is_retried_and_then_delivered(plain_server: tuple[Mailbox, int]) -> None:
    mailbox, port = plain_server
    mailbox.temporary_failures = 1
    notifier = EmailNotifier(_channel(port))
    _, tries = notifier.retry.run(lambda: notifier.send([RAISED]), sleep=lambda _s: None)
    assert tries == 2
    assert len(mailbox.messages) == 1


def test_starttls_then_login_delivers_over_the_upgraded_connection(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(cert), str(key))
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    mailbox = Mailbox()
    port = _free_port()
    controller = _start(
        Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=server_context,
            require_starttls=True,
            authenticator=authenticator,
            auth_require_tls=True,
        )
    )
    try:
        channel = _channel(port, starttls=True, ca_file=cert, username="bootwatch", password="s3cret")
        EmailNotifier(channel).send([RAISED])
        assert logins == [(b"bootwatch", b"s3cret")]
        assert len(mailbox.messages) == 1
        # Without STARTTLS a server that requires it refuses the mail: reported, not retried forever.
        with pytest.raises(DeliveryError) as caught:
            EmailNotifier(_channel(port)).send([RAISED])
        assert not caught.value.retryable
    finally:
        controller.stop()


def test_an_untrusted_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(cert), str(key))
    port = _free_port()
    controller = _start(Controller(Mailbox(), hostname="127.0.0.1", port=port, tls_context=server_context))
    try:
        with pytest.raises(DeliveryError, match="TLS failed"):
            EmailNotifier(_channel(port, starttls=True)).send([RAISED])
    finally:
        controller.stop()


def test_no_server_is_a_retryable_failure() -> None:
    notifier = EmailNotifier(_channel(_free_port(), attempts=2))
    with pytest.raises(DeliveryError, match="cannot deliver") as caught:
        notifier.retry.run(lambda: notifier.send([RAISED]), sleep=lambda _s: None)
    assert caught.value.retryable and caught.value.tries == 2
