"""`bootwatch parse`: JSON lines on stdout, one clear line per unreadable file, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bootwatch.commands.parse import site_from_path
from parsers.schema import LogDocument

LINE = "Bootstrap service started  $$<SMS_BOOTSTRAP><07-26-2016 17:09:27.113+420><thread=345 (0x159)>\r\n"


def _bootwatch(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootwatch", *arguments], capture_output=True, text=True,
                          timeout=60, check=False)


def test_prints_one_valid_document_per_record(tmp_path: Path) -> None:
    log = tmp_path / "Sms_bootstrap.log"
    log.write_text(LINE * 3, encoding="utf-8", newline="")
    result = _bootwatch("parse", str(log), "--site", "s07", "--host", "SEC07")
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 3
    for doc in docs:
        LogDocument.model_validate(doc)
        assert doc["sms"]["site"]["code"] == "s07" and doc["host"]["name"] == "SEC07"
        assert doc["event"]["dataset"] == "sms.bootstrap"
        assert doc["event"]["action"] == "install.started"


def test_missing_file_is_named_on_stderr_exit_2_and_other_files_still_parsed(tmp_path: Path) -> None:
    good = tmp_path / "hman.log"
    good.write_text(LINE, encoding="utf-8", newline="")
    missing = tmp_path / "nothere.log"
    result = _bootwatch("parse", str(missing), str(good))
    assert result.returncode == 2
    expected = f"bootwatch parse: cannot read {missing}: No such file or directory"
    assert result.stderr.strip().splitlines() == [expected]
    assert len(result.stdout.splitlines()) == 1


def test_unknown_timezone_is_one_line_and_exit_2(tmp_path: Path) -> None:
    log = tmp_path / "hman.log"
    log.write_text(LINE, encoding="utf-8", newline="")
    result = _bootwatch("parse", str(log), "--timezone", "Mars Standard Time")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Mars Standard Time" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_windows_zone_name_sets_the_zone_of_zoneless_records(tmp_path: Path) -> None:
    log = tmp_path / "Smssetup.log"
    log.write_text("06-21-1999 15:45:51 Setup started\r\n", encoding="utf-8", newline="")
    result = _bootwatch("parse", str(log), "--timezone", "Pacific Standard Time")
    doc = json.loads(result.stdout)
    assert doc["@timestamp"] == "1999-06-21T22:45:51.000Z"
    assert doc["event"]["timezone"] == "America/Los_Angeles"


def test_site_defaults_to_the_nearest_folder_named_like_a_site_code() -> None:
    assert site_from_path(Path("/fleet/P01/S02/Logs/hman.log")) == "S02"
    assert site_from_path(Path("/fleet/S02/SMS/LOG/hman.log")) == "S02"
    assert site_from_path(Path("/tmp/usr/SMS/x.log")) is None


def test_site_from_the_folder_reaches_the_documents(tmp_path: Path) -> None:
    folder = tmp_path / "T15"
    folder.mkdir()
    (folder / "hman.log").write_text(LINE, encoding="utf-8", newline="")
    doc = json.loads(_bootwatch("parse", str(folder / "hman.log")).stdout)
    assert doc["sms"]["site"]["code"] == "T15"


def test_site_json_beside_the_file_supplies_site_host_and_zone(tmp_path: Path) -> None:
    folder = tmp_path / "fleet" / "S05"
    folder.mkdir(parents=True)
    (folder / "site.json").write_text('{"site": "S05", "host": "PHOENIX-SEC05", "timezone": '
                                      '"US Mountain Standard Time"}', encoding="utf-8")
    (folder / "Smssetup.log").write_bytes(b"06-21-1999 15:45:51 Setup started\r\n")
    doc = json.loads(_bootwatch("parse", str(folder / "Smssetup.log")).stdout)
    assert (doc["sms"]["site"]["code"], doc["host"]["name"]) == ("S05", "PHOENIX-SEC05")
    assert (doc["@timestamp"], doc["event"]["timezone"]) == ("1999-06-21T22:45:51.000Z", "America/Phoenix")
    overridden = json.loads(_bootwatch("parse", str(folder / "Smssetup.log"), "--host", "OTHER").stdout)
    assert overridden["host"]["name"] == "OTHER"
