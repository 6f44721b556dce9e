"""`bootwatch rules check`: validate a lifecycle rules file and list the rules in match order."""

from __future__ import annotations

import argparse
from pathlib import Path

from bootwatch.errors import UserError

NAME = "rules"
HELP = "Check lifecycle rules (the default rules, or an admin rules file on top of them) and list them."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="Validate the rules and list them in match order (first match wins); exit 2 on a bad file",
        description="Validate the rules and list them in match order (first match wins). An admin file's "
                    "[[rule]] entries come before the defaults; `disable = [ids]` drops defaults; "
                    "`replace_defaults = true` ignores them.",
    )
    check.add_argument(
        "--rules", metavar="FILE", type=Path,
        help="Admin rules file (TOML) to check together with the defaults (default: the defaults only)",
    )


def run(args: argparse.Namespace) -> int:
    from parsers.lifecycle.rules import RulesError, default_rules_path, load_rules

    try:
        rules = load_rules(args.rules)
    except RulesError as exc:
        raise UserError(str(exc)) from None
    source = args.rules if args.rules is not None else default_rules_path()
    print(f"{source}: {len(rules)} rules OK, in match order (first match wins):")
    id_width = max((len(rule.id) for rule in rules.rules), default=2)
    for number, rule in enumerate(rules.rules, start=1):
        filters = []
        if rule.logger is not None:
            filters.append(f"logger~/{rule.logger.pattern}/")
        if rule.levels is not None:
            filters.append("level=" + "|".join(sorted(rule.levels)))
        if rule.dataset is not None:
            filters.append(f"dataset~/{rule.dataset.pattern}/")
        suffix = f"  [{', '.join(filters)}]" if filters else ""
        print(f"{number:3d}  {rule.id:<{id_width}}  {rule.action:<17}  {rule.description}{suffix}")
    return 0
