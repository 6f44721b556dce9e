"""Shipper config (`shippers/config.py`): defaults, and one clear message per mistake naming the key."""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from shipper_harness import ForwardReceiver, wait_until

from shippers.cli import configure_logging
from shippers.config import AuthConfig, ConfigError, ShipperConfig, TlsConfig, load_config, parse_config

MINIMAL = 'site = "S02"\ncollectors = ["central1:24224", "central2:24224"]\n'


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.site == "S02"
    assert [str(c) for c in config.collector_addresses] == ["central1:24224", "central2:24224"]
    assert config.heartbeat_s == 30.0 and config.queue_max_mb == 256.0
    assert config.host and config.timezone
    assert "C:/Sms_bootstrap.log" not in config.paths  # globs, not names
    assert "C:/*bootstrap*.log" in config.paths and "C:/ConfigMgrPrereq.log" in config.paths
    assert "D:/SMS/Logs/Smssetup.log" in config.paths
    assert not config.tls.enabled and not config.auth.shared_key


def test_issue_example_config_is_accepted() -> None:
    config = parse_config('site = "S02"\nhost = "SECSRV01"\n'
                          'collectors = ["central1:24224", "central2:24224"]\n'
                          'paths = ["C:/Sms_bootstrap.log", "C:/ConfigMgrSetup.log"]\n'
                          'state_dir = "C:/ProgramData/bootwatch"\ntimezone = "Pacific Standard Time"\n'
                          'heartbeat_s = 30\n')
    assert config.host == "SECSRV01" and config.timezone == "Pacific Standard Time"
    assert config.heartbeat_s == 30.0 and isinstance(config.heartbeat_s, float)


def test_example_config_in_deploy_is_valid_and_shows_every_key() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "shipper.example.toml"
    config = load_config(example)
    assert config.site == "S02"
    table = tomllib.loads(example.read_text(encoding="utf-8"))
    for section, cls in (("", ShipperConfig), ("tls", TlsConfig), ("auth", AuthConfig)):
        shown = table[section] if section else table
        assert {f.name for f in dataclasses.fields(cls)} <= set(shown), f"a key missing from [{section}]"


@pytest.mark.parametrize(("text", "message"), [
    ('collectors = ["a:1"]', "missing key site: add it"),
    ('site = "S02"', "missing key collectors"),
    (MINIMAL + "heartbeat = 30\n", "unknown key heartbeat: remove it or fix its spelling"),
    (MINIMAL + 'heartbeat_s = "30"\n', "heartbeat_s must be a number"),
    (MINIMAL + "paths = \"C:/x.log\"\n", "paths must be a list of strings"),
    ('site = "S02"\ncollectors = ["central1"]\n', "collectors: 'central1' is not \"host:port\""),
    (MINIMAL + "[tls]\nenable = true\n", "unknown key tls.enable"),
    (MINIMAL + "[tls]\nenabled = 1\n", "tls.enabled must be true or false"),
    (MINIMAL + "[auth]\nusername = \"u\"\n", "auth.username needs auth.shared_key"),
    (MINIMAL + "tls = 1\n", "tls must be a table"),
    (MINIMAL + "poll_interval_s = 0\n", "poll_interval_s must be greater than 0"),
    (MINIMAL + 'log_level = "loud"\n', "log_level must be one of"),
    ("site = ", "is not valid TOML"),
])
def test_config_mistake_is_one_message_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_config_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_log_forward_sends_the_shippers_own_log_lines_through_fluent_logger(
        receivers: Callable[..., ForwardReceiver]) -> None:
    receiver = receivers()
    config = parse_config(MINIMAL + f'log_forward = "{receiver.address}"\nlog_level = "warning"\n')
    logger = logging.getLogger("bootwatch.shipper")
    before = list(logger.handlers)
    configure_logging(config)
    try:
        logger.warning("the on-disk queue is full")
        wait_until(lambda: bool(receiver.messages), what="the forwarded log line")
    finally:
        for handler in set(logger.handlers) - set(before):
            logger.removeHandler(handler)
            handler.close()
    tag, record = receiver.messages[0]
    assert tag == "bootwatch-shipper.S02"
    assert record["message"] == "the on-disk queue is full" and record["level"] == "WARNING"


def _write(tmp_path: Path, text: str, mode: int, name: str = "shipper.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _secret_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.message for record in caplog.records if "holds secrets" in record.message]


def test_a_world_readable_config_holding_the_shared_key_is_warned_about_and_still_loads(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, MINIMAL + '[auth]\nshared_key = "k"\nusername = "u"\npassword = "p"\n', 0o644)
    with caplog.at_level(logging.WARNING, logger="bootwatch.shipper"):
        config = load_config(path)
    assert config.auth.shared_key == "k"
    (warning,) = _secret_warnings(caplog)
    assert "(auth.shared_key, auth.password)" in warning and "readable by everyone" in warning
    assert f"chmod 600 {path}" in warning


def test_a_private_config_or_one_without_secrets_is_not_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    private = _write(tmp_path, MINIMAL + '[auth]\nshared_key = "k"\n', 0o600, "private.toml")
    public = _write(tmp_path, MINIMAL + '[auth]\nshared_key = ""\n', 0o644, "public.toml")
    with caplog.at_level(logging.WARNING, logger="bootwatch.shipper"):
        load_config(private)
        load_config(public)
    assert _secret_warnings(caplog) == []


def test_the_shared_key_comes_from_an_environment_variable_or_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TEST_SHIPPER_KEY", "from-env")
    from_env = _write(tmp_path, MINIMAL + '[auth]\nshared_key_env = "TEST_SHIPPER_KEY"\n', 0o644)
    key_file = _write(tmp_path, "from-a-file\r\n", 0o600, "shared_key.txt")
    from_file = _write(tmp_path, MINIMAL + f'[auth]\nshared_key_file = "{key_file.as_posix()}"\n', 0o644,
                       "file.toml")
    with caplog.at_level(logging.WARNING, logger="bootwatch.shipper"):
        assert load_config(from_env).auth.shared_key == "from-env"
        assert load_config(from_file).auth.shared_key == "from-a-file"
    assert _secret_warnings(caplog) == []  # the files name where the key is; they hold none


def test_the_password_comes_from_an_environment_variable_or_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SHIPPER_PASSWORD", "from-env")
    password_file = _write(tmp_path, "from-a-file\n", 0o600, "password.txt")
    auth = '[auth]\nshared_key = "k"\nusername = "u"\n'
    from_env = parse_config(MINIMAL + auth + 'password_env = "TEST_SHIPPER_PASSWORD"\n')
    from_file = parse_config(MINIMAL + auth + f'password_file = "{password_file.as_posix()}"\n')
    assert (from_env.auth.password, from_file.auth.password) == ("from-env", "from-a-file")


@pytest.mark.parametrize(("auth", "message"), [
    ('shared_key_env = "TEST_UNSET_SHIPPER_KEY"',
     "auth.shared_key_env names the environment variable TEST_UNSET_SHIPPER_KEY, which is not set or empty"),
    ('shared_key_file = "/nonexistent/shared_key.txt"', "auth.shared_key_file: cannot read"),
    ('shared_key = "k"\nshared_key_file = "k.txt"', "set only one of auth.shared_key, auth.shared_key_file"),
    ('shared_key = "k"\nusername = "u"\npassword_env = "TEST_UNSET_SHIPPER_KEY"',
     "auth.password_env names the environment variable TEST_UNSET_SHIPPER_KEY, which is not set or empty"),
    ('shared_key = "k"\nusername = "u"\npassword = "p"\npassword_file = "p.txt"',
     "set only one of auth.password, auth.password_file"),
])
def test_a_shared_key_source_that_gives_no_key_is_one_message_naming_the_key(
        monkeypatch: pytest.MonkeyPatch, auth: str, message: str) -> None:
    monkeypatch.delenv("TEST_UNSET_SHIPPER_KEY", raising=False)
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL + f"[auth]\n{auth}\n")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
