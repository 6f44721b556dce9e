"""Required literal keywords of a regex: a cheap `in` test that rules out most records before any regex runs.

A record matches no rule in the common case; Python's `re` has no multi-pattern literal scan, so
searching even one combined alternation of all rule patterns costs tens of microseconds per record.
Every default pattern contains text that any match must contain ("bootstrap" and "fail", "setup " and
"failed", "retrying"...): `required_keywords(pattern)` finds those requirements from the parsed pattern
(each an any-of set; all sets must be satisfied), and `fold` lower-cases a message so a plain substring
test agrees with `re.IGNORECASE`. Requiring every set matters: Bootstrap logs name `SMS_BOOTSTRAP\\` folder
paths on most lines, so "bootstrap" alone would let most of them through to the regexes.

Uses the standard library's regex parser (`re._parser`, Python 3.11+). When it is unavailable or a
pattern has no usable literal, `required_keywords` returns no requirement and the rule is always tried.
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

# Non-ASCII characters that `re.IGNORECASE` matches to an ASCII letter, as `str.lower()` leaves them
# (the Kelvin sign already lowers to "k"; "İ" lowers to "i" plus a combining dot).
_IGNORECASE_ASCII_TWINS = (("ſ", "s"), ("ı", "i"), ("i\u0307", "i"))

# A keyword shorter than this rules out too little to be worth a substring test.
MIN_KEYWORD_CHARS = 3


def fold(message: str) -> str:
    """Lower-case a message so `keyword in fold(message)` holds whenever a case-insensitive regex
    requiring that keyword could match it."""
    folded = message.lower()
    if message.isascii():
        return folded
    for twin, ascii_letter in _IGNORECASE_ASCII_TWINS:
        if twin in folded:
            folded = folded.replace(twin, ascii_letter)
    return folded


def required_keywords(pattern: str) -> tuple[frozenset[str], ...]:
    """Requirements every match of `pattern` meets: each an any-of set of lower-case ASCII strings, the
    most selective first. Empty when none is known (the pattern then has to be tried on every record)."""
    if sre_parser is None:
        return ()
    try:
        parsed = sre_parser.parse(pattern, re.IGNORECASE)
    except re.error:
        return ()
    usable = {candidate for candidate in _candidates(parsed) if _usable(candidate)}
    return tuple(sorted(usable, key=_selectivity, reverse=True))


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


def _usable(candidate: frozenset[str]) -> bool:
    return all(keyword.isascii() and len(keyword) >= MIN_KEYWORD_CHARS for keyword in candidate)


def _selectivity(candidate: frozenset[str]) -> tuple[int, int, tuple[str, ...]]:
    """Longer shortest keyword first, then fewer alternatives (ties broken by text, for stable order)."""
    return min(map(len, candidate)), -len(candidate), tuple(sorted(candidate))


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    """The most selective usable candidate, for a group or an alternative inside a pattern."""
    usable = [candidate for candidate in candidates if _usable(candidate)]
    return max(usable, key=_selectivity) if usable else None


def gate(requirements: Iterable[tuple[frozenset[str], ...]]) -> tuple[str, ...] | None:
    """The fewest keywords such that a message containing none of them matches no rule; None when
    some rule has no requirement (then every message has to be tried)."""
    per_rule = list(requirements)
    if not all(per_rule):
        return None
    # Any one requirement of a rule will do; its most selective one by default, but one whose keywords
    # the other rules' choices already imply adds no test (every chosen set ends up in the gate, so
    # the gate stays sound whatever is chosen).
    chosen = [rule_requirements[0] for rule_requirements in per_rule]
    for index, rule_requirements in enumerate(per_rule):
        others = [keyword for other, requirement in enumerate(chosen) if other != index
                  for keyword in requirement]
        for requirement in rule_requirements:
            if all(any(short in keyword for short in others) for keyword in requirement):
                chosen[index] = requirement
                break
    keywords: set[str] = set().union(*chosen)
    # A keyword containing a shorter keyword is implied by it: keep only the shortest forms.
    minimal = [k for k in keywords if not any(other != k and other in k for other in keywords)]
    return tuple(sorted(minimal, key=len))
