"""`bootwatch replay DIR`: backfill a folder of site logs (parse, index, lifecycle), then show each state.

The folder has the layout `bootwatch simulate` writes: one sub-folder per site (`DIR/<SITE>/...`),
optionally with a `site.json` naming the site's code, host and host zone. Each site's files are parsed
(`.lo_` before its `.log`) and merged in time order, so the lifecycle tracker sees the site's records as
they happened; every record is indexed idempotently (a second replay indexes nothing twice), and every
install attempt is judged as of `--as-of` (default: the end of the data, so logs from 2002 are judged
as of 2002) and stored in `bootwatch-sites`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parsers.store.connect import add_store_arguments

NAME = "replay"
HELP = "Backfill a folder of site logs (DIR/<SITE>/...) into the store and print each site's install state."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", type=Path, help="Folder with one sub-folder per site")
    parser.add_argument(
        "--as-of",
        metavar="ISO-TIME",
        help="Judge the attempts as of this UTC time (2002-10-27T12:00:00Z); default: the end of the data",
    )
    parser.add_argument("--json", action="store_true", help="Print a JSON list (one object per site)")
    parser.add_argument(
        "--timezone",
        metavar="ZONE",
        help="Zone of records that carry none, for site folders without a site.json naming one "
        "(IANA or Windows zone name). Default: UTC",
    )
    parser.add_argument(
        "--stall-window",
        metavar="DURATION",
        default="2h",
        help="Silence after which an unfinished attempt is stalled: 90m, 2h, 1d (default 2h)",
    )
    parser.add_argument(
        "--rules",
        metavar="FILE",
        type=Path,
        help="Lifecycle rules file (TOML) applied on top of the defaults",
    )
    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bootwatch.commands._replay import ReplayOptions, replay_folder

    options = ReplayOptions.from_args(args)
    outcome = replay_folder(options, args)
    if args.json:
        sys.stdout.write(outcome.to_json() + "\n")
    else:
        outcome.print_table()
    return 2 if outcome.unreadable else 0
