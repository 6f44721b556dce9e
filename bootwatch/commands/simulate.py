"""`bootwatch simulate`: write a simulated fleet of secondary-site logs and the truth about each site."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from bootwatch.errors import UserError

NAME = "simulate"
HELP = "Write realistic Bootstrap, setup and component logs for a fleet of secondary sites, plus truth.json."

_START_EXAMPLE = "2002-10-25T06:00:00Z"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sites", metavar="N", type=int, required=True, help="Number of secondary sites")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        required=True,
        help="Folder to create (or an empty one): DIR/<SITE>/... and DIR/truth.json",
    )
    parser.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=1,
        help="Random seed; the same arguments always write the same bytes (default: 1)",
    )
    parser.add_argument(
        "--start",
        metavar="ISO-TIME",
        help=f"Start of the simulated data, e.g. {_START_EXAMPLE} (no zone: UTC). Before 2007 most sites are "
        f"SMS 2.0 style, from 2007 ConfigMgr style. Default: {_START_EXAMPLE}",
    )


def parse_start(text: str) -> datetime:
    """An ISO 8601 time (a trailing Z allowed; no zone means UTC), or a UserError saying what to give."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"--start {text!r} is not an ISO 8601 time: give one like {_START_EXAMPLE}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from bootwatch.simulate import MAX_SITES, Fleet

    if not 1 <= args.sites <= MAX_SITES:
        raise UserError(f"--sites {args.sites} is out of range: give a number from 1 to {MAX_SITES}")
    start = parse_start(args.start) if args.start is not None else None
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty folder: name a new or empty folder")
    plan = Fleet.plan(args.sites, seed=args.seed, start=start)
    try:
        plan.write_all(out)
    except OSError as exc:
        raise UserError(f"cannot write the fleet to {out}: {exc.strerror or exc}") from None
    outcomes: dict[str, int] = {}
    for site in plan.sites:
        outcomes[site.outcome] = outcomes.get(site.outcome, 0) + 1
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    print(f"wrote {len(plan.sites)} sites to {out} ({summary}); truth in {out / 'truth.json'}")
    return 0
