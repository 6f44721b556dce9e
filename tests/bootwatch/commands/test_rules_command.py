"""`bootwatch rules check`: lists the rules in match order; a bad file is one line on stderr and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootwatch.cli import main
from parsers.lifecycle.rules import load_rules


def test_rules_check_lists_every_default_rule_in_match_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "rules OK" in lines[0]
    listed_ids = [line.split()[1] for line in lines[1:]]
    assert listed_ids == [rule.id for rule in load_rules().rules]


def test_rules_check_shows_an_admin_rule_before_the_defaults_with_its_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = tmp_path / "site-rules.toml"
    admin.write_text(
        '[[rule]]\nid = "our-wrapper-failed"\naction = "install.failed"\npattern = "wrapper gave up"\n'
        'logger = "^INSTALLWRAP$"\nlevel = "error"\ndescription = "Our install wrapper gave up"\n',
        encoding="utf-8",
    )
    assert main(["rules", "check", "--rules", str(admin)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{admin}: {len(load_rules()) + 1} rules OK")
    assert lines[1].split()[:3] == ["1", "our-wrapper-failed", "install.failed"]
    assert "[logger~/^INSTALLWRAP$/, level=error]" in lines[1]


def test_rules_check_on_a_bad_file_prints_one_line_naming_the_rule_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = tmp_path / "site-rules.toml"
    admin.write_text(
        '[[rule]]\nid = "broken"\naction = "install.failed"\npattern = "setup (failed"\ndescription = "d"\n',
        encoding="utf-8",
    )
    assert main(["rules", "check", "--rules", str(admin)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    expected = f"bootwatch rules: {admin}: rule 1 (id 'broken'): pattern: not a valid regular expression"
    assert line.startswith(expected)


def test_rules_check_on_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "--rules", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml: cannot read the rules file" in capsys.readouterr().err
