"""Required literal keywords of a regex: a cheap `in` test that rules out most records before any regex runs.

A record matches no rule in the common case; Python's `re` has no multi-pattern literal scan, so
searching even one combined alternation of all rule patterns costs tens of microseconds per record.
Every default pattern contains text that any match must contain ("bootstrap", "setup ", "retrying"...):
`required_keywords(pattern)` finds such a set (any one of them must be present) from the parsed
pattern, and `fold` lower-cases a message so a plain substring test agrees with `re.IGNORECASE`.

Uses the standard library's regex parser (`re._parser`, Python 3.11+). When it is unavailable or a
pattern has no usable literal, `required_keywords` returns None and the rule is simply always tried.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

try:
    from re import _constants as sre_constants
    from re import _parser as sre_parser
except ImportError:  # a Python without the private parser: no keywords, every rule is always tried
    sre_parser = None
    sre_constants = None

# Non-ASCII characters that `re.IGNORECASE` matches to an ASCII letter but `str.lower()` leaves alone.
_IGNORECASE_ASCII_TWINS = str.maketrans({"ſ": "s", "ı": "i", "İ": "i", "K": "k"})

# A keyword shorter than this rules out too little to be worth a substring test.
MIN_KEYWORD_CHARS = 3


def fold(message: str) -> str:
    """Lower-case a message so `keyword in fold(message)` holds whenever a case-insensitive regex
    requiring that keyword could match it."""
    if message.isascii():
        return message.lower()
    return message.translate(_IGNORECASE_ASCII_TWINS).lower()


def required_keywords(pattern: str) -> frozenset[str] | None:
    """Lower-case ASCII strings, one of which every match of `pattern` contains; None if unknown."""
    if sre_parser is None:
        return None
    try:
        parsed = sre_parser.parse(pattern, re.IGNORECASE)
    except re.error:
        return None
    return _best(_candidates(parsed))


def _candidates(items: Iterable[tuple[Any, Any]]) -> list[frozenset[str]]:
    """Each candidate is an any-of set that a match of this sequence must contain."""
    assert sre_constants is not None
    found: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            found.append(frozenset(["".join(run).lower()]))
            run.clear()

    for op, arg in items:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        close_run()
        if op is sre_constants.SUBPATTERN:
            _add(found, _best(_candidates(arg[-1])))
        elif op is sre_constants.ATOMIC_GROUP:
            _add(found, _best(_candidates(arg)))
        elif op is sre_constants.BRANCH:
            alternatives = [_best(_candidates(alternative)) for alternative in arg[1]]
            if all(alternatives):
                _add(found, frozenset().union(*alternatives))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            minimum, _maximum, body = arg
            if minimum >= 1:
                _add(found, _best(_candidates(body)))
    close_run()
    return found


def _add(found: list[frozenset[str]], candidate: frozenset[str] | None) -> None:
    if candidate:
        found.append(candidate)


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    """The most selective usable candidate: longest shortest keyword, then fewest keywords."""
    usable = [
        candidate
        for candidate in candidates
        if all(keyword.isascii() and len(keyword) >= MIN_KEYWORD_CHARS for keyword in candidate)
    ]
    if not usable:
        return None
    return max(usable, key=lambda candidate: (min(map(len, candidate)), -len(candidate)))


def gate(keyword_sets: Iterable[frozenset[str] | None]) -> tuple[str, ...] | None:
    """The fewest keywords such that a message containing none of them matches no rule; None when
    some rule has no keywords (then every message has to be tried)."""
    keywords: set[str] = set()
    for keyword_set in keyword_sets:
        if keyword_set is None:
            return None
        keywords |= keyword_set
    # A keyword containing a shorter keyword is implied by it: keep only the shortest forms.
    minimal = [k for k in keywords if not any(other != k and other in k for other in keywords)]
    return tuple(sorted(minimal, key=len))
