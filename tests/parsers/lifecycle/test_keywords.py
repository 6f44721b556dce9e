"""Required keywords of a pattern: only text every match contains, so the cheap substring gate never
hides a match."""

from __future__ import annotations

import re

import pytest

from parsers.lifecycle._keywords import fold, gate, required_keywords


def test_literal_runs_are_required_and_optional_parts_are_not() -> None:
    requirements = required_keywords(r"\b(sms_)?bootstrap( service)? (has )?started\b")
    assert frozenset({"bootstrap"}) in requirements
    assert frozenset({"started"}) in requirements
    assert all("sms_" not in keyword and "service" not in keyword for req in requirements for keyword in req)


def test_an_alternation_requires_one_of_its_branches() -> None:
    assert required_keywords(r"will retry|retrying") == (frozenset({"will retry", "retrying"}),)


def test_a_pattern_without_a_usable_literal_has_no_requirement() -> None:
    assert required_keywords(r"^\d+;[a-z]+$") == ()
    assert required_keywords(r"ab|setup") == ()  # "ab" is too short to be worth a test
    assert gate([(frozenset({"setup"}),), ()]) is None


def test_the_gate_keeps_only_the_shortest_forms() -> None:
    assert gate([(frozenset({"bootstrap"}),), (frozenset({"bootstrap is exiting"}),)]) == ("bootstrap",)


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("SETUP FAILED", r"setup failed"),
        ("\u017fetup failed", r"setup failed"),  # long s
        ("setup fa\u0131led", r"setup failed"),  # dotless i
        ("\u0130nstalling secondary site", r"installing secondary site"),  # capital I with dot
        ("\u212aB started", r"kb started"),  # Kelvin sign
    ],
)
def test_fold_keeps_every_keyword_a_case_insensitive_regex_sees(message: str, pattern: str) -> None:
    assert re.search(pattern, message, re.IGNORECASE)
    folded = fold(message)
    for requirement in required_keywords(pattern):
        assert any(keyword in folded for keyword in requirement)
