"""Every config in `deploy/` goes through the loader the code itself uses, so none drifts from the code.

TOML files are claimed by name (collector, alerts, store, shipper) and loaded with the real loaders;
the compose file is checked for its structure (services, volumes, variables from `.env.example`);
the systemd units' command lines are parsed by the real command parsers; the Fluent Bit and Fluentd
configs are checked for the keys the collector relies on, and their records are classified by the
collector's own record functions.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import importlib
import re
import shlex
import subprocess
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from dashboards.alerts.config import AlertConfig, EmailChannel, LogChannel, WebhookChannel, load_alert_config
from dashboards.queries import bundled_queries
from parsers.collector.config import CollectorConfig
from parsers.collector.config import load_config as load_collector_config
from parsers.collector.records import line_stream, site_of
from parsers.secret_config import secret_keys
from parsers.store.connect import StoreSettings, load_config_table
from shippers.config import ShipperConfig
from shippers.config import load_config as load_shipper_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COLLECTOR_CONFIGS = ("collector.toml", "compose/collector.toml")
ALERT_CONFIGS = ("alerts.toml", "compose/alerts.toml")
STORE_CONFIGS = ("store.toml",)
BOOTWATCH_SERVICES = ("setup", "collector", "alerts")


def _relative(path: Path) -> str:
    return path.relative_to(DEPLOY).as_posix()


def _is_shipper_config(name: str) -> bool:
    return Path(name).name.startswith("shipper") or name.startswith("windows/")


def test_every_toml_file_in_deploy_is_checked_by_a_loader() -> None:
    claimed = {*COLLECTOR_CONFIGS, *ALERT_CONFIGS, *STORE_CONFIGS}
    unclaimed = [
        name
        for name in (_relative(path) for path in DEPLOY.rglob("*.toml"))
        if name not in claimed and not _is_shipper_config(name)
    ]
    assert unclaimed == []


SHARED_KEY_ENV = "BOOTWATCH_SHARED_KEY"


@pytest.fixture(autouse=True)
def secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What deploy/.env gives the services, which read their secrets from the environment."""
    monkeypatch.setenv(SHARED_KEY_ENV, "a-key-from-the-env-file")
    monkeypatch.setenv("BOOTWATCH_WEBHOOK_AUTH", "Bearer a-token-from-the-env-file")
    monkeypatch.setenv("BOOTWATCH_SMTP_PASSWORD", "a-password-from-the-env-file")


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_collector_configs_load_with_the_collectors_loader(name: str) -> None:
    config = load_collector_config(DEPLOY / name, {})
    assert config.listen_address[1] == 24224
    if config.store:
        StoreSettings.model_validate(config.store)


def test_the_compose_collector_listens_on_every_interface_and_spools_on_its_volume() -> None:
    config = load_collector_config(DEPLOY / "compose/collector.toml", {})
    compose = _compose()
    assert config.listen_address == ("0.0.0.0", 24224)
    spool_mount = next(
        volume for volume in compose["services"]["collector"]["volumes"] if volume.startswith("spool:")
    )
    assert spool_mount.split(":")[1] == str(config.state_dir)


@pytest.mark.parametrize("name", ALERT_CONFIGS)
def test_alert_configs_load_and_name_existing_alerting_queries(name: str) -> None:
    config = load_alert_config(DEPLOY / name)
    alerting = {query.id for query in bundled_queries() if query.alert is not None}
    assert config.queries
    assert set(config.queries) <= alerting


def test_the_example_alert_config_shows_every_channel_type() -> None:
    config = load_alert_config(DEPLOY / "alerts.toml")
    assert {channel.type for channel in config.channel} == {"log", "webhook", "email"}


@pytest.mark.parametrize("name", STORE_CONFIGS)
def test_store_configs_load_with_the_store_settings(name: str) -> None:
    settings = StoreSettings.model_validate(load_config_table(DEPLOY / name))
    assert settings.es_url is not None and settings.es_url.startswith("https://")


def test_shipper_configs_load_with_the_shippers_loader() -> None:
    names = [_relative(path) for path in DEPLOY.rglob("*.toml") if _is_shipper_config(_relative(path))]
    assert "shipper.example.toml" in names
    for name in names:
        config = load_shipper_config(DEPLOY / name)
        assert config.collectors


def _model_keys(model: type[BaseModel]) -> set[str]:
    """Every key a pydantic config model accepts, nested tables included."""
    keys = set()
    for name, info in model.model_fields.items():
        keys.add(name)
        for candidate in typing.get_args(info.annotation) or (info.annotation,):
            for inner in typing.get_args(candidate) or (candidate,):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    keys |= _model_keys(inner)
    return keys


def _dataclass_keys(cls: type) -> set[str]:
    keys = set()
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        keys.add(spec.name)
        if dataclasses.is_dataclass(hints[spec.name]):
            keys |= _dataclass_keys(hints[spec.name])
    return keys


def _mentioned_keys(name: str) -> set[str]:
    """Keys written in a TOML file, set or commented out: `key =`, and tables as `[key]` / `[[key]]`."""
    text = (DEPLOY / name).read_text(encoding="utf-8")
    return set(re.findall(r"([A-Za-z_]\w*)\s*=", text)) | set(re.findall(r"\[\[?([A-Za-z_]\w*)\]\]?", text))


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("collector.toml", lambda: _model_keys(CollectorConfig) | _model_keys(StoreSettings)),
        (
            "alerts.toml",
            lambda: (
                _model_keys(AlertConfig) - {"channel"}
                | _model_keys(LogChannel)
                | _model_keys(WebhookChannel)
                | _model_keys(EmailChannel)
            ),
        ),
        ("store.toml", lambda: _model_keys(StoreSettings)),
        ("shipper.example.toml", lambda: _dataclass_keys(ShipperConfig)),
    ],
)
def test_every_option_of_a_command_is_explained_in_its_example_config(name: str, keys: Any) -> None:
    assert keys() - _mentioned_keys(name) == set()


# ---------------------------------------------------------------------------------------------- compose


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _sep, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_compose_has_the_stack_the_setup_job_and_the_bootwatch_services() -> None:
    services = _compose()["services"]
    assert {"elasticsearch", "kibana", "setup", "collector", "alerts"} <= set(services)
    assert services["elasticsearch"]["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    assert services["kibana"]["image"].startswith("docker.elastic.co/kibana/kibana:")
    assert _env_example()["STACK_VERSION"].startswith("8.")


def test_compose_turns_security_on_with_passwords_from_the_env_file() -> None:
    services = _compose()["services"]
    elastic = services["elasticsearch"]["environment"]
    assert elastic["xpack.security.enabled"] == "true"
    assert elastic["xpack.security.http.ssl.enabled"] == "true"
    assert elastic["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    assert services["kibana"]["environment"]["ELASTICSEARCH_PASSWORD"] == "${KIBANA_PASSWORD}"
    for name in BOOTWATCH_SERVICES:
        environment = services[name]["environment"]
        assert environment["BOOTWATCH_ES_PASSWORD"].startswith("${")
        assert environment["BOOTWATCH_ES_URL"].startswith("https://elasticsearch:")


def test_every_variable_compose_uses_is_in_the_env_example_and_no_secret_is_filled_in() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    example = _env_example()
    assert used <= set(example)
    secrets = [key for key in example if key.endswith(("PASSWORD", "KEY"))]
    assert secrets and all(example[key] == "" for key in secrets)


def test_the_compose_collector_takes_its_shared_key_from_the_variable_compose_passes_from_env() -> None:
    config = load_collector_config(DEPLOY / "compose/collector.toml", {})
    assert config.security.shared_key_env == SHARED_KEY_ENV
    assert config.security.shared_key == "a-key-from-the-env-file"
    environment = _compose()["services"]["collector"]["environment"]
    assert environment[SHARED_KEY_ENV] == f"${{{SHARED_KEY_ENV}:?set {SHARED_KEY_ENV} in deploy/.env}}"
    assert environment["BOOTWATCH_ES_PASSWORD"].startswith("${")  # the shared store settings stay
    assert _env_example()[SHARED_KEY_ENV] == ""


def test_no_deploy_config_holds_a_secret_in_the_toml_itself() -> None:
    """The deploy files are world-readable in a checkout: secrets come from the environment instead."""
    for name in ("compose/collector.toml", "compose/alerts.toml", "store.toml"):
        assert secret_keys(tomllib.loads((DEPLOY / name).read_text(encoding="utf-8"))) == [], name


def test_compose_keeps_data_on_named_volumes_that_are_declared() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared
    assert "esdata:/usr/share/elasticsearch/data" in compose["services"]["elasticsearch"]["volumes"]


def test_compose_mounts_only_files_that_exist_in_deploy() -> None:
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).is_file(), source


def test_compose_starts_the_bootwatch_services_after_the_setup_job_succeeded() -> None:
    services = _compose()["services"]
    for name in ("collector", "alerts"):
        assert services[name]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert services["setup"]["depends_on"]["kibana"]["condition"] == "service_healthy"
    assert (DEPLOY / services["setup"]["build"]["dockerfile"].removeprefix("deploy/")).is_file()


def test_compose_shell_scripts_are_valid_bash_once_compose_unescapes_dollars() -> None:
    scripts = [
        service["command"][2]
        for service in _compose()["services"].values()
        if isinstance(service.get("command"), list) and service["command"][:2] == ["bash", "-c"]
    ]
    assert len(scripts) == 2  # the certificates and the users jobs
    for script in scripts:
        checked = subprocess.run(
            ["bash", "-n", "-c", script.replace("$$", "$")], capture_output=True, text=True, timeout=10
        )
        assert checked.returncode == 0, checked.stderr


def _parse_command(words: list[str]) -> argparse.Namespace:
    """Parse a `bootwatch ...` command line with the real parser of that command module."""
    module = importlib.import_module(f"bootwatch.commands.{words[0]}")
    parser = argparse.ArgumentParser(prog=f"bootwatch {words[0]}", exit_on_error=False)
    module.add_arguments(parser)
    return parser.parse_args(words[1:])


def test_compose_commands_parse_with_the_real_command_parsers() -> None:
    services = _compose()["services"]
    setup = _parse_command(services["setup"]["command"])
    assert setup.kibana_url == "http://kibana:5601"
    collect = _parse_command(services["collector"]["command"])
    assert collect.config == Path("/etc/bootwatch/collector.toml")
    alerts = _parse_command(services["alerts"]["command"])
    assert alerts.alerts_command == "run"
    assert alerts.once is False


# ---------------------------------------------------------------------------------------------- systemd


def _unit(name: str) -> configparser.ConfigParser:
    # strict=False: systemd allows a key twice (SystemCallFilter= is given as allow and deny lists).
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read_string((DEPLOY / "systemd" / name).read_text(encoding="utf-8"))
    return unit


@pytest.mark.parametrize(
    ("name", "command"), [("bootwatch-collector.service", "collect"), ("bootwatch-alerts.service", "alerts")]
)
def test_systemd_units_are_hardened_and_run_a_command_the_parser_accepts(name: str, command: str) -> None:
    service = _unit(name)["Service"]
    assert service["User"] == "bootwatch"
    assert service["StateDirectory"].startswith("bootwatch/")
    assert service["Restart"] == "always"
    assert service["RestartPreventExitStatus"] == "2"  # a config mistake: restarting cannot help
    for setting in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service[setting] == "yes"
    assert service["ProtectSystem"] == "strict"
    words = shlex.split(service["ExecStart"].replace("${STATE_DIRECTORY}", "/var/lib/bootwatch/collector"))
    assert words[0].endswith("/bootwatch") and words[1] == command
    args = _parse_command(words[1:])
    assert str(args.config).startswith("/etc/bootwatch/")


# ---------------------------------------------------------------------------- Fluent Bit and Fluentd


def _fluent_bit_sections() -> list[tuple[str, dict[str, list[str]]]]:
    """The classic Fluent Bit format: `[SECTION]` headers, then indented `Key value` lines."""
    sections: list[tuple[str, dict[str, list[str]]]] = []
    for raw in (DEPLOY / "fluent-bit" / "fluent-bit.conf").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1].upper(), {}))
            continue
        key, _sep, value = line.partition(" ")
        sections[-1][1].setdefault(key.lower(), []).append(value.strip())
    return sections


def _fluent_bit_plugin(kind: str, name: str) -> dict[str, list[str]]:
    sections = _fluent_bit_sections()
    return next(keys for section, keys in sections if section == kind and keys["name"] == [name])


def test_fluent_bit_tails_with_the_path_key_and_tags_records_with_the_site() -> None:
    tail = _fluent_bit_plugin("INPUT", "tail")
    modifier = _fluent_bit_plugin("FILTER", "record_modifier")
    assert tail["path_key"] == ["path"]
    site = dict(record.split(" ", 1) for record in modifier["record"])
    assert set(site) == {"site", "host"}
    assert site_of(tail["tag"][0], {}) == site["site"]
    # What its tail sends (one line under `log`) is a line-per-record stream for the collector.
    record = {"log": "a line", "path": "C:\\SMS_BOOTSTRAP.log", "site": site["site"], "host": "SECSRV02"}
    assert line_stream(tail["tag"][0], record) is not None


def test_fluent_bit_forwards_with_acks_and_the_shared_key() -> None:
    forward = _fluent_bit_plugin("OUTPUT", "forward")
    assert forward["require_ack_response"] == ["True"]
    assert forward["shared_key"] == ["${BOOTWATCH_SHARED_KEY}"]
    assert forward["self_hostname"]
    assert forward["net.io_timeout"]  # else a missing ack blocks Fluent Bit forever
    assert forward["match"] == ["bootwatch.*"]


def _fluentd_blocks(kind: str) -> list[str]:
    text = (DEPLOY / "fluentd" / "fluent.conf").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return re.findall(rf"<{kind}[^>]*>(.*?)</{kind}>", text, flags=re.DOTALL)


def _directives(block: str) -> dict[str, str]:
    return dict([*line.strip().split(None, 1), ""][:2] for line in block.splitlines() if line.strip())


def test_fluentd_tails_lines_into_message_with_the_path_key_and_adds_site_and_host() -> None:
    (source,) = _fluentd_blocks("source")
    directives = _directives(source.split("<parse>")[0])
    assert directives["@type"] == "tail"
    assert directives["path_key"] == "path"
    assert _directives(_fluentd_blocks("parse")[0])["@type"] == "none"  # the line goes to `message`
    (added,) = _fluentd_blocks("record")
    fields = _directives(added)
    assert set(fields) == {"site", "host"}
    assert site_of(directives["tag"], {}) == fields["site"]
    record = {"message": "a line", "path": "C:/SMS_BOOTSTRAP.log", "site": fields["site"], "host": "SECSRV02"}
    assert line_stream(directives["tag"], record) is not None


def test_fluentd_forwards_with_acks_and_the_shared_key() -> None:
    (match,) = _fluentd_blocks("match")
    directives = _directives(re.sub(r"<(\w+)[^>]*>.*?</\1>", "", match, flags=re.DOTALL))
    assert directives["@type"] == "forward"
    assert directives["require_ack_response"] == "true"
    (security,) = _fluentd_blocks("security")
    keys = _directives(security)
    assert "BOOTWATCH_SHARED_KEY" in keys["shared_key"]
    assert keys["self_hostname"]
    assert _fluentd_blocks("server")
