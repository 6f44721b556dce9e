"""The `bootwatch` console command: one subcommand per module in `bootwatch.commands`.

Each command module exposes `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`;
heavy imports stay inside `run` so `bootwatch ship` on a secondary never loads the central stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bootwatch import __version__
from bootwatch.errors import UserError

# Explicit registry, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "parse",
    "rules",
    "simulate",
    "replay",
    "setup",
    "queries",
    "dashboards",
    "alerts",
    "collect",
    "ship",
    "stats",
    "demo",
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line parser. When `argv` starts with a command name, only that command's module is
    imported (the others are listed by name only): importing every command costs more than a short
    `bootwatch parse` run. Anything else (`--help`, `--version`, a typo) builds the full parser."""
    requested = argv[0] if argv else None
    parser = argparse.ArgumentParser(
        prog="bootwatch",
        description="Find SMS / Configuration Manager secondary sites whose installs died silently.",
    )
    parser.add_argument("--version", action="version", version=f"bootwatch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        if requested in COMMAND_MODULES and module_name != requested:
            # Not the command being run: a bare entry keeps the list of choices complete.
            subparsers.add_parser(module_name)
            continue
        module = importlib.import_module(f"bootwatch.commands.{module_name}")
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments).parse_args(arguments)
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"bootwatch {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `bootwatch parse big.log | head` closes stdout early: not an error.
        sys.stderr.close()
        return 0
