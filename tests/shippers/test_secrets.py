"""The one copy of the secret-file rules that the shipper and the central side share."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shippers.secrets import secret_from_source, warn_if_exposed

LOG = logging.getLogger("test.secrets")


class SetupError(Exception):
    """The error a caller asks for when a secret's source is unusable."""


def read(env_name: str | None = None, file_path: Path | None = None,
         environ: dict[str, str] | None = None) -> str | None:
    return secret_from_source("auth.password", "password", env_name, file_path, error=SetupError,
                              runs_as="the shipper", log=LOG, environ=environ or {})


def test_a_secret_comes_from_the_environment_or_a_file_and_each_problem_says_its_fix(tmp_path: Path) -> None:
    assert read() is None
    assert read("PW", environ={"PW": "s3cret"}) == "s3cret"
    with pytest.raises(SetupError, match=r"auth\.password_env names the environment variable PW, which is"):
        read("PW")
    key_file = tmp_path / "pw"
    key_file.write_text("from-file\n", encoding="utf-8")
    key_file.chmod(0o600)
    assert read(file_path=key_file) == "from-file"
    with pytest.raises(SetupError, match=r"auth\.password_file: cannot read .* create it with the password"):
        read(file_path=tmp_path / "missing")
    key_file.write_text("  \n", encoding="utf-8")
    with pytest.raises(SetupError, match=r"auth\.password_file: .* is empty: write the password into it"):
        read(file_path=key_file)


def test_a_secret_file_others_may_read_gets_one_warning_naming_who_should_own_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "shared.toml"
    shared.write_text("x", encoding="utf-8")
    shared.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="test.secrets"):
        warn_if_exposed(shared, ["auth.password"], runs_as="the shipper", log=LOG)
        warn_if_exposed(shared, [], runs_as="the shipper", log=LOG)  # no secret in it: nothing to say
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "auth.password" in message and "readable by everyone" in message
    assert f"chmod 600 {shared}" in message and "the user the shipper runs as" in message
