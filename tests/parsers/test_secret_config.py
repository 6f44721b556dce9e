"""Secrets in central config files (`parsers/secret_config.py`): found by key, warned about when others
can read the file, and read from an environment variable or a file instead of the TOML."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from parsers.secret_config import SecretSourceError, read_secret, secret_keys, warn_if_readable_by_others


def _file(tmp_path: Path, text: str, mode: int, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_secret_keys_are_found_nested_in_lists_and_in_authorization_headers() -> None:
    document = {
        "security": {"shared_key": "k", "shared_key_env": "BOOTWATCH_SHARED_KEY", "users": [
            {"username": "u", "password": "p"}]},
        "store": {"api_key": "a", "password": ""},
        "channel": [{"type": "webhook", "headers": {"Authorization": "Bearer t", "X-Source": "bootwatch"}}],
    }
    assert secret_keys(document) == [
        "security.shared_key",
        "security.users[0].password",
        "store.api_key",
        "channel[0].headers.Authorization",
    ]


@pytest.mark.parametrize(("mode", "who"), [(0o644, "everyone"), (0o640, "its group")])
def test_a_readable_file_holding_a_secret_gets_one_warning_with_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, who: str
) -> None:
    path = _file(tmp_path, 'password = "p"\n', mode)
    with caplog.at_level(logging.WARNING):
        warn_if_readable_by_others(path, {"password": "p"})
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert str(path) in record.message and "(password)" in record.message
    assert f"readable by {who}" in record.message and f"chmod 600 {path}" in record.message


def test_a_private_file_or_one_without_secrets_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = _file(tmp_path, 'password = "p"\n', 0o600, "private.toml")
    public = _file(tmp_path, 'listen = "0.0.0.0:24224"\nshared_key_env = "KEY"\n', 0o644, "public.toml")
    with caplog.at_level(logging.WARNING):
        warn_if_readable_by_others(private, {"password": "p"})
        warn_if_readable_by_others(public, {"listen": "0.0.0.0:24224", "shared_key_env": "KEY"})
    assert caplog.records == []


def test_a_secret_comes_from_the_named_environment_variable() -> None:
    assert read_secret("security.shared_key", "MY_KEY", None, {"MY_KEY": "from-env"}) == "from-env"
    assert read_secret("security.shared_key", None, None, {}) is None


def test_a_missing_environment_variable_names_the_key_and_the_fix() -> None:
    with pytest.raises(SecretSourceError, match=r"security\.shared_key_env .*MY_KEY, which is not set"):
        read_secret("security.shared_key", "MY_KEY", None, {})


def test_a_secret_file_gives_its_text_without_the_final_newline_and_warns_when_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = _file(tmp_path, "the-key\n", 0o600, "private_key")
    readable = _file(tmp_path, "the-key\n", 0o644, "readable_key")
    with caplog.at_level(logging.WARNING):
        assert read_secret("security.shared_key", None, private) == "the-key"
        assert caplog.records == []
        assert read_secret("security.shared_key", None, readable) == "the-key"
    (record,) = caplog.records
    assert "security.shared_key_file" in record.message and f"chmod 600 {readable}" in record.message


def test_a_missing_or_empty_secret_file_names_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SecretSourceError, match=r"security\.shared_key_file: cannot read .*create it"):
        read_secret("security.shared_key", None, tmp_path / "absent")
    with pytest.raises(SecretSourceError, match=r"security\.shared_key_file: .* is empty: write the key"):
        read_secret("security.shared_key", None, _file(tmp_path, "\n", 0o600, "empty"))
