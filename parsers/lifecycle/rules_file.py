"""Validation of a rules file (the format is described in `parsers.lifecycle.rules`).

Kept apart from the matching so that parsing with the default rules never imports pydantic: only an
admin file (`load_rules(path)`) and the test suite's check of the defaults come here.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parsers.lifecycle.rules import Rule, RulesError
from parsers.vocabulary import LifecycleAction, LogLevel

ACTIONS: tuple[str, ...] = get_args(LifecycleAction)
LEVELS: tuple[str, ...] = get_args(LogLevel)
RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


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
class RulesFileContent:
    """A validated rules file: its compiled rules and how they combine with the defaults."""

    rules: list[Rule]
    replace_defaults: bool
    disable: list[str]


def read_rules_file(path: Path) -> RulesFileContent:
    """Read and validate one rules file (no merging with the defaults); `RulesError` names the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RulesError(f"{path}: the rules file is not UTF-8 text") from None
    return parse_rules_text(text, source=str(path))


def parse_rules_text(text: str, source: str = "<rules>") -> RulesFileContent:
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
        rule = Rule.compile(spec.model_dump())
        if rule.example is not None and rule.regex.search(rule.example) is None:
            raise RulesError(f"{source}: {name}: its pattern does not match its own example {rule.example!r}")
        rules.append(rule)
    return RulesFileContent(rules, replace_defaults=document.replace_defaults, disable=document.disable)
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
