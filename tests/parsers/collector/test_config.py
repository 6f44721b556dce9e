"""Collector config: defaults, units in names, unknown keys rejected, one-line errors naming the key."""

from __future__ import annotations

import logging
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


def _secret_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.message for record in caplog.records if "holds secrets" in record.message]


def test_a_world_readable_config_holding_the_shared_key_is_warned_about_and_still_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, '[security]\nshared_key = "k"\nusers = [{username = "u", password = "p"}]\n')
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        config = load_config(path, {})
    assert config.security.shared_key == "k"
    (warning,) = _secret_warnings(caplog)
    assert "security.shared_key, security.users[0].password" in warning and f"chmod 600 {path}" in warning


def test_a_private_config_or_one_whose_key_comes_from_the_environment_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = write(tmp_path, '[security]\nshared_key = "k"\n')
    private.chmod(0o600)
    monkeypatch.setenv("TEST_COLLECTOR_KEY", "from-env")
    public = tmp_path / "public.toml"
    public.write_text('[security]\nshared_key_env = "TEST_COLLECTOR_KEY"\n')
    public.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_config(private, {})
        assert load_config(public, {}).security.shared_key == "from-env"
    assert _secret_warnings(caplog) == []


def test_the_shared_key_comes_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "bootwatch_shared_key"
    key_file.write_text("from-a-file\n")
    key_file.chmod(0o600)
    config = load_config(write(tmp_path, f'[security]\nshared_key_file = "{key_file}"\n'), {})
    assert config.security.shared_key == "from-a-file"


def test_user_passwords_come_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_COLLECTOR_USER_PASSWORD", "from-env")
    password_file = tmp_path / "sender-password"
    password_file.write_text("from-a-file\n")
    password_file.chmod(0o600)
    config = load_config(write(tmp_path, (
        '[security]\nshared_key = "k"\nusers = [\n'
        '  {username = "site-s02", password_env = "TEST_COLLECTOR_USER_PASSWORD"},\n'
        f'  {{username = "site-s03", password_file = "{password_file}"}},\n'
        '  {username = "site-s04", password = "in-the-file"},\n]\n'
    )), {})
    assert [(user.username, user.password) for user in config.security.users] == [
        ("site-s02", "from-env"), ("site-s03", "from-a-file"), ("site-s04", "in-the-file"),
    ]


@pytest.mark.parametrize(
    ("security", "message"),
    [
        (
            'shared_key_env = "TEST_UNSET_COLLECTOR_KEY"',
            "security.shared_key_env names the environment variable TEST_UNSET_COLLECTOR_KEY, which is not "
            "set or empty: set it",
        ),
        ('shared_key_file = "/nonexistent/bootwatch_key"', "security.shared_key_file: cannot read"),
        (
            'shared_key = "k"\nshared_key_env = "X"',
            "key 'security': set only one of shared_key, shared_key_env",
        ),
        (
            'shared_key = "k"\nusers = [{username = "u", password_env = "TEST_UNSET_COLLECTOR_KEY"}]',
            "security.users[0].password_env names the environment variable TEST_UNSET_COLLECTOR_KEY",
        ),
        (
            'shared_key = "k"\nusers = [{username = "u", password = "p", password_env = "X"}]',
            "give user 'u' exactly one of password, password_env, password_file",
        ),
        (
            'shared_key = "k"\nusers = [{username = "u"}]',
            "give user 'u' exactly one of password, password_env, password_file",
        ),
    ],
)
def test_a_shared_key_source_that_gives_no_key_is_one_line_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, security: str, message: str
) -> None:
    monkeypatch.delenv("TEST_UNSET_COLLECTOR_KEY", raising=False)
    path = write(tmp_path, f"[security]\n{security}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, {})
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)
