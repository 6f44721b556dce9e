"""The collector's configuration: one pydantic model, read from TOML, validated once at start.

Unknown keys are rejected and every size or duration carries its unit in its name, so a typo or
a wrong unit is caught at start instead of silently falling back to a default. Validation is
pure; `build_config` then reads the shared key and the users' passwords from their `_env` / `_file`
forms where those are set, and `load_config` does the file I/O (warning when the file holds secrets
others can read) and turns the first problem into one line naming the key.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parsers.secret_config import SecretSourceError, read_secret, warn_if_readable_by_others

DEFAULT_PORT = 24224


class Section(BaseModel):
    """Base of every config table: unknown keys are mistakes, not extensions."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_host_port(value: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """`HOST:PORT`, `HOST`, `[::1]:PORT` -> (host, port); raises ValueError with the expected form."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"{value!r} has no host; write HOST:PORT, e.g. 0.0.0.0:{DEFAULT_PORT}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{value!r} has no valid port; write HOST:PORT, e.g. 0.0.0.0:{DEFAULT_PORT}")
    return host, int(port_text)


class UserCredential(Section):
    username: str = Field(min_length=1, description="User name a sender gives in its PING")
    password: str | None = Field(None, min_length=1, description="That user's password")
    password_env: str | None = Field(
        None, min_length=1, description="Environment variable holding the password, instead of password"
    )
    password_file: Path | None = Field(None, description="File holding the password, instead of password")

    @model_validator(mode="after")
    def one_password_source(self) -> UserCredential:
        given = [name for name in _PASSWORD_SOURCES if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give user {self.username!r} exactly one of {', '.join(_PASSWORD_SOURCES)}")
        return self


_PASSWORD_SOURCES = ("password", "password_env", "password_file")


_KEY_SOURCES = ("shared_key", "shared_key_env", "shared_key_file")


class SecurityConfig(Section):
    """The Forward protocol's shared-key handshake (HELO / PING / PONG)."""

    shared_key: str | None = Field(None, min_length=1, description="Shared key; unset = no handshake")
    shared_key_env: str | None = Field(
        None, min_length=1, description="Environment variable holding the shared key, instead of shared_key"
    )
    shared_key_file: Path | None = Field(
        None, description="File holding the shared key (a Docker / systemd secret), instead of shared_key"
    )
    self_hostname: str = Field("bootwatch-collector", min_length=1, description="Our name in PONG")
    users: list[UserCredential] = Field(
        default_factory=list, description="If set, senders must also give one of these user/password pairs"
    )

    @model_validator(mode="after")
    def one_key_source(self) -> SecurityConfig:
        sources = [name for name in _KEY_SOURCES if getattr(self, name) is not None]
        if len(sources) > 1:
            raise ValueError(f"set only one of {', '.join(sources)}: they are three ways to give one key")
        if self.users and not sources:
            raise ValueError("users are checked during the shared-key handshake: set shared_key as well")
        return self


class TlsConfig(Section):
    cert_file: Path | None = Field(None, description="Server certificate (PEM); setting it turns TLS on")
    key_file: Path | None = Field(None, description="Private key of cert_file (PEM)")
    client_ca_file: Path | None = Field(
        None, description="CA bundle (PEM); if set, senders must present a certificate it signed"
    )
    handshake_timeout_s: float = Field(
        10.0, gt=0, description="Time a sender gets to finish the TLS handshake"
    )

    @model_validator(mode="after")
    def key_with_cert(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file, or neither")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs TLS: set cert_file and key_file too")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class LimitsConfig(Section):
    max_frame_mb: float = Field(16.0, gt=0, description="Largest Forward frame accepted, as sent (MB)")
    max_decompressed_mb: float = Field(
        128.0, gt=0, description="Largest gzip payload accepted once decompressed (MB)"
    )
    max_connections: int = Field(
        4096, ge=1, description="Connections held at once; more are closed at accept"
    )
    idle_timeout_s: float = Field(300.0, gt=0, description="A connection silent this long is closed")
    handshake_timeout_s: float = Field(10.0, gt=0, description="Time a sender gets to answer HELO with PING")


class SpoolConfig(Section):
    max_mb: float = Field(
        1024.0, gt=0, description="Spooled bytes not yet indexed; past it frames are refused"
    )
    retain_mb: float = Field(
        256.0, ge=0, description="Indexed bytes kept to rebuild the embedded engine at start (oldest pruned)"
    )
    fsync: bool = Field(True, description="fsync every commit (power-loss safe); false = process-crash safe")
    retry_window_frames: int = Field(
        200_000,
        ge=1,
        description="Recent acked frames of line-per-record senders recognised when re-sent after a lost ack",
    )


class PipelineConfig(Section):
    # A store pays far more per bulk request than per document (the embedded engine also makes each
    # request searchable): 5,000 kept up with plain `helpers.bulk` in bench/pipeline_throughput.py,
    # 1,000 did not.
    batch_records: int = Field(5000, ge=1, description="Records read from the spool per indexing batch")
    store_interval_s: float = Field(
        1.0,
        ge=0,
        description="Least time between two store writes unless a batch is full (fewer, larger bulks)",
    )
    reframe_flush_s: float = Field(
        1.0, gt=0, description="Idle streams release held records (partial multi-line, look-ahead) after this"
    )
    lookahead_max_s: float = Field(
        0.5, gt=0, description="Longest a busy stream's parser may hold records back (zone look-ahead)"
    )
    retry_max_s: float = Field(30.0, gt=0, description="Longest wait between retries while the store is down")
    site_sweep_s: float = Field(
        60.0, gt=0, description="Period of re-judging open install attempts (stalled / dark) while idle"
    )
    rules_file: Path | None = Field(None, description="Lifecycle rules (TOML); unset = the built-in rules")


class ObservabilityConfig(Section):
    stats_interval_s: float = Field(60.0, gt=0, description="Period of the one-line stats log")
    metrics_listen: str | None = Field(
        "127.0.0.1:9464", description="Loopback HOST:PORT serving Prometheus /metrics; unset = off"
    )

    @field_validator("metrics_listen")
    @classmethod
    def loopback_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _port = parse_host_port(value, default_port=9464)
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"{value!r} is not a loopback address; use 127.0.0.1:PORT (metrics are not public)"
            )
        return value


def default_state_dir() -> Path:
    """Per-user data folder: $XDG_DATA_HOME/bootwatch/collector, or %LOCALAPPDATA% on Windows."""
    base = os.environ.get("XDG_DATA_HOME") or os.environ.get("LOCALAPPDATA")
    root = Path(base) if base else Path.home() / ".local" / "share"
    return root / "bootwatch" / "collector"


class CollectorConfig(Section):
    listen: str = Field(f"127.0.0.1:{DEFAULT_PORT}", description="HOST:PORT the Forward server listens on")
    state_dir: Path = Field(default_factory=default_state_dir, description="Folder of the spool database")
    es_url: str | None = Field(None, description="Elasticsearch URL; unset = the embedded engine")
    store: dict[str, Any] = Field(
        default_factory=dict,
        description="The store's [store] table (es_url, api_key, username, password, ca_certs, ...), "
        "checked by the store; flags and BOOTWATCH_ES_* variables win over it",
    )
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)

    @field_validator("listen")
    @classmethod
    def valid_listen(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_host_port(self.listen)


class ConfigError(ValueError):
    """A config problem, already phrased as one line naming the key and the fix."""


def describe_validation_error(error: ValidationError, source: str) -> str:
    """The first problem of a pydantic error as one line: `<source>: key 'a.b': what is wrong`."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'; remove it or fix its spelling (see deploy/collector.toml)"
    message = first["msg"].removeprefix("Value error, ")
    return f"{source}: key '{key}': {message}"


def build_config(data: dict[str, Any], overrides: dict[str, Any], source: str) -> CollectorConfig:
    """Validate file contents plus command-line overrides (which win) into a config, shared key resolved."""
    merged = {**data, **{key: value for key, value in overrides.items() if value is not None}}
    try:
        config = CollectorConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None
    return _with_secrets(config, source)


def _with_secrets(config: CollectorConfig, source: str) -> CollectorConfig:
    """The config with security.shared_key and the users' passwords read from their `_env` / `_file`
    forms, where those are set."""
    security = config.security
    try:
        key = read_secret("security.shared_key", security.shared_key_env, security.shared_key_file)
        users = [
            user if user.password is not None else user.model_copy(update={"password": read_secret(
                f"security.users[{index}].password", user.password_env, user.password_file)})
            for index, user in enumerate(security.users)
        ]
    except SecretSourceError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    update: dict[str, Any] = {"users": users}
    if key is not None:
        update["shared_key"] = key
    return config.model_copy(update={"security": security.model_copy(update=update)})


def load_config(path: Path | None, overrides: dict[str, Any]) -> CollectorConfig:
    """Read the TOML file (if any) and validate it with the overrides; errors are `ConfigError`."""
    data: dict[str, Any] = {}
    source = "command line"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file; check the --config path") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax at that spot") from None
        warn_if_readable_by_others(path, data)
    return build_config(data, overrides, source)
