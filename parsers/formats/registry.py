"""The one explicit list of format families, in detection order, and per-record detection.

Detection runs in two stages (plaso style): each family's cheap `matches` signature first, then
its strict `parse`; a record whose strict parse fails moves on to the next family. `plain` is last
and accepts everything, so every record is emitted.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from parsers.formats import cmtrace, legacy, plain, smsprov, smssetup
from parsers.formats.record import FormatContext, ParsedRecord

# Legacy first: nearly every record of a secondary's logs is one. A CMTrace record whose message
# quotes a legacy `$$<...>` trailer still ends in its own attributes, so the strict legacy parse
# (which wants the text to end at `<thread=...>`) rejects it and CMTrace gets it next.
FORMATS: tuple[ModuleType, ...] = (legacy, cmtrace, smssetup, smsprov, plain)

_Detector = tuple[Callable[[str], bool], Callable[[str, FormatContext], ParsedRecord | None]]
_LATER_DETECTORS: tuple[_Detector, ...] = tuple(
    (module.matches, module.parse) for module in FORMATS if module is not legacy
)


def parse_record(text: str, context: FormatContext) -> ParsedRecord:
    """The first family whose signature and strict parse both accept the text (`plain` at worst)."""
    # Legacy's strict parse looks for its trailer itself: its signature check would only repeat that.
    parsed = legacy.parse(text, context)
    if parsed is not None:
        return parsed
    for matches, parse in _LATER_DETECTORS:
        if matches(text):
            parsed = parse(text, context)
            if parsed is not None:
                return parsed
    return plain.parse(text, context)
