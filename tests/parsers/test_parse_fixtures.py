"""Every fixture under tests/data/<format>/ parses to exactly its hand-written expected documents.

The expected files are written by hand from LOG_FORMATS.md; they leave out the two fields derived
from other parts' data (`sms.log.file_id`, the file fingerprint, and `sms.error.hint`, the code
table's wording), which are checked here against their sources instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parsers.codes import hint_for
from parsers.formats.record import FormatContext
from parsers.parse import HEAD_SIZE, parse_file
from parsers.schema import LogDocument
from shippers.framing import file_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
FIXTURES = sorted(DATA.glob("*/*.log"))

# Options a case is parsed with besides site S02 and host SEC02 (the default host zone is UTC).
CASE_OPTIONS: dict[str, dict[str, Any]] = {
    "legacy/tildes": {"timezone": "Eastern Standard Time"},
    "legacy/missing_zone": {"timezone": "Europe/Berlin"},
    "smssetup/smssetup_style": {"timezone": "Central Standard Time"},
    "cmtrace/configmgrprereq_multiline": {"timezone": "Pacific Standard Time"},
    "cmtrace/east_positive": {"context": FormatContext(east_positive_offsets=True)},
}


def _case_name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_every_format_family_has_fixtures() -> None:
    assert {path.parent.name for path in FIXTURES} >= {"legacy", "cmtrace", "smssetup", "smsprov", "plain",
                                                       "encodings"}


@pytest.mark.parametrize("log_path", FIXTURES, ids=_case_name)
def test_fixture_parses_to_its_expected_documents(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    relative = log_path.relative_to(REPO_ROOT)
    options = CASE_OPTIONS.get(_case_name(log_path), {})
    actual = list(parse_file(relative, site="S02", host="SEC02", **options))
    expected_path = log_path.with_name(log_path.stem + ".expected.jsonl")
    expected = [json.loads(line) for line in expected_path.read_text(encoding="utf-8").splitlines() if line]

    fingerprint = file_fingerprint(log_path.read_bytes()[:HEAD_SIZE])
    for doc in actual:
        LogDocument.model_validate(doc)
        assert doc["sms"]["log"].pop("file_id") == fingerprint
        code = doc.get("error", {}).get("code")
        hint = doc["sms"].pop("error", {}).get("hint")
        assert hint == hint_for(code)
    assert actual == expected


def test_known_error_codes_in_the_fixtures_carry_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    docs = list(parse_file(Path("tests/data/legacy/error_codes.log")))
    hints = {doc["error"]["code"]: doc["sms"].get("error", {}).get("hint") for doc in docs}
    assert hints["0x80070005"] and "Access denied" in hints["0x80070005"]
    assert hints["0x80070070"]
