"""The shipper's configuration: one TOML file -> frozen dataclasses, validated once at start.

Every key is declared once, with its type, default and description (`deploy/shipper.example.toml`
explains them for people). A missing required key, an unknown key or a value of the wrong type
raises `ConfigError` with one line naming the key and the fix; `bootwatch ship` turns it into
exit code 2.

The shared key and the password can come from the environment (`auth.shared_key_env`,
`auth.password_env`) or a file (`auth.shared_key_file`, `auth.password_file`) instead of the TOML
file, the same keys as the collector's `[security]`. A config file that holds a
secret and is readable by its group or everyone is warned about (POSIX; on Windows the ACL decides),
with the fix; the shipper still starts. This mirrors `parsers/secret_config.py`, which the shipper
cannot import.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from shippers.secrets import secret_from_source, warn_if_exposed

log = logging.getLogger("bootwatch.shipper")


class ConfigError(Exception):
    """A mistake in the config file: the message names the key and how to fix it."""


def _default_host() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


def _default_state_dir() -> str:
    if sys.platform == "win32":
        return str(Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "bootwatch")
    return "/var/lib/bootwatch"


def system_timezone() -> str:
    """This machine's zone: TZ, else the IANA name behind /etc/localtime, else (Windows) its zone name."""
    if os.environ.get("TZ"):
        return os.environ["TZ"].lstrip(":")
    if sys.platform == "win32":
        import time
        # Windows reports its own zone names ("Pacific Standard Time"), which the collector maps.
        return time.tzname[0] or "UTC"
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return "UTC"
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"


# Where SMS 2.0 / 2003 and ConfigMgr put their bootstrap and setup logs (LOG_FORMATS.md section 6).
_LOG_NAMES = ("*bootstrap*.log", "Smssetup.log", "ConfigMgrSetup.log", "ConfigMgrPrereq.log")
_LOG_FOLDERS = ("{drive}:/", "{drive}:/SMS/Logs/",
                "{drive}:/Program Files/Microsoft Configuration Manager/Logs/",
                "{drive}:/Program Files/SMS_CCM/Logs/")


def default_paths() -> list[str]:
    """Globs for the bootstrap and setup logs at drive roots C..F and in the SMS / ConfigMgr Logs folders."""
    return [folder.format(drive=drive) + name
            for drive in "CDEF" for folder in _LOG_FOLDERS for name in _LOG_NAMES]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class TlsConfig:
    """`[tls]`: TLS to the collectors, verifying their certificate against a CA."""

    enabled: bool = field(default=False, metadata=_help("Connect with TLS"))
    ca_file: str = field(default="", metadata=_help(
        "PEM file of the CA that signed the collectors' certificates (empty: the system's trusted CAs)"))
    verify_hostname: bool = field(default=True, metadata=_help(
        "Check that the certificate names the collector's host"))
    cert_file: str = field(default="", metadata=_help("Client certificate (PEM), when the collector asks"))
    key_file: str = field(default="", metadata=_help("Private key (PEM) of cert_file"))


@dataclass(frozen=True)
class AuthConfig:
    """`[auth]`: the Forward protocol's shared-key handshake (HELO / PING / PONG)."""

    shared_key: str = field(default="", metadata=_help(
        "Shared key configured on the collectors (empty: no handshake)"))
    shared_key_env: str = field(default="", metadata=_help(
        "Environment variable holding the shared key, instead of shared_key"))
    shared_key_file: str = field(default="", metadata=_help(
        "File holding the shared key, instead of shared_key"))
    username: str = field(default="", metadata=_help("User name, when the collector checks users"))
    password: str = field(default="", metadata=_help("Password of username"))
    password_env: str = field(default="", metadata=_help(
        "Environment variable holding the password, instead of password"))
    password_file: str = field(default="", metadata=_help("File holding the password, instead of password"))


@dataclass(frozen=True)
class Collector:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ShipperConfig:
    """The whole shipper configuration (top-level keys, then the [tls] and [auth] tables)."""

    site: str = field(metadata=_help("SMS site code of this secondary, e.g. \"S02\""))
    collectors: list[str] = field(metadata=_help(
        "Collector addresses \"host:port\", tried in order with failover"))
    host: str = field(default_factory=_default_host, metadata=_help(
        "Name of this machine as reported in records"))
    paths: list[str] = field(default_factory=default_paths, metadata=_help(
        "Log files or globs to follow; X.lo_ beside each X.log is followed too"))
    state_dir: str = field(default_factory=_default_state_dir, metadata=_help(
        "Folder for checkpoints and the on-disk queue"))
    timezone: str = field(default_factory=system_timezone, metadata=_help(
        "Host zone, IANA or Windows name, for records that carry none"))
    heartbeat_s: float = field(default=30.0, metadata=_help("Seconds between heartbeats"))
    poll_interval_s: float = field(default=1.0, metadata=_help("Seconds between polls of the followed files"))
    rescan_s: float = field(default=10.0, metadata=_help(
        "Seconds between expansions of the path globs (finds new files)"))
    flush_after_s: float = field(default=5.0, metadata=_help(
        "Seconds a partial last record waits for its end before it is sent as it is"))
    batch_max_mb: float = field(default=1.0, metadata=_help(
        "Largest batch of records sent as one acknowledged chunk (MB)"))
    queue_max_mb: float = field(default=256.0, metadata=_help(
        "Largest on-disk queue while no collector answers (MB); when full, reading pauses"))
    memory_queue_mb: float = field(default=8.0, metadata=_help(
        "Batches held in memory before they spill to the on-disk queue (MB)"))
    connect_timeout_s: float = field(default=10.0, metadata=_help("Seconds to wait for a TCP/TLS connection"))
    ack_timeout_s: float = field(default=30.0, metadata=_help(
        "Seconds to wait for a chunk's ack before resending it"))
    backoff_initial_s: float = field(default=1.0, metadata=_help(
        "First retry delay once every collector failed"))
    backoff_max_s: float = field(default=60.0, metadata=_help(
        "Longest retry delay (it doubles per failed round, with jitter)"))
    log_file: str = field(default="", metadata=_help("The shipper's own log file (empty: standard error)"))
    log_level: str = field(default="info", metadata=_help("debug, info, warning or error"))
    log_forward: str = field(default="", metadata=_help(
        "\"host:port\" of a Fluentd / Fluent Bit receiving the shipper's own log lines (empty: off)"))
    tls: TlsConfig = field(default_factory=TlsConfig, metadata=_help("TLS settings"))
    auth: AuthConfig = field(default_factory=AuthConfig, metadata=_help("Shared-key handshake"))

    @property
    def collector_addresses(self) -> list[Collector]:
        return [_parse_address(text, "collectors") for text in self.collectors]

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)


_LOG_LEVELS = ("debug", "info", "warning", "error")


def _parse_address(text: str, key: str) -> Collector:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}: {text!r} is not \"host:port\": write e.g. \"central1:24224\"")
    return Collector(host.strip("[]"), int(port))


_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _check_value(key: str, value: Any, wanted: Any) -> Any:
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if wanted in _TYPE_WORDS:
        if isinstance(value, wanted) and not (wanted is not bool and isinstance(value, bool)):
            return value
        raise ConfigError(f"{key} must be {_TYPE_WORDS[wanted]}, not {type(value).__name__} {value!r}: "
                          f"fix its value")
    if wanted == list[str]:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        raise ConfigError(f"{key} must be a list of strings, e.g. {key} = [\"a\", \"b\"]: fix its value")
    raise TypeError(f"no check for {wanted!r}")


def _build(cls: type, table: dict[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key {prefix}{key}: remove it or fix its spelling "
                              f"(known keys: {known})")
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        key = prefix + name
        if name not in table:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing key {key}: add it ({spec.metadata['help']})")
            continue
        value = table[name]
        if dataclasses.is_dataclass(hints[name]):
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table: write it as [{key}] with its keys below")
            values[name] = _build(hints[name], value, f"{key}.")
        else:
            values[name] = _check_value(key, value, hints[name])
    return cls(**values)


def _validate(config: ShipperConfig) -> None:
    if not config.site.strip():
        raise ConfigError("site must not be empty: set it to this secondary's site code, e.g. site = \"S02\"")
    if not config.collectors:
        raise ConfigError("collectors must list at least one \"host:port\"")
    config.collector_addresses  # noqa: B018 - parses every address, raising on the first bad one
    if not config.paths:
        raise ConfigError("paths must list at least one file or glob (or leave it out for the defaults)")
    for key in ("heartbeat_s", "poll_interval_s", "rescan_s", "flush_after_s", "batch_max_mb",
                "queue_max_mb", "memory_queue_mb", "connect_timeout_s", "ack_timeout_s", "backoff_initial_s",
                "backoff_max_s"):
        if getattr(config, key) <= 0:
            raise ConfigError(f"{key} must be greater than 0: fix its value")
    if config.log_level not in _LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, not {config.log_level!r}")
    if config.log_forward:
        _parse_address(config.log_forward, "log_forward")
    if config.tls.ca_file and not Path(config.tls.ca_file).is_file():
        raise ConfigError(f"tls.ca_file: no file {config.tls.ca_file!r}: give the path of the CA's PEM file")
    if bool(config.tls.cert_file) != bool(config.tls.key_file):
        raise ConfigError("tls.cert_file and tls.key_file go together: set both or neither")
    key_sources = [f"auth.{name}" for name in ("shared_key", "shared_key_env", "shared_key_file")
                   if getattr(config.auth, name)]
    if len(key_sources) > 1:
        raise ConfigError(f"set only one of {', '.join(key_sources)}: they are three ways to give one key")
    if config.auth.username and not key_sources:
        raise ConfigError("auth.username needs auth.shared_key: set the collector's shared key too")
    password_sources = [f"auth.{name}" for name in ("password", "password_env", "password_file")
                        if getattr(config.auth, name)]
    if len(password_sources) > 1:
        raise ConfigError(f"set only one of {', '.join(password_sources)}: they are three ways to give "
                          f"one password")


def _read_secret(key: str, value: str, env_name: str, file_path: str) -> str:
    """The secret `auth.<key>_env` or `auth.<key>_file` gives, else `value` (`auth.<key>`) itself."""
    secret = secret_from_source(f"auth.{key}", key, env_name or None, Path(file_path) if file_path else None,
                                error=ConfigError, runs_as="the shipper", log=log)
    return value if secret is None else secret


_SECRET_KEYS = ("shared_key", "password")


def secret_keys(table: dict[str, Any]) -> list[str]:
    """Dotted names of the keys of a parsed config that hold a non-empty secret."""
    auth = table.get("auth")
    if not isinstance(auth, dict):
        return []
    return [f"auth.{key}" for key in _SECRET_KEYS if auth.get(key)]


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML ({exc}): fix the syntax there") from None


def parse_config(text: str, source: str = "config") -> ShipperConfig:
    """Validate TOML text into a ShipperConfig, secrets resolved; ConfigError names the offending key."""
    return _config_from_table(_parse_toml(text, source))


def _config_from_table(table: dict[str, Any]) -> ShipperConfig:
    config: ShipperConfig = _build(ShipperConfig, table, "")
    _validate(config)
    auth = config.auth
    shared_key = _read_secret("shared_key", auth.shared_key, auth.shared_key_env, auth.shared_key_file)
    password = _read_secret("password", auth.password, auth.password_env, auth.password_file)
    resolved = dataclasses.replace(auth, shared_key=shared_key, password=password)
    return dataclasses.replace(config, auth=resolved)


def load_config(path: str | os.PathLike[str]) -> ShipperConfig:
    """Read and validate a config file; ConfigError when it is missing or wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {os.fspath(path)!r} ({exc.strerror}): "
                          f"give the path of a TOML file (see deploy/shipper.example.toml)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {os.fspath(path)!r} is not UTF-8 text: save it as UTF-8") from None
    table = _parse_toml(text, os.fspath(path))
    config = _config_from_table(table)
    warn_if_exposed(Path(path), secret_keys(table), runs_as="the shipper", log=log)
    return config
