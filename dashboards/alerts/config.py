"""Alert runner configuration (TOML), declared once as pydantic models: unknown keys are rejected.

```toml
queries = ["silent-install-failures", "sites-gone-dark"]   # optional: default = queries with default_on

[[channel]]
type = "log"          # one line per alert on stderr (or stdout)
name = "console"

[[channel]]
type = "webhook"      # JSON POST, retried on connection errors, 429 and 5xx
name = "ops-webhook"
url = "https://hooks.example.net/bootwatch"
header_env = { Authorization = "BOOTWATCH_WEBHOOK_AUTH" }   # header values from the environment

[[channel]]
type = "email"        # SMTP; starttls = true upgrades the connection before logging in
name = "ops-mail"
host = "smtp.example.net"
port = 587
starttls = true
username = "bootwatch"
password_env = "BOOTWATCH_SMTP_PASSWORD"   # or password_file = "/etc/bootwatch/smtp-password"
sender = "bootwatch@example.net"
to = ["sms-admins@example.net"]
```

With no config file the runner uses one `log` channel. Every alert is also written to `bootwatch-alerts`
(not a channel you can remove: those documents are the runner's state and Kibana's alert history).
A bad file is reported as one line naming the key and the fix (`load_alert_config`); a file holding a
password or an authorization header that others can read is warned about (`chmod 600` it). Secrets can
stay out of the file: `password_env` / `password_file` for the SMTP password, `header_env` for header
values (a compose `.env`, a systemd `EnvironmentFile`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parsers.secret_config import SecretSourceError, read_secret, warn_if_readable_by_others

CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class AlertConfigError(ValueError):
    """The alert config file is unreadable or invalid; the message names the key and the fix."""


class RetrySettings(BaseModel):
    """How a channel retries a failed delivery within one run."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(3, ge=1, le=10, description="Tries per delivery, the first one included")
    backoff_s: float = Field(1.0, ge=0, le=60, description="Wait before the 2nd try; doubles after each")
    max_backoff_s: float = Field(30.0, ge=0, le=600, description="Cap of the wait between tries")


class LogChannel(RetrySettings):
    """Writes one line per alert to a standard stream."""

    type: Literal["log"]
    name: str = Field("log", pattern=CHANNEL_NAME_PATTERN, description="Name shown in reports and alert docs")
    stream: Literal["stderr", "stdout"] = Field("stderr", description="Where the lines go")


class WebhookChannel(RetrySettings):
    """POSTs `{"source": "bootwatch", "alerts": [...]}` as JSON to a URL."""

    type: Literal["webhook"]
    name: str = Field(pattern=CHANNEL_NAME_PATTERN, description="Name shown in reports and alert docs")
    url: str = Field(pattern=r"^https?://", description="http(s) URL the alerts are POSTed to")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers, e.g. a token")
    header_env: dict[str, str] = Field(
        default_factory=dict,
        description="Headers whose values come from environment variables: header name -> variable name",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="Per-request timeout in seconds")
    ca_file: Path | None = Field(None, description="CA bundle (PEM) for an https URL with a private CA")


class EmailChannel(RetrySettings):
    """Sends one plain-text mail per run listing the alerts raised and resolved."""

    type: Literal["email"]
    name: str = Field(pattern=CHANNEL_NAME_PATTERN, description="Name shown in reports and alert docs")
    host: str = Field(min_length=1, description="SMTP server host")
    port: int = Field(25, ge=1, le=65535, description="SMTP server port (587 with starttls, usually)")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS before anything else")
    ca_file: Path | None = Field(None, description="CA bundle (PEM) that signed the server's certificate")
    username: str | None = Field(None, description="SMTP login user (needs password)")
    password: str | None = Field(None, description="SMTP login password")
    password_env: str | None = Field(None, min_length=1, description="Environment variable with the password")
    password_file: Path | None = Field(None, description="File holding the password (chmod 600)")
    sender: str = Field(min_length=3, description="From address")
    to: list[str] = Field(min_length=1, description="Recipient addresses")
    subject_prefix: str = Field("[bootwatch]", description="Start of every subject line")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Connection and command timeout in seconds")

    @model_validator(mode="after")
    def _login_pair(self) -> EmailChannel:
        sources = (self.password, self.password_env, self.password_file)
        given = [source for source in sources if source is not None]
        if len(given) > 1:
            raise ValueError("give the password one way only: password, password_env or password_file")
        if (self.username is None) != (not given):
            raise ValueError("username and password go together: give both or neither")
        return self


Channel = Annotated[LogChannel | WebhookChannel | EmailChannel, Field(discriminator="type")]


class AlertConfig(BaseModel):
    """The whole alert config file."""

    model_config = ConfigDict(extra="forbid")

    queries: list[str] | None = Field(
        None, description="Alerting query ids to run; default: every alerting query with default_on"
    )
    channel: list[Channel] = Field(
        default_factory=lambda: [LogChannel(type="log")], description="Notification channels, in order"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> AlertConfig:
        names = [channel.name for channel in self.channel]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"channel names must be unique; rename the duplicates: {', '.join(duplicates)}")
        return self


def _where(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        elif part in ("log", "webhook", "email") and parts and parts[-1].endswith("]"):
            continue  # the discriminator's branch name, not a key the user wrote
        else:
            parts.append(part)
    return ".".join(parts) or "(top level)"


def _fix(error_type: str, message: str) -> str:
    if error_type == "extra_forbidden":
        return "unknown key: remove it or fix its spelling"
    if error_type == "missing":
        return "required key is missing: add it"
    if error_type == "union_tag_invalid":
        return "type must be one of log, webhook, email"
    if error_type == "union_tag_not_found":
        return 'every [[channel]] needs type = "log", "webhook" or "email"'
    return message


def parse_alert_config(document: dict, source: str) -> AlertConfig:
    """Validate a parsed TOML document; the first problem becomes one `AlertConfigError` line."""
    try:
        return AlertConfig.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AlertConfigError(
            f"alert config {source}: {_where(tuple(first['loc']))}: {_fix(first['type'], first['msg'])}"
        ) from None


def load_alert_config(path: Path | None) -> AlertConfig:
    """The config in `path`; with no path, the default (one log channel)."""
    if path is None:
        return AlertConfig()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AlertConfigError(f"cannot read alert config {path}: {exc.strerror}; fix --config") from None
    except tomllib.TOMLDecodeError as exc:
        raise AlertConfigError(f"alert config {path} is not valid TOML: {exc}") from None
    warn_if_readable_by_others(path, document)
    return _with_secrets(parse_alert_config(document, str(path)), str(path))


def _with_secrets(config: AlertConfig, source: str) -> AlertConfig:
    """The config with `password_env` / `password_file` and `header_env` read into the channels."""
    channels: list[LogChannel | WebhookChannel | EmailChannel] = []
    for index, channel in enumerate(config.channel):
        try:
            if isinstance(channel, EmailChannel) and (channel.password_env or channel.password_file):
                password = read_secret(f"channel[{index}].password", channel.password_env,
                                       channel.password_file)
                channel = channel.model_copy(update={"password": password, "password_env": None,
                                                     "password_file": None})
            elif isinstance(channel, WebhookChannel) and channel.header_env:
                headers = dict(channel.headers)
                for header, variable in channel.header_env.items():
                    headers[header] = os.environ.get(variable, "")
                    if not headers[header]:
                        raise AlertConfigError(
                            f"alert config {source}: channel[{index}].header_env: the environment variable "
                            f"{variable} for header {header} is not set or empty: set it"
                        )
                channel = channel.model_copy(update={"headers": headers, "header_env": {}})
        except SecretSourceError as exc:
            raise AlertConfigError(f"alert config {source}: {exc}") from None
        channels.append(channel)
    return config.model_copy(update={"channel": channels})
