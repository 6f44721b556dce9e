"""Collector config: defaults, units in names, unknown keys rejected, one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers.collector.config import ConfigError, load_config, parse_host_port


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(text)
    return path


def test_defaults_listen_on_loopback_24224() -> None:
    config = load_config(None, {})
    assert config.listen_address == ("127.0.0.1", 24224)
    assert config.limits.max_frame_mb > 0 and config.spool.fsync


def test_command_line_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'listen = "0.0.0.0:1"\n[limits]\nidle_timeout_s = 30\n')
    config = load_config(path, {"listen": "127.0.0.1:5000", "state_dir": None})
    assert config.listen_address == ("127.0.0.1", 5000)
    assert config.limits.idle_timeout_s == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nmax_frame_kb = 1\n", "unknown key 'limits.max_frame_kb'; remove it or fix its spelling"),
        ("[spool]\nmax_mb = 0\n", "key 'spool.max_mb': Input should be greater than 0"),
        ('listen = "host:port"\n', "key 'listen': 'host:port' has no valid port; write HOST:PORT"),
        ('[security]\nusers = [{username = "a", password = "b"}]\n', "key 'security': users are checked"),
        ('[tls]\ncert_file = "c.pem"\n', "key 'tls': set both cert_file and key_file, or neither"),
        ('[observability]\nmetrics_listen = "0.0.0.0:9464"\n', "is not a loopback address"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_key_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, {})
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_invalid_toml_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "listen = \n"), {})
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml", {})


def test_host_port_forms() -> None:
    assert parse_host_port("[::1]:7") == ("::1", 7)
    assert parse_host_port("example") == ("example", 24224)
