"""`bootwatch stats`: fleet-wide install statistics from the store, as a table, JSON or an HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bootwatch.errors import UserError

if TYPE_CHECKING:
    from dashboards.stats.compute import FleetStats, StatsQuery

NAME = "stats"
HELP = (
    "Fleet-wide install statistics: started, succeeded, failed, stalled, dark per period; failure rate; "
    "top error codes; time to failure and to detection; worst and silent sites."
)
DEFAULT_SINCE = "30d"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from parsers.store.connect import add_store_arguments

    window = parser.add_argument_group("window (attempts counted by the time they started)")
    window.add_argument(
        "--since",
        metavar="DURATION",
        help=f"Attempts started in this span before --as-of: 12h, 7d, 30d (default {DEFAULT_SINCE})",
    )
    window.add_argument("--from", dest="start", metavar="ISO-TIME", help="Window start (UTC), with --to")
    window.add_argument("--to", dest="end", metavar="ISO-TIME", help="Window end (UTC; default: --as-of)")
    parser.add_argument(
        "--as-of",
        metavar="ISO-TIME",
        help="Count as of this UTC time (replayed history, e.g. 2002-10-28T12:00:00Z); default: now",
    )
    parser.add_argument(
        "--by",
        choices=("day", "week", "site", "error", "version"),
        default="day",
        help="Breakdown: start day or week, site, first error code, or SMS generation (default day)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="Print the statistics as one JSON object")
    output.add_argument(
        "--html", metavar="FILE", type=Path, help="Write a self-contained HTML report with charts to FILE"
    )
    add_store_arguments(parser)


def stats_query(args: argparse.Namespace) -> StatsQuery:
    """The window and breakdown the options ask for (user mistakes -> UserError)."""
    from bootwatch.commands._store_access import as_of_argument
    from dashboards.queries import parse_duration, parse_instant
    from dashboards.stats.compute import StatsQuery

    as_of = as_of_argument(args.as_of)
    if args.since is not None and (args.start is not None or args.end is not None):
        raise UserError("give either --since or --from/--to, not both")
    if args.end is not None and args.start is None:
        raise UserError("--to needs --from: give the window's start too")
    try:
        if args.start is not None:
            start = parse_instant(args.start)
            end = parse_instant(args.end) if args.end is not None else as_of
        else:
            end = as_of
            start = as_of - parse_duration(args.since or DEFAULT_SINCE)
        return StatsQuery(start=start, end=end, as_of=as_of, by=args.by)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from bootwatch.commands._store_access import open_store
    from dashboards.stats.compute import attempt_time_range, compute_stats
    from parsers.schema import format_utc_millis
    from parsers.store.errors import StoreError

    query = stats_query(args)
    with open_store(args) as store:
        try:
            stats = compute_stats(store, query)
            data_range = attempt_time_range(store) if stats.totals.started == 0 else None
        except StoreError as exc:
            raise UserError(f"the store failed while counting ({exc}); try again") from None
        embedded = store.is_embedded
    if stats.totals.started == 0:
        if data_range is None:
            where = (
                "the embedded engine starts empty: point --es-url (or BOOTWATCH_ES_URL) at the store "
                "`bootwatch collect` or `replay` writes to, or run `bootwatch demo`"
                if embedded
                else "run `bootwatch replay DIR` or `bootwatch collect` to fill it"
            )
            raise UserError(f"the store holds no install attempt: {where}")
        first, last = data_range
        print(
            f"bootwatch stats: no attempt started in the window; the store's attempts started between "
            f"{format_utc_millis(first)} and {format_utc_millis(last)}: "
            f"try --as-of {format_utc_millis(last)}",
            file=sys.stderr,
        )
    if args.json:
        sys.stdout.write(stats.model_dump_json(indent=1) + "\n")
    elif args.html is not None:
        write_html(stats, args.html)
        print(f"bootwatch stats: report written to {args.html.resolve()}")
    else:
        print_tables(stats)
    return 0


def write_html(stats: FleetStats, path: Path) -> None:
    from dashboards.stats.report import render_html

    try:
        path.write_text(render_html(stats), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write --html {path}: {exc.strerror or exc}") from None


def print_tables(stats: FleetStats) -> None:
    """The terminal view: totals, the breakdown, error codes, durations, worst and silent sites."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from dashboards.stats.report import format_duration_s, format_rate
    from parsers.schema import format_utc_millis

    # piped or redirected, rich would wrap at 80 columns and cut the column names
    console = Console(width=None if sys.stdout.isatty() else 160)
    window = f"{format_utc_millis(stats.window_start)[:16]} .. {format_utc_millis(stats.window_end)[:16]} UTC"
    console.print(f"[bold]install attempts started {window}[/bold] ({stats.sites} sites)")

    groups = stats.groups
    title = f"by {stats.by}"
    if stats.by in ("day", "week"):
        # a month of mostly empty days is noise in a terminal (the JSON and the report keep them all)
        groups = [group for group in groups if group.counts.started]
        title += f" ({stats.by}s without an attempt left out)"
    breakdown = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for column in (
        "",
        "started",
        "succeeded",
        "failed_unreported",
        "stalled",
        "dark",
        "in_progress",
        "failure rate",
    ):
        breakdown.add_column(column, justify="left" if column == "" else "right", no_wrap=True)
    for label, counts in [*((group.label, group.counts) for group in groups), ("total", stats.totals)]:
        breakdown.add_row(
            label,
            str(counts.started),
            str(counts.succeeded),
            str(counts.failed_unreported),
            str(counts.stalled),
            str(counts.dark),
            str(counts.in_progress),
            format_rate(counts.failure_rate),
            style="bold" if label == "total" else None,
        )
    console.print(breakdown)

    errors = Table(title="top error codes of failed installs", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("code", "attempts", "sites", "known cause"):
        errors.add_column(column, justify="right" if column in ("attempts", "sites") else "left")
    for error in stats.top_errors:
        errors.add_row(error.code, str(error.attempts), str(error.sites), error.hint or "")
    if stats.failed_without_code:
        errors.add_row("(no code)", str(stats.failed_without_code), "", "")
    console.print(errors)

    durations = Table(title="durations", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("", "attempts", "min", "median", "p90", "max"):
        durations.add_column(column, justify="left" if column == "" else "right")
    for label, duration in (
        ("start -> failure", stats.time_to_failure),
        ("failure -> detection", stats.time_to_detect),
    ):
        durations.add_row(
            label,
            str(duration.count),
            *(
                format_duration_s(value)
                for value in (duration.min_s, duration.median_s, duration.p90_s, duration.max_s)
            ),
        )
    console.print(durations)

    for title, rows in (("worst sites", stats.worst_sites), ("silent sites now", stats.silent_sites)):
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        for column in (
            "site",
            "host",
            "state",
            "bad",
            "#",
            "last record",
            "error",
            "known cause / last record",
        ):
            table.add_column(column, no_wrap=column != "known cause / last record")
        for row in rows:
            table.add_row(
                row.site,
                row.host or "",
                row.state,
                str(row.bad_attempts) if title == "worst sites" else "",
                str(row.attempts),
                format_utc_millis(row.last_event_at)[:16].replace("T", " "),
                row.error_code or "",
                row.hint or _shorten(row.last_message, 100),
            )
        console.print(table)


def _shorten(text: str | None, limit: int) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
