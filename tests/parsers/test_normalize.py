"""Normalization: dataset names from file names, and the document shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers.formats.record import ParsedRecord
from parsers.lifecycle.rules import load_rules
from parsers.normalize import DocumentBuilder, dataset_for


@pytest.mark.parametrize(("path", "dataset"), [
    (r"C:\Sms_bootstrap.log", "sms.bootstrap"),
    ("/logs/S02/SMSBootstrap.lo_", "sms.bootstrap"),
    (r"C:\ConfigMgrPrereq.log", "sms.prereq"),
    (r"C:\ConfigMgrSetup.log", "sms.setup"),
    (r"D:\SMS\Logs\Smssetup.log", "sms.setup"),
    (r"D:\SMS\Logs\hman.log", "sms.hman"),
    (r"D:\SMS\Logs\SMSPROV.LOG", "sms.smsprov"),
    (r"D:\SMS\Logs\sitecomp-20160726-120000.log", "sms.sitecomp"),
    ("noextension", "sms.noextension"),
])
def test_dataset_from_the_file_name(path: str, dataset: str) -> None:
    assert dataset_for(path) == dataset


def test_error_code_and_hint_appear_only_when_found() -> None:
    builder = DocumentBuilder(site="S02", host="SEC02", path="x.log", file_id="f", encoding="utf-8")
    failed = builder.build(ParsedRecord("plain", "Win32 error = 5", "error"), "o", 0, ("t", "UTC"), None)
    plain = builder.build(ParsedRecord("plain", "all fine", "info"), "o", 0, ("t", "UTC"), None)
    assert failed["error"] == {"code": "0x80070005"} and failed["sms"]["error"]["hint"]
    assert "error" not in plain and "error" not in plain["sms"]
    assert plain["host"] == {"name": "SEC02"} and plain["process"] == {"thread": {"id": None}}


def test_what_a_message_says_depends_on_each_builders_rules_logger_and_level(tmp_path: Path) -> None:
    # Builders share what they learnt about a message: only with the same rules and dataset.
    admin = tmp_path / "rules.toml"
    admin.write_text('replace_defaults = true\n[[rule]]\nid = "copy"\naction = "install.progress"\n'
                     'pattern = "copying"\ndescription = "a copy"\nlogger = "SMS_BOOTSTRAP"\n',
                     encoding="utf-8")
    with_rules = DocumentBuilder(site="S02", host="H", path="b.log", file_id="f", encoding="utf-8",
                                 rules=load_rules(admin))
    without_rules = DocumentBuilder(site="S02", host="H", path="b.log", file_id="f", encoding="utf-8")
    defaults = DocumentBuilder(site="S02", host="H", path="b.log", file_id="f", encoding="utf-8",
                               rules=load_rules())

    def action(builder: DocumentBuilder, logger: str) -> str | None:
        record = ParsedRecord("sms_legacy", "Copying smsexec.exe, error 5", "info", logger)
        doc = builder.build(record, "o", 0, ("t", "UTC"), None)
        assert doc["error"] == {"code": "0x80070005"}
        return doc["event"].get("action")

    for _ in range(2):  # the second round is answered from what was learnt
        assert action(with_rules, "SMS_BOOTSTRAP") == "install.progress"
        assert action(with_rules, "SMS_EXECUTIVE") is None
        assert action(without_rules, "SMS_BOOTSTRAP") is None
        assert action(defaults, "SMS_BOOTSTRAP") is None


def test_a_streams_documents_share_only_their_constant_parts() -> None:
    builder = DocumentBuilder(site="S02", host="SEC02", path="x.log", file_id="f", encoding="utf-8")
    first, second = (builder.build(ParsedRecord("plain", text, "info"), "o", offset, ("t", "UTC"), None)
                     for offset, text in ((0, "one"), (5, "two")))
    assert first["host"] is second["host"] and first["sms"]["site"] is second["sms"]["site"]
    assert first["log"]["file"] is second["log"]["file"]
    assert first["sms"]["log"] is not second["sms"]["log"] and first["event"] is not second["event"]
    assert first["log"]["offset"] == 0 and second["log"]["offset"] == 5


def test_the_same_message_in_two_datasets_gets_each_datasets_action(tmp_path: Path) -> None:
    # What builders learn about a message is shared across streams: the dataset must be part of it.
    admin = tmp_path / "rules.toml"
    admin.write_text('replace_defaults = true\n[[rule]]\nid = "boot"\naction = "bootstrap.stopped"\n'
                     'pattern = "service stopped"\ndescription = "stop"\ndataset = "^sms\\\\.bootstrap$"\n',
                     encoding="utf-8")
    rules = load_rules(admin)
    record = ParsedRecord("sms_legacy", "SMS_BOOTSTRAP service stopped", "info", "SMS_BOOTSTRAP")
    actions = {}
    for path in (r"C:\Sms_bootstrap.log", r"D:\SMS\Logs\hman.log", r"C:\Sms_bootstrap.log"):
        builder = DocumentBuilder(site="S02", host="H", path=path, file_id="f", encoding="utf-8", rules=rules)
        doc = builder.build(record, "o", 0, ("t", "UTC"), None)
        actions.setdefault(doc["event"]["dataset"], set()).add(doc["event"].get("action"))
    assert actions == {"sms.bootstrap": {"bootstrap.stopped"}, "sms.hman": {None}}
