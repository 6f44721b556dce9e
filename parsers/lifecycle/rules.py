"""Lifecycle rules: ordered pattern -> action rules, kept in a TOML data file admins extend without code.

`load_rules()` reads the defaults shipped in `parsers/data/rules.toml`; `load_rules(path)` reads an
admin file on top of them. An admin file has the same shape as the defaults, plus two top-level keys:

- its `[[rule]]` entries are tried before the defaults (first match wins), and an admin rule whose `id`
  equals a default's replaces that default;
- `disable = ["id", ...]` drops default rules by id;
- `replace_defaults = true` ignores the defaults: only the admin file's rules apply.

Every problem in a file (TOML syntax, unknown key, missing key, bad regex, unknown action, duplicate
id, an `example` its own rule does not match) raises `RulesError` with one line naming the file, the
rule (1-based index and id) and the problem; the command layer turns it into exit code 2. Those checks
live in `parsers.lifecycle.rules_file` (pydantic models); the shipped defaults are compiled without
them, since the test suite holds the defaults to the same checks.

`Rules.action_for` (what `classify(doc)` calls with a document's fields) judges each new message;
the document builder remembers its verdict per message, logger, level and dataset. Most records
match no rule, and even one combined regex of all patterns costs tens of microseconds per record in
Python's `re`; so each rule carries the literal keywords any of its matches must contain (found
from the parsed pattern, see `_keywords`): a record containing none of them is dismissed with a few
substring tests; otherwise only the rules behind the gate keywords it holds are walked, in order to
honour "first match wins" and the `logger` / `level` / `dataset` filters, and a rule whose keywords
are missing is skipped without running its regex.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from parsers.lifecycle._keywords import fold, gate, required_keywords

# Distinct sets of gate keywords whose rules to walk are remembered (messages hold a few dozen at most).
_MAX_REMEMBERED_COMBINATIONS = 4096


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the problem."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated, compiled rule."""

    id: str
    action: str
    regex: re.Pattern[str]
    description: str
    logger: re.Pattern[str] | None
    levels: frozenset[str] | None
    dataset: re.Pattern[str] | None
    example: str | None
    keywords: tuple[frozenset[str], ...]  # each set: one of its keywords must be in the folded message

    @classmethod
    def compile(cls, fields: Mapping[str, Any]) -> Rule:
        """A rule from one `[[rule]]` entry that is known to be valid (see `parsers.lifecycle.rules_file`)."""
        level = fields.get("level")
        levels = None if level is None else frozenset([level] if isinstance(level, str) else level)
        logger, dataset = fields.get("logger"), fields.get("dataset")
        return cls(
            id=fields["id"],
            action=fields["action"],
            regex=re.compile(fields["pattern"], re.IGNORECASE),
            description=fields["description"],
            logger=re.compile(logger, re.IGNORECASE) if logger else None,
            levels=levels,
            dataset=re.compile(dataset, re.IGNORECASE) if dataset else None,
            example=fields.get("example"),
            keywords=required_keywords(fields["pattern"]),
        )

    def matches(self, message: str, logger: str | None, level: str | None, dataset: str | None) -> bool:
        if self.levels is not None and level not in self.levels:
            return False
        if self.logger is not None and (logger is None or self.logger.search(logger) is None):
            return False
        if self.dataset is not None and (dataset is None or self.dataset.search(dataset) is None):
            return False
        return self.regex.search(message) is not None


class Rules:
    """An ordered rule set; `classify` gives the action of the first rule a document matches."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._gate = gate(rule.keywords for rule in self.rules)
        # Gate keyword -> the rules one of whose keywords contains it. A rule can match only if one
        # of the gate keywords its keywords contain is in the message (the gate is built that way),
        # so the gate keywords a message holds name every rule worth walking.
        self._rules_behind: dict[str, frozenset[int]] = {
            gate_keyword: frozenset(
                index for index, rule in enumerate(self.rules)
                if any(gate_keyword in keyword for keyword_set in rule.keywords for keyword in keyword_set)
            )
            for gate_keyword in self._gate or ()
        }
        # The gate keywords a message holds -> the rules to walk, in order (few distinct combinations).
        self._candidates: dict[tuple[str, ...], tuple[Rule, ...]] = {}

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, doc: Mapping[str, Any]) -> Rule | None:
        """The first rule that matches a `LogDocument`-shaped dict, or None."""
        log = doc.get("log") or {}
        return self._first_match(doc.get("message"), log.get("logger"), log.get("level"),
                                 (doc.get("event") or {}).get("dataset"))

    def classify(self, doc: Mapping[str, Any]) -> str | None:
        """The lifecycle action (`event.action`) for a `LogDocument`-shaped dict, or None."""
        log = doc.get("log") or {}
        return self.action_for(doc.get("message"), log.get("logger"), log.get("level"),
                               (doc.get("event") or {}).get("dataset"))

    def action_for(self, message: str | None, logger: str | None, level: str | None,
                   dataset: str | None) -> str | None:
        """`classify` given the four fields a rule reads (the stream parser has them at hand)."""
        rule = self._first_match(message, logger, level, dataset)
        return rule.action if rule is not None else None

    def _first_match(self, message: str | None, logger: str | None, level: str | None,
                     dataset: str | None) -> Rule | None:
        if not message or not self.rules:
            return None
        folded = fold(message)
        candidates = self.rules
        if self._gate is not None:
            held: list[str] = []
            for keyword in self._gate:
                if keyword in folded:
                    held.append(keyword)
            if not held:
                return None
            key = tuple(held)
            candidates = self._candidates.get(key) or self._candidates_for(key)
        # Plain loops, no helper or `any()`: a call per test cost more than the tests.
        for rule in candidates:
            for keyword_set in rule.keywords:
                for keyword in keyword_set:
                    if keyword in folded:
                        break
                else:
                    break  # none of this set's keywords: not this rule
            else:
                if rule.matches(message, logger, level, dataset):
                    return rule
        return None

    def _candidates_for(self, held: tuple[str, ...]) -> tuple[Rule, ...]:
        indexes = frozenset().union(*(self._rules_behind[keyword] for keyword in held))
        candidates = tuple(self.rules[index] for index in sorted(indexes))
        if len(self._candidates) < _MAX_REMEMBERED_COMBINATIONS:
            self._candidates[held] = candidates
        return candidates


def default_rules_path() -> Path:
    """The default rules file shipped as package data."""
    return Path(str(resources.files("parsers") / "data" / "rules.toml"))


def load_rules(path: Path | None = None) -> Rules:
    """The default rules, or an admin file combined with them (see the module docstring)."""
    defaults = default_rules()
    if path is None:
        return Rules(defaults)
    # Validating a file needs pydantic, whose import alone costs more than parsing thousands of
    # records: it is paid only when an admin file is given.
    from parsers.lifecycle.rules_file import read_rules_file

    admin = read_rules_file(Path(path))
    if admin.replace_defaults:
        return Rules(admin.rules)
    default_ids = {rule.id for rule in defaults}
    for disabled in admin.disable:
        if disabled not in default_ids:
            raise RulesError(f"{path}: disable: no default rule has id '{disabled}'")
    dropped = set(admin.disable) | {rule.id for rule in admin.rules}
    return Rules([*admin.rules, *(rule for rule in defaults if rule.id not in dropped)])


def default_rules() -> list[Rule]:
    """The shipped default rules, compiled without validation: they are package data, and the test
    suite validates them with the same checks as an admin file (`rules_file.read_rules_file`)."""
    entries = tomllib.loads(default_rules_path().read_text(encoding="utf-8"))["rule"]
    return [Rule.compile(entry) for entry in entries]
