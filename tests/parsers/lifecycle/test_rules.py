"""Lifecycle rules: the defaults classify real and constructed wording, admin files extend them, and a
bad rules file gives one message naming the rule and the problem."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.lifecycle.rules import Rule, Rules, RulesError, default_rules, default_rules_path, load_rules
from parsers.lifecycle.rules_file import read_rules_file

DEFAULTS = load_rules()


def record(
    message: str, *, logger: str | None = None, level: str = "info", dataset: str = "sms.setup"
) -> dict[str, Any]:
    """A `LogDocument`-shaped dict with the fields the rules look at."""
    return {
        "message": message,
        "event": {"dataset": dataset},
        "log": {"level": level, "logger": logger},
    }


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "admin-rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("rule", DEFAULTS.rules, ids=lambda rule: rule.id)
def test_each_default_rule_classifies_its_own_example_first(rule: Rule) -> None:
    assert rule.example, f"default rule {rule.id} needs an example"
    assert DEFAULTS.match(record(rule.example)) is rule
    assert DEFAULTS.classify(record(rule.example)) == rule.action


def test_defaults_cover_every_action() -> None:
    actions = {rule.action for rule in DEFAULTS.rules}
    assert actions == {"install.started", "install.progress", "install.failed", "install.succeeded",
                       "bootstrap.stopped"}


def test_transient_sql_server_retry_is_progress_not_failure() -> None:
    assert DEFAULTS.classify(record("Failed to connect to the SQL Server, retrying")) == "install.progress"
    assert DEFAULTS.classify(record("ERROR - Setup failed to copy smsexec.exe, will retry in 30 s")) == (
        "install.progress"
    )


@pytest.mark.parametrize(
    ("message", "action"),
    [
        # ConfigMgrSetup.log wording quoted in public install scripts and Microsoft articles
        ("\n===================== Failed Configuration Manager Server Setup =====================",
         "install.failed"),
        ("===================== Completed Configuration Manager Server Setup =====================",
         "install.succeeded"),
        ("Setup has encountered a fatal error during the installation", "install.failed"),
        ("Setup failed to download prerequisite components.", "install.failed"),
        ("Core setup has completed", "install.succeeded"),
        ("*** Failed to connect to the SQL Server, connection type: SMS ACCESS.", None),
        ("******* Prerequisite checking is completed. *******", None),
        # Site Component Manager's bootstrap operations (KB Q227010) are not the secondary's Bootstrap
        ("Starting bootstrap operations...", None),
        ("Bootstrap operations aborted.", None),
        ("Starting bootstrap, install purpose is DEINSTALL", None),
        # Design / issue wording
        ("SMS_BOOTSTRAP service started", "install.started"),
        ("Bootstrap service started, reading C:\\SMS_BOOTSTRAP\\bootstrap.ini", "install.started"),
        ("ERROR - Setup failed, Win32 error = 5", "install.failed"),
        ("Setup failed with error 0x80070005", "install.failed"),
        ("SMS_BOOTSTRAP service stopping", "bootstrap.stopped"),
        ("SMS_SITE_COMPONENT_MANAGER started", "install.succeeded"),
        ("Installation completed", "install.succeeded"),
        ("ERROR: Prerequisite check failed", "install.failed"),
        ("SEC01;  Free disk space on site server;  Error;  15 GB are required.", "install.failed"),
        ("SEC01;  Free disk space on site server;  Passed", None),
        # Sub-steps and look-alikes that are not lifecycle markers
        ("SQL Server Express installation completed", None),
        ("Installation completed with errors", None),
        ("Starting service SMS_EXECUTIVE", None),
        ("Copying D:\\SMS_BOOTSTRAP\\x86\\smsexec.exe failed, error 32", None),  # a path, not the service
        ("Bootstrap: failed to read bootstrap.ini", "install.failed"),
        ("Processing file D:\\SMS\\inboxes\\hman.box\\S02.SCU", None),
        # case-insensitive, and non-ASCII text around the marker
        ("SETUP HAS ENCOUNTERED FATAL ERRORS", "install.failed"),
        ("Setup failed — Zugriff verweigert (Win32 error = 5)", "install.failed"),
    ],
)
def test_default_rules_classify_real_and_look_alike_wording(message: str, action: str | None) -> None:
    assert DEFAULTS.classify(record(message)) == action


def test_a_record_without_a_message_gets_no_action() -> None:
    assert DEFAULTS.classify({"log": {"level": "error"}}) is None
    assert DEFAULTS.classify(record("")) is None


_FRAGMENTS = st.sampled_from(
    ["setup ", "failed", "Setup has started", "bootstrap", "BOOTSTRAP service stopped", "retrying", "error",
     ";", " Error;", "installation completed", "\n", "~", "ſ", "İ", "K", "ı", "Ω", "core setup has completed",
     "sms_executive started", "prerequisite check failed", "<< starting configuration manager setup >>"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_FRAGMENTS, st.text(max_size=6)), max_size=8).map("".join))
def test_keyword_gate_never_hides_a_rule_the_regexes_would_match(message: str) -> None:
    expected = next((rule for rule in DEFAULTS.rules if rule.regex.search(message)), None)
    assert DEFAULTS.match(record(message)) is expected


_WORDS = ["setup", "failed", "bootstrap", "service", "error", "retry", "stopped", "site", "started", "abc"]
_PATTERN_PIECES = st.one_of(
    st.sampled_from(_WORDS),
    st.lists(st.sampled_from(_WORDS), min_size=2, max_size=3).map(lambda words: f"(?:{'|'.join(words)})"),
    st.sampled_from([r"\s+", ".*", r"\d+", " ", "s?"]),
)
_RULE_SETS = st.lists(
    st.lists(_PATTERN_PIECES, min_size=1, max_size=4).map("".join), min_size=1, max_size=12
)
_MESSAGE_PIECES = st.one_of(st.sampled_from([*_WORDS, " ", "1", "SETUP", "Bootstrap"]), st.text(max_size=3))
# A record without a message gets no action whatever the rules (see above).
_MESSAGES = st.lists(_MESSAGE_PIECES, max_size=10).map("".join).filter(bool)


@settings(max_examples=200, deadline=None)
@given(_RULE_SETS, st.lists(_MESSAGES, min_size=1, max_size=10))
def test_any_rule_set_walks_every_rule_that_could_match(patterns: list[str], messages: list[str]) -> None:
    rules = Rules([
        Rule.compile({"id": f"r{number}", "action": "install.progress", "pattern": text, "description": "-"})
        for number, text in enumerate(patterns)
    ])
    for message in messages:  # several messages: the walked rules are remembered per gate keywords held
        expected = next((rule for rule in rules.rules if rule.regex.search(message)), None)
        assert rules.match(record(message)) is expected


def test_admin_rules_come_before_the_defaults(tmp_path: Path) -> None:
    path = write_rules(tmp_path, """
[[rule]]
id = "benign-setup-failure"
action = "install.progress"
pattern = 'setup failed to register the optional WMI provider'
description = "A failure our sites always log and recover from"
example = "Setup failed to register the optional WMI provider"
""")
    rules = load_rules(path)
    assert rules.rules[0].id == "benign-setup-failure"
    assert len(rules) == len(DEFAULTS) + 1
    assert rules.classify(record("Setup failed to register the optional WMI provider")) == "install.progress"
    assert rules.classify(record("Setup failed, Win32 error = 5")) == "install.failed"


def test_an_admin_rule_with_a_default_id_replaces_that_default(tmp_path: Path) -> None:
    path = write_rules(tmp_path, """
[[rule]]
id = "executive-started"
action = "install.progress"
pattern = 'sms_executive started'
description = "Our images start SMS_EXECUTIVE before setup finishes"
""")
    rules = load_rules(path)
    assert len(rules) == len(DEFAULTS)
    assert [rule.id for rule in rules.rules].count("executive-started") == 1
    assert rules.classify(record("SMS_EXECUTIVE started")) == "install.progress"


def test_disable_drops_default_rules_and_replace_defaults_ignores_them(tmp_path: Path) -> None:
    disabled = load_rules(write_rules(tmp_path, 'disable = ["transient-retry"]\n'))
    assert "transient-retry" not in {rule.id for rule in disabled.rules}
    assert disabled.classify(record("Failed to connect to the SQL Server, retrying")) is None

    only_admin = load_rules(write_rules(tmp_path, """
replace_defaults = true
[[rule]]
id = "our-start"
action = "install.started"
pattern = 'kickoff'
description = "Our wrapper's start line"
"""))
    assert [rule.id for rule in only_admin.rules] == ["our-start"]
    assert only_admin.classify(record("Setup failed, Win32 error = 5")) is None


def test_an_empty_rule_set_classifies_nothing(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, "replace_defaults = true\n"))
    assert len(rules) == 0
    assert rules.classify(record("Setup failed, Win32 error = 5")) is None


def test_logger_level_and_dataset_filters_restrict_a_rule(tmp_path: Path) -> None:
    path = write_rules(tmp_path, """
replace_defaults = true
[[rule]]
id = "prereq-error"
action = "install.failed"
pattern = 'check'
logger = '^configuration manager setup$'
level = ["error", "warning"]
dataset = 'setup'
description = "Setup's own prerequisite errors"
""")
    rules = load_rules(path)
    matching: dict[str, Any] = {
        "logger": "Configuration Manager Setup", "level": "error", "dataset": "sms.setup"
    }
    assert rules.classify(record("check failed", **matching)) == "install.failed"
    assert rules.classify(record("check failed", **{**matching, "logger": "SMS_EXECUTIVE"})) is None
    assert rules.classify(record("check failed", **{**matching, "logger": None})) is None
    assert rules.classify(record("check failed", **{**matching, "level": "info"})) is None
    assert rules.classify(record("check failed", **{**matching, "dataset": "sms.bootstrap"})) is None


def test_a_pattern_that_uses_backreferences_still_works(tmp_path: Path) -> None:
    path = write_rules(tmp_path, r"""
[[rule]]
id = "repeated-word"
action = "install.progress"
pattern = '\b(\w+) \1 retry\b'
description = "A contrived pattern with a backreference"
example = "copy copy retry"
""")
    assert load_rules(path).classify(record("copy copy retry")) == "install.progress"


BAD_FILES = {
    "toml-syntax": ('[[rule]]\nid = "x\n', "TOML syntax error"),
    "unknown-key": (
        '[[rule]]\nid = "a"\naction = "install.failed"\npattern = "x"\ndescription = "d"\n'
        '[[rule]]\nid = "typo"\naction = "install.failed"\npatern = "x"\ndescription = "d"\n',
        "rule 2 (id 'typo'): unknown key 'patern'",
    ),
    "bad-regex": (
        '[[rule]]\nid = "broken"\naction = "install.failed"\npattern = "setup (failed"\ndescription = "d"\n',
        "rule 1 (id 'broken'): pattern: not a valid regular expression",
    ),
    "bad-logger-regex": (
        '[[rule]]\nid = "broken"\naction = "install.failed"\npattern = "x"\nlogger = "["\n'
        'description = "d"\n',
        "rule 1 (id 'broken'): logger: not a valid regular expression",
    ),
    "unknown-action": (
        '[[rule]]\nid = "done"\naction = "install.done"\npattern = "x"\ndescription = "d"\n',
        "rule 1 (id 'done'): unknown action 'install.done' (expected one of: install.started",
    ),
    "unknown-level": (
        '[[rule]]\nid = "lvl"\naction = "install.failed"\npattern = "x"\nlevel = "fatal"\n'
        'description = "d"\n',
        "rule 1 (id 'lvl'): unknown level 'fatal'",
    ),
    "missing-key": (
        '[[rule]]\nid = "nopattern"\naction = "install.failed"\ndescription = "d"\n',
        "rule 1 (id 'nopattern'): missing required key 'pattern'",
    ),
    "missing-id": (
        '[[rule]]\naction = "install.failed"\npattern = "x"\ndescription = "d"\n',
        "rule 1: missing required key 'id'",
    ),
    "duplicate-id": (
        '[[rule]]\nid = "twice"\naction = "install.failed"\npattern = "x"\ndescription = "d"\n'
        '[[rule]]\nid = "twice"\naction = "install.started"\npattern = "y"\ndescription = "d"\n',
        "rule 2 (id 'twice'): duplicate id (rule 1 has it too)",
    ),
    "example-mismatch": (
        '[[rule]]\nid = "ex"\naction = "install.failed"\npattern = "fatal"\ndescription = "d"\n'
        'example = "all good"\n',
        "rule 1 (id 'ex'): its pattern does not match its own example 'all good'",
    ),
    "bad-id": (
        '[[rule]]\nid = "has space"\naction = "install.failed"\npattern = "x"\ndescription = "d"\n',
        "rule 1 (id 'has space'): id may only hold",
    ),
    "rules-instead-of-rule": (
        '[[rules]]\nid = "x"\naction = "install.failed"\npattern = "x"\ndescription = "d"\n',
        "unknown top-level key 'rules' (did you mean [[rule]]?)",
    ),
    "disable-unknown": ('disable = ["no-such-rule"]\n', "disable: no default rule has id 'no-such-rule'"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_a_bad_rules_file_gives_one_line_naming_the_rule_and_the_problem(tmp_path: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    path = write_rules(tmp_path, text)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_a_missing_rules_file_is_a_rules_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(RulesError, match=re.escape(f"{missing}: cannot read the rules file")):
        load_rules(missing)


def test_the_default_rules_file_is_package_data() -> None:
    path = default_rules_path()
    assert path.name == "rules.toml" and path.is_file()
    assert isinstance(load_rules(None), Rules)


def test_the_defaults_pass_every_check_an_admin_file_gets_and_compile_alike() -> None:
    # `default_rules()` trusts the shipped file: this is the check it relies on.
    validated = read_rules_file(default_rules_path())
    assert not validated.replace_defaults and not validated.disable
    assert validated.rules == default_rules()
    assert len(validated.rules) >= 10


def test_loading_the_default_rules_does_not_import_pydantic() -> None:
    # pydantic's import costs more than parsing thousands of records: `bootwatch parse` skips it.
    probe = ("import sys; from parsers.lifecycle.rules import load_rules; load_rules(); "
             "print('pydantic' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[3])
    assert result.stdout.strip() == "False"


def test_classify_judges_each_message_with_its_own_logger_level_and_dataset(tmp_path: Path) -> None:
    path = write_rules(tmp_path, """
replace_defaults = true

[[rule]]
id = "executive-error"
action = "install.failed"
pattern = 'could not start'
description = "Only the executive's errors in setup logs count"
logger = '^SMS_EXECUTIVE$'
level = "error"
dataset = '^sms\\.setup$'
example = "Component could not start"
""")
    rules = load_rules(path)
    message = "Component could not start"
    # The same message, asked again and again with one field changed each time: a remembered answer
    # for one combination must never serve another.
    for _ in range(2):
        assert rules.classify(record(message, logger="SMS_EXECUTIVE", level="error")) == "install.failed"
        assert rules.classify(record(message, logger="SMS_DESPOOLER", level="error")) is None
        assert rules.classify(record(message, logger="SMS_EXECUTIVE", level="warning")) is None
        assert rules.classify(record(message, logger="SMS_EXECUTIVE", level="error",
                                     dataset="sms.hman")) is None
