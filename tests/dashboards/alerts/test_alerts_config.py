"""Alert config: channels by type, unknown keys refused, one message naming the key and the fix."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dashboards.alerts.config import (
    AlertConfigError,
    EmailChannel,
    LogChannel,
    WebhookChannel,
    load_alert_config,
)

MAIL = '[[channel]]\ntype = "email"\nname = "m"\nhost = "h"\nsender = "a@b"\nto = ["c@d"]\n'
HOOK = '[[channel]]\ntype = "webhook"\nname = "h"\nurl = "http://127.0.0.1:9/hook"\n'


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_file_means_one_log_channel_on_stderr() -> None:
    config = load_alert_config(None)
    assert config.channel == [LogChannel(type="log")]
    assert config.channel[0].stream == "stderr"
    assert config.queries is None


def test_each_channel_type_is_read_with_its_settings(tmp_path: Path) -> None:
    config = load_alert_config(
        _config(
            tmp_path,
            """
queries = ["silent-install-failures"]
[[channel]]
type = "log"
name = "console"
[[channel]]
type = "webhook"
name = "ops-hook"
url = "http://127.0.0.1:9/hook"
attempts = 5
[[channel]]
type = "email"
name = "ops-mail"
host = "smtp.example.net"
port = 587
starttls = true
sender = "bootwatch@example.net"
to = ["admins@example.net"]
""",
        )
    )
    console, hook, mail = config.channel
    assert isinstance(console, LogChannel) and console.name == "console"
    assert isinstance(hook, WebhookChannel) and hook.attempts == 5
    assert isinstance(mail, EmailChannel) and mail.starttls and mail.port == 587
    assert config.queries == ["silent-install-failures"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[channel]]\ntype = "webhook"\nname = "h"\nurl = "http://x/"\ncolour = "red"\n',
            r"channel\[0\]\.colour: unknown key: remove it or fix its spelling",
        ),
        (
            '[[channel]]\ntype = "webhook"\nname = "h"\n',
            r"channel\[0\]\.url: required key is missing: add it",
        ),
        ('[[channel]]\ntype = "pager"\n', r"channel\[0\]: type must be one of log, webhook, email"),
        ('[[channel]]\nname = "x"\n', r"channel\[0\]: every \[\[channel\]\] needs type"),
        ('qeuries = ["x"]\n', r"qeuries: unknown key"),
        (
            '[[channel]]\ntype = "email"\nname = "m"\nhost = "h"\nsender = "a@b"\nto = ["c@d"]\n'
            'username = "u"\n',
            r"channel\[0\]: .*username and password go together",
        ),
        (
            '[[channel]]\ntype = "log"\nname = "a"\n[[channel]]\ntype = "log"\nname = "a"\n',
            "channel names must be unique",
        ),
        (
            MAIL + 'username = "u"\npassword = "p"\npassword_env = "SMTP_PASSWORD"\n',
            r"channel\[0\]: .*give the password one way only",
        ),
        (
            MAIL + 'username = "u"\npassword_env = "BOOTWATCH_TEST_UNSET_VARIABLE"\n',
            r"channel\[0\]\.password_env names the environment variable BOOTWATCH_TEST_UNSET_VARIABLE, "
            r"which is not set",
        ),
        (
            HOOK + 'header_env = { Authorization = "BOOTWATCH_TEST_UNSET_VARIABLE" }\n',
            r"channel\[0\]\.header_env: the environment variable BOOTWATCH_TEST_UNSET_VARIABLE for header "
            r"Authorization is not set",
        ),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(AlertConfigError, match=message) as caught:
        load_alert_config(path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_config_file_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(AlertConfigError, match="fix --config"):
        load_alert_config(tmp_path / "nope.toml")


WEBHOOK_WITH_TOKEN = (
    '[[channel]]\ntype = "webhook"\nname = "ops"\nurl = "https://hooks.example.net/b"\n'
    'headers = { Authorization = "Bearer t" }\n'
)


def test_a_world_readable_config_with_a_webhook_token_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _config(tmp_path, WEBHOOK_WITH_TOKEN)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_alert_config(path)
    (warning,) = [record.message for record in caplog.records if "holds secrets" in record.message]
    assert "channel[0].headers.Authorization" in warning and f"chmod 600 {path}" in warning


def test_a_private_config_or_one_without_secrets_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = _config(tmp_path, WEBHOOK_WITH_TOKEN)
    private.chmod(0o600)
    public = tmp_path / "public.toml"
    public.write_text('[[channel]]\ntype = "log"\nname = "console"\n', encoding="utf-8")
    public.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_alert_config(private)
        load_alert_config(public)
    assert [record for record in caplog.records if "holds secrets" in record.message] == []


def test_secrets_can_come_from_the_environment_or_a_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTWATCH_TEST_WEBHOOK_AUTH", "Bearer from-the-environment")
    password_file = tmp_path / "smtp-password"
    password_file.write_text("from-a-file\n", encoding="utf-8")
    password_file.chmod(0o600)
    config = load_alert_config(_config(tmp_path, (
        HOOK + 'headers = { "X-Team" = "sms" }\n'
        + 'header_env = { Authorization = "BOOTWATCH_TEST_WEBHOOK_AUTH" }\n'
        + MAIL.replace('name = "m"', 'name = "mail"') + f'username = "u"\npassword_file = "{password_file}"\n'
    )))
    hook, mail = config.channel
    assert isinstance(hook, WebhookChannel)
    assert hook.headers == {"X-Team": "sms", "Authorization": "Bearer from-the-environment"}
    assert isinstance(mail, EmailChannel)
    assert (mail.username, mail.password) == ("u", "from-a-file")
