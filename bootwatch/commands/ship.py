"""`bootwatch ship`: run the shipper on a secondary site server (see `shippers/`)."""

from __future__ import annotations

import argparse

from bootwatch.errors import UserError

NAME = "ship"
HELP = ("Follow the Bootstrap and setup logs on this secondary and ship every record to the collectors "
        "(--check: validate the config and list the files).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from shippers.cli import add_arguments as add_shipper_arguments

    add_shipper_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from shippers import cli
    from shippers.checkpoint import StateError
    from shippers.config import ConfigError

    try:
        return cli.run(args)
    except (ConfigError, StateError) as exc:
        raise UserError(str(exc)) from None
