"""Error codes: every written form -> HRESULT, false positives stay out, hints from the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.codes import extract_error_code, hint_for, load_error_codes


@pytest.mark.parametrize(
    ("message", "code"),
    [
        # Hex as written, normalised to lower-case 0x and upper-case digits.
        ("Failed to open the site control file (0x80070005)", "0x80070005"),
        ("Update scan failed, error 0x87d00692", "0x87D00692"),
        ("Job error (0x87D00692) received for assignment", "0x87D00692"),
        ("hr=0x80004005", "0x80004005"),
        ("NUMATTRS=0 LE=0X8013150a", "0x8013150A"),
        # Decimal Win32 codes after a keyword -> HRESULT_FROM_WIN32.
        ("ERROR - Setup failed, Win32 error = 5~", "0x80070005"),
        ("Cannot find any PDC for domain XXXX, Win32 return = 2453", "0x80070995"),
        ("Failed to copy file, error 112", "0x80070070"),
        ("Cannot connect to \\\\S02\\ADMIN$, error code 53", "0x80070035"),
        ("CreateFile failed, GetLastError() = 5", "0x80070005"),
        ("OpenService failed. LastError=1060", "0x80070424"),
        ("Installer exited, exit code 1603", "0x80070643"),
        ("msiexec return code 1618", "0x80070652"),
        ("The file is locked: error: 32", "0x80070020"),
        ("Failed with error 0x5", "0x80070005"),
        # HRESULTs printed as decimals, signed or not, or as hex without 0x.
        ("Install failed with error code -2147024891", "0x80070005"),
        ("Status -2147024891 returned by the provider", "0x80070005"),
        ("Failed, error 2278557330", "0x87D00692"),
        ("Failed, error 80070005", "0x80070005"),
    ],
)
def test_each_written_form_becomes_an_hresult(message: str, code: str) -> None:
    assert extract_error_code(message) == code


@pytest.mark.parametrize(
    "message",
    [
        "Bootstrap service started, reading C:\\SMS_BOOTSTRAP\\bootstrap.ini",
        "Setup completed with 3 errors",
        "error 0",
        "Win32 return = 0",
        "msiexec return code 3010",
        "Error at 10:12:01 while copying",
        "error 10:12",
        "Loaded version error 2.0 schema",
        "Thread 4294758987 started, handle 0x00000AB4",
        "Process id 0x1A4",
        "CreateFile returned INVALID_HANDLE_VALUE 0xFFFFFFFF",
        "error -1",
        "Site status = 3 (FAILED)",
        "Query result: 2 rows",
        "Processed 2453 files",
        "ERROR - Setup failed",
        "",
    ],
)
def test_non_codes_are_not_taken_for_codes(message: str) -> None:
    assert extract_error_code(message) is None


def test_first_code_in_the_message_wins_and_a_rejected_candidate_does_not_stop_the_scan() -> None:
    assert extract_error_code("error 0 on first try, then Win32 error = 112") == "0x80070070"
    assert extract_error_code("Failed (0x80070005), retry failed with error 53") == "0x80070005"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("0x80070005", "Access denied"),
        ("0x80070020", "Sharing violation"),
        ("0x80070035", "Network path not found"),
        ("0x80070070", "Disk full"),
        ("0x80070995", "No domain controller"),
        ("0x87d00692", "Group policy conflict"),
    ],
)
def test_known_codes_of_section_seven_have_hints(code: str, words: str) -> None:
    hint = hint_for(code)
    assert hint is not None and words.lower() in hint.lower()


def test_unknown_or_malformed_codes_have_no_hint() -> None:
    assert hint_for("0x8007FFFF") is None
    assert hint_for("not a code") is None
    assert hint_for(None) is None


def test_every_table_row_is_normalised_and_reachable_from_its_extracted_form() -> None:
    table = load_error_codes()
    assert len(table) >= 30
    for code, entry in table.items():
        assert (
            code == entry.code and code.startswith("0x") and code[2:] == code[2:].upper() and len(code) == 10
        )
        assert extract_error_code(f"failed ({code.lower()})") == code
        assert hint_for(code) == entry.hint


def test_a_malformed_table_row_is_reported_with_its_line(tmp_path: Path) -> None:
    table = tmp_path / "codes.tsv"
    table.write_text("# comment\n0x80070005\tERROR_ACCESS_DENIED\tAccess denied\n80070005\t-\tno 0x\n")
    with pytest.raises(ValueError, match=r"codes\.tsv:3"):
        load_error_codes(table)


@given(st.text(max_size=200))
def test_extraction_never_raises_and_returns_normalised_codes(message: str) -> None:
    code = extract_error_code(message)
    assert code is None or (len(code) == 10 and code.startswith("0x") and int(code, 16) & 0x80000000)


@given(st.integers(min_value=1, max_value=0xFFFF).filter(lambda n: n not in (3010, 1641)))
def test_any_win32_code_becomes_its_hresult(number: int) -> None:
    assert extract_error_code(f"Win32 error = {number}") == f"0x{0x80070000 | number:08X}"
