"""The email channel: one plain-text mail per run listing the alerts raised and resolved, over SMTP.

`starttls = true` upgrades the connection before login (port 587, usually); the server's certificate is
checked against the system CAs or `ca_file`. Connection failures, disconnects and 4xx replies are
temporary (retried); 5xx replies and a refused login are not.
"""

from __future__ import annotations

import smtplib
import ssl
from collections import Counter
from collections.abc import Sequence
from email.message import EmailMessage

from dashboards.alerts.config import EmailChannel
from dashboards.alerts.events import AlertEvent
from dashboards.alerts.notifiers.retry import DeliveryError, RetryPolicy
from parsers.schema import format_utc_millis

_SUBJECT_SITES = 5


def compose(channel: EmailChannel, events: Sequence[AlertEvent]) -> EmailMessage:
    """The mail for a batch: counts and sites in the subject, one paragraph per alert in the body."""
    counts = Counter("repeated" if event.repeat else event.action for event in events)
    summary = ", ".join(
        f"{counts[kind]} {kind}" for kind in ("raised", "repeated", "resolved") if counts[kind]
    )
    sites = sorted({event.key.site for event in events})
    shown = ", ".join(sites[:_SUBJECT_SITES]) + (" ..." if len(sites) > _SUBJECT_SITES else "")
    message = EmailMessage()
    message["Subject"] = f"{channel.subject_prefix} {summary}: {shown}"
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    paragraphs = []
    for event in events:
        lines = [
            event.line(),
            f"  query: {event.query_title} ({event.key.query})",
            f"  site: {event.key.site}  host: {event.host or '-'}  attempt: {event.key.attempt}",
            f"  state: {event.state or '-'}  as of: {format_utc_millis(event.at)}",
        ]
        if event.error_code:
            lines.append(f"  error: {event.error_code} {event.hint or ''}".rstrip())
        paragraphs.append("\n".join(lines))
    message.set_content("\n\n".join(paragraphs) + "\n")
    return message


class EmailNotifier:
    def __init__(self, channel: EmailChannel) -> None:
        self.name = channel.name
        self.channel = channel
        self.retry = RetryPolicy(channel.attempts, channel.backoff_s, channel.max_backoff_s)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.channel.ca_file) if self.channel.ca_file else None)

    def send(self, events: Sequence[AlertEvent]) -> None:
        channel = self.channel
        message = compose(channel, events)
        where = f"SMTP {channel.host}:{channel.port}"
        try:
            with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
                if channel.starttls:
                    smtp.starttls(context=self._tls_context())
                if channel.username is not None:
                    smtp.login(channel.username, channel.password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{where} refused the login: {exc.smtp_code}", retryable=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc} (is starttls set right?)", retryable=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"{where} refused every recipient: {sorted(exc.recipients)}", retryable=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"{where} answered {exc.smtp_code} {exc.smtp_error!r}", retryable=400 <= exc.smtp_code < 500
            ) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"{where}: TLS failed: {exc}", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot deliver through {where}: {exc}", retryable=True) from None
        if refused:
            raise DeliveryError(f"{where} refused recipient(s) {sorted(refused)}", retryable=False)
