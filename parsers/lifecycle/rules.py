"""Lifecycle rules: ordered pattern -> action rules, kept in a TOML data file admins extend without code.

`load_rules()` reads the defaults shipped in `parsers/data/rules.toml`; `load_rules(path)` reads an
admin file on top of them. An admin file has the same shape as the defaults, plus two top-level keys:

- its `[[rule]]` entries are tried before the defaults (first match wins), and an admin rule whose `id`
  equals a default's replaces that default;
- `disable = ["id", ...]` drops default rules by id;
- `replace_defaults = true` ignores the defaults: only the admin file's rules apply.

Every problem in a file (TOML syntax, unknown key, missing key, bad regex, unknown action, duplicate
id, an `example` its own rule does not match) raises `RulesError` with one line naming the file, the
rule (1-based index and id) and the problem; the command layer turns it into exit code 2.

`Rules.action_for` (what `classify(doc)` calls with a document's fields) runs on every record and
remembers its verdict per (message, logger, level, dataset). Most records match no rule, and even one
combined regex of all patterns costs tens of microseconds per record in Python's `re`; so each rule
carries the literal keywords any of its matches must contain (found from the parsed pattern, see
`_keywords`): a record containing none of them is dismissed with a few substring tests, a rule whose
keywords are missing is skipped without running its regex, and the rules are walked in order to honour
"first match wins" and the `logger` / `level` / `dataset` filters.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parsers.formats.record import UNSEEN, BoundedCache
from parsers.lifecycle._keywords import fold, gate, required_keywords
from parsers.vocabulary import LifecycleAction, LogLevel

ACTIONS: tuple[str, ...] = get_args(LifecycleAction)
LEVELS: tuple[str, ...] = get_args(LogLevel)
RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the problem."""


class RuleSpec(BaseModel):
    """One rule as written in a rules file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=RULE_ID_PATTERN, max_length=100, description="Unique rule name")
    action: LifecycleAction = Field(description="Lifecycle action a matching record gets")
    pattern: str = Field(min_length=1, description="Regex searched case-insensitively in the message")
    description: str = Field(min_length=1, description="What the marker means")
    logger: str | None = Field(None, min_length=1, description="Optional regex on log.logger (component)")
    level: LogLevel | list[LogLevel] | None = Field(None, description="Optional level or list of levels")
    dataset: str | None = Field(None, min_length=1, description="Optional regex on event.dataset")
    example: str | None = Field(None, description="A constructed message the rule must match")

    @field_validator("pattern", "logger", "dataset")
    @classmethod
    def _must_compile(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class RulesFile(BaseModel):
    """A whole rules file: the rules in order, plus how they combine with the defaults."""

    model_config = ConfigDict(extra="forbid")

    rule: list[dict[str, Any]] = Field(default_factory=list, description="The rules, in match order")
    replace_defaults: bool = Field(False, description="Ignore the default rules entirely")
    disable: list[str] = Field(default_factory=list, description="Ids of default rules to drop")


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
    def from_spec(cls, spec: RuleSpec) -> Rule:
        level = spec.level
        levels = None if level is None else frozenset([level] if isinstance(level, str) else level)
        return cls(
            id=spec.id,
            action=spec.action,
            regex=re.compile(spec.pattern, re.IGNORECASE),
            description=spec.description,
            logger=re.compile(spec.logger, re.IGNORECASE) if spec.logger else None,
            levels=levels,
            dataset=re.compile(spec.dataset, re.IGNORECASE) if spec.dataset else None,
            example=spec.example,
            keywords=required_keywords(spec.pattern),
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
        self._actions: BoundedCache[str | None] = BoundedCache()

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
        # The same message from the same component repeats line after line: each such combination
        # is judged once.
        key = (message, logger, level, dataset)
        action = self._actions.get(key, UNSEEN)
        if action is UNSEEN:
            rule = self._first_match(message, logger, level, dataset)
            return self._actions.remember(key, rule.action if rule is not None else None)
        return action  # type: ignore[return-value]

    def _first_match(self, message: str | None, logger: str | None, level: str | None,
                     dataset: str | None) -> Rule | None:
        if not message or not self.rules:
            return None
        folded = fold(message)
        if self._gate is not None:
            for keyword in self._gate:
                if keyword in folded:
                    break
            else:
                return None
        for rule in self.rules:
            for keyword_set in rule.keywords:
                if not _contains_any(folded, keyword_set):
                    break
            else:
                if rule.matches(message, logger, level, dataset):
                    return rule
        return None


def _contains_any(folded: str, keywords: frozenset[str]) -> bool:
    # A plain loop: `any()` over a generator costs a generator frame per record on this hot path.
    for keyword in keywords:  # noqa: SIM110
        if keyword in folded:
            return True
    return False


def default_rules_path() -> Path:
    """The default rules file shipped as package data."""
    return Path(str(resources.files("parsers") / "data" / "rules.toml"))


def load_rules(path: Path | None = None) -> Rules:
    """The default rules, or an admin file combined with them (see the module docstring)."""
    defaults_path = default_rules_path()
    defaults = _read_file(defaults_path)
    if path is None:
        return Rules(defaults.rules)
    admin = _read_file(Path(path))
    if admin.replace_defaults:
        return Rules(admin.rules)
    default_ids = {rule.id for rule in defaults.rules}
    for disabled in admin.disable:
        if disabled not in default_ids:
            raise RulesError(f"{path}: disable: no default rule has id '{disabled}'")
    dropped = set(admin.disable) | {rule.id for rule in admin.rules}
    return Rules([*admin.rules, *(rule for rule in defaults.rules if rule.id not in dropped)])


@dataclass(frozen=True, slots=True)
class _RulesFileContent:
    rules: list[Rule]
    replace_defaults: bool
    disable: list[str]


def _read_file(path: Path) -> _RulesFileContent:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RulesError(f"{path}: the rules file is not UTF-8 text") from None
    return _parse_text(text, source=str(path))


def _parse_text(text: str, source: str = "<rules>") -> _RulesFileContent:
    """Validate the text of one rules file (no merging with the defaults)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: TOML syntax error: {exc}") from None
    try:
        document = RulesFile.model_validate(raw)
    except ValidationError as exc:
        raise RulesError(f"{source}: {_top_level_problem(exc)}") from None
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(document.rule, start=1):
        name = _rule_name(index, entry)
        try:
            spec = RuleSpec.model_validate(entry)
        except ValidationError as exc:
            raise RulesError(f"{source}: {name}: {_rule_problems(exc)}") from None
        if spec.id in seen:
            raise RulesError(f"{source}: {name}: duplicate id (rule {seen[spec.id]} has it too)")
        seen[spec.id] = index
        rule = Rule.from_spec(spec)
        if rule.example is not None and rule.regex.search(rule.example) is None:
            raise RulesError(f"{source}: {name}: its pattern does not match its own example {rule.example!r}")
        rules.append(rule)
    return _RulesFileContent(rules, replace_defaults=document.replace_defaults, disable=document.disable)


def _rule_name(index: int, entry: object) -> str:
    rule_id = entry.get("id") if isinstance(entry, dict) else None
    return f"rule {index} (id '{rule_id}')" if isinstance(rule_id, str) else f"rule {index}"


def _rule_problems(exc: ValidationError) -> str:
    allowed = list(RuleSpec.model_fields)
    # An unknown key is usually a typo of a missing one: name it first, with the likely intent.
    errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
    problems = []
    for error in errors:
        key = ".".join(str(part) for part in error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(key, allowed, n=1)
            intent = f"did you mean '{close[0]}'? " if close else ""
            problems.append(f"unknown key '{key}' ({intent}allowed: {', '.join(allowed)})")
        elif kind == "missing":
            problems.append(f"missing required key '{key}'")
        elif key == "action":
            problems.append(f"unknown action {error.get('input')!r} (expected one of: {', '.join(ACTIONS)})")
        elif key.startswith("level"):
            problems.append(f"unknown level {error.get('input')!r} (expected one of: {', '.join(LEVELS)})")
        elif key == "id" and kind == "string_pattern_mismatch":
            problems.append("id may only hold letters, digits, '_', '.' and '-'")
        else:
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {message}")
    return "; ".join(dict.fromkeys(problems))


def _top_level_problem(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            hint = " (did you mean [[rule]]?)" if key in {"rules", "rule_", "Rule"} else ""
            problems.append(f"unknown top-level key '{key}'{hint} (allowed: rule, replace_defaults, disable)")
        else:
            problems.append(f"{key}: {error['msg']}")
    return "; ".join(dict.fromkeys(problems))
