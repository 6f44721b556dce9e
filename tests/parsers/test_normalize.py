"""Normalization: dataset names from file names, and the document shape."""

from __future__ import annotations

import pytest

from parsers.formats.record import ParsedRecord
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
