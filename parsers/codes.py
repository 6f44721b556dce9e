"""Error codes in log messages -> `error.code` (HRESULT form) and a short cause hint.

Forms recognised (first one in the message wins):

- a full 32-bit failure code written in hex, ``0x80070005``, ``0X8013150a`` (LE= in STATMSG),
  ``(0x87D00692)``: kept as written, normalised to ``0x`` + 8 upper-case hex digits. Only
  values with the failure bit set (``0x8xxxxxxx``..``0xFxxxxxxx``) count, and not ``0xFFFFFFFF``
  (-1, an invalid handle or "no value", not an error code); other bare hex numbers (thread ids,
  handles, flags) are ignored;
- a signed decimal HRESULT, ``-2147024891`` (how some components print 0x80070005);
- a number after an error keyword: ``Win32 error = 5``, ``Win32 return = 2453``, ``error 112``,
  ``error code 53``, ``GetLastError() = 5``, ``LastError=5``, ``exit code 1603``, ``return code 1618``,
  ``error 0x5``, ``hr=0x80004005`` (``hr``/``hresult`` only with a hex value). A Win32 code
  (1..0xFFFF) becomes its HRESULT ``0x80070000 | code`` (HRESULT_FROM_WIN32): 5 -> ``0x80070005``,
  2453 -> ``0x80070995``; a value that already has the failure bit (decimal or hex, signed or not)
  is kept; an 8-character token of hex digits starting with 8 or C after a keyword
  (``error 80070005``) is read as hex.

Not codes: ``error 0`` and the success returns 3010 / 1641 (reboot required / initiated), ``-1``,
numbers followed by ``:`` or ``.digit`` (times, versions: ``error at 10:12:01``), bare small numbers
without a keyword, ``status``/``result`` numbers (site status values, counts). A rejected
candidate does not stop the scan: a later code in the same message can still match.

Hints come from ``data/error_codes.tsv`` (code, symbolic name, hint), which admins can extend.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

ERROR_CODES_PATH = Path(__file__).parent / "data" / "error_codes.tsv"

_FAILURE_BIT = 0x80000000
_WIN32_FACILITY = 0x80070000
_MAX_WIN32 = 0xFFFF
# Returns that mean success: 0, ERROR_SUCCESS_REBOOT_REQUIRED (3010), ERROR_SUCCESS_REBOOT_INITIATED (1641).
_SUCCESS_RETURNS = frozenset({0, 3010, 1641})
_NOT_A_CODE = 0xFFFFFFFF

# Applied to the lower-cased message (str.lower is cheaper than a case-insensitive regex), each only
# when its literal trigger occurs: most lines hold none, and then no regex runs at all.
_HEX_CODE = re.compile(r"(?<![0-9a-z_])0x([0-9a-f]{8})(?![0-9a-z_])", re.ASCII)
_SIGNED_CODE = re.compile(r"(?<![0-9a-z_])-(2[0-9]{9})(?![0-9a-z_])", re.ASCII)
_KEYWORD_CODE = re.compile(
    r"\b(?:win32\s+error|win32\s+return|error|err|hr|hresult|getlasterror\s*\(\s*\)|last\s*error"
    r"|exit\s+code|return\s+code|return\s+value)(?:\s+code)?(?:\s+(?:is|was|of))?\s*[:=]?\s*"
    r"(0x[0-9a-f]+|-?[0-9a-f]+)(?![0-9a-z_]|[:.][0-9])",
    re.ASCII,
)


class ErrorCode(NamedTuple):
    """One row of the code table."""

    code: str
    name: str | None
    hint: str


def normalise_code(value: int) -> str:
    """``0x`` + 8 upper-case hex digits."""
    return f"0x{value:08X}"


def _failure(value: int) -> str | None:
    if value & _FAILURE_BIT and value != _NOT_A_CODE:
        return normalise_code(value)
    return None


def _keyword_value(token: str) -> str | None:
    if token.startswith("0x"):
        number = int(token, 16)
    elif len(token) == 8 and token[0] in "8c" and token.isalnum():
        # "error 80070005": an HRESULT written without its 0x.
        number = int(token, 16)
    elif token.lstrip("-").isdigit():
        number = int(token)
    else:
        return None
    if number < 0:
        if number < -(2**31):
            return None
        number &= 0xFFFFFFFF
    if number > 0xFFFFFFFF or number in _SUCCESS_RETURNS:
        return None
    if number <= _MAX_WIN32:
        return normalise_code(_WIN32_FACILITY | number)
    return _failure(number)


def _first(
    pattern: re.Pattern[str], text: str, convert: Callable[[str], str | None]
) -> tuple[int, str] | None:
    for match in pattern.finditer(text):
        code = convert(match.group(1))
        if code is not None:
            return match.start(), code
    return None


def _hex_value(digits: str) -> str | None:
    return _failure(int(digits, 16))


def _signed_value(digits: str) -> str | None:
    number = -int(digits)
    return _failure(number & 0xFFFFFFFF) if number >= -(2**31) else None


def error_fields(message: str) -> tuple[str, str | None] | None:
    """(`error.code`, its hint or None) of a message, None when it holds no code.

    Not cached here: the document builder remembers it with the rest of what a message says.
    """
    code = extract_error_code(message)
    return None if code is None else (code, hint_for(code))


def extract_error_code(message: str) -> str | None:
    """The first error code in `message`, in HRESULT form (``0x80070005``), else None."""
    lowered = message.lower()
    found: list[tuple[int, str]] = []
    has_hex = "0x" in lowered
    if has_hex:
        hit = _first(_HEX_CODE, lowered, _hex_value)
        if hit is not None:
            found.append(hit)
    if "-2" in lowered:
        hit = _first(_SIGNED_CODE, lowered, _signed_value)
        if hit is not None:
            found.append(hit)
    # Every keyword holds "err", "exit" or "return"; "hr=" is only taken with a hex value ("0x").
    if has_hex or "err" in lowered or "exit" in lowered or "return" in lowered:
        hit = _first(_KEYWORD_CODE, lowered, _keyword_value)
        if hit is not None:
            found.append(hit)
    if not found:
        return None
    return min(found)[1]


def load_error_codes(path: Path = ERROR_CODES_PATH) -> dict[str, ErrorCode]:
    """Read the code table (tab separated: code, symbolic name or ``-``, hint; ``#`` comments)."""
    table: dict[str, ErrorCode] = {}
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 3 or not fields[2]:
            raise ValueError(f"{path}:{line_number}: expected code, name and hint separated by tabs")
        code = _parse_table_code(fields[0])
        if code is None:
            raise ValueError(f"{path}:{line_number}: {fields[0]!r} is not a 32-bit hex code like 0x80070005")
        table[code] = ErrorCode(code, None if fields[1] == "-" else fields[1], fields[2])
    return table


def _parse_table_code(text: str) -> str | None:
    if not re.fullmatch(r"0[xX][0-9A-Fa-f]{1,8}", text):
        return None
    return normalise_code(int(text, 16))


@lru_cache(maxsize=1)
def _code_table() -> dict[str, ErrorCode]:
    return load_error_codes()


def hint_for(code: str | None) -> str | None:
    """Short known cause of an `error.code` (any case of hex digits), else None."""
    if not code:
        return None
    normalised = _parse_table_code(code.strip())
    if normalised is None:
        return None
    entry = _code_table().get(normalised)
    return entry.hint if entry is not None else None
