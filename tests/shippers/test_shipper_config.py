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
