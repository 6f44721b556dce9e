"""`bootwatch demo`: a simulated fleet's shippers forward live to a collector; then what died silently."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bootwatch.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

    from bootwatch.demo import DemoResult, Progress
    from parsers.schema import SiteAttempt

NAME = "demo"
HELP = (
    "Run everything on this machine with nothing configured: the embedded store, a collector, and a "
    "simulated fleet whose shippers forward their logs live; then list the silent sites and write the report."
)
DEFAULT_REPORT = Path("bootwatch-report.html")
SILENT_STATES = ("failed_unreported", "stalled", "dark")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bootwatch.demo import DEFAULT_DURATION_S, DEFAULT_SITES
    from parsers.store.connect import add_store_arguments

    parser.add_argument(
        "--sites",
        metavar="N",
        type=int,
        default=DEFAULT_SITES,
        help=f"Secondary sites (default {DEFAULT_SITES})",
    )
    parser.add_argument(
        "--duration",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_DURATION_S,
        help=f"Wall-clock seconds the fleet's weeks of logs are played in (default {DEFAULT_DURATION_S:g})",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="Simulation seed: same seed, same fleet (default 1)"
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        type=Path,
        default=DEFAULT_REPORT,
        help=f"Where to write the HTML report (default ./{DEFAULT_REPORT})",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="Leave the store, collector and shippers up for queries until Ctrl-C",
    )
    add_store_arguments(parser)


class _ProgressView:
    """A rich progress bar on a terminal, a plain line per tenth otherwise (both on stderr)."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.bar = None
        self._written_task = None
        self._indexed_task = None
        self._last_tenth = -1
        self._stage = ""

    def __enter__(self) -> _ProgressView:
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description:<26}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.bar.start()
            self._written_task = self.bar.add_task("log records written", total=None, note="")
            self._indexed_task = self.bar.add_task("records indexed", total=None, note="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, progress: Progress) -> None:
        clock = f"{progress.simulated_now:%Y-%m-%d %H:%M} UTC" if progress.simulated_now else ""
        if self.bar is not None:
            self.bar.update(
                self._written_task,
                completed=progress.events_written,
                total=progress.events_total,
                note=f"simulated clock {clock}",
            )
            self.bar.update(
                self._indexed_task,
                completed=progress.records_indexed,
                total=progress.records_total,
                note=progress.stage,
            )
            return
        tenth = int(10 * progress.events_written / max(progress.events_total, 1))
        if tenth != self._last_tenth or progress.stage != self._stage:
            self._last_tenth, self._stage = tenth, progress.stage
            print(
                f"demo: {progress.stage}: {progress.events_written}/{progress.events_total} log writes, "
                f"{progress.records_indexed}/{progress.records_total} records indexed, "
                f"simulated clock {clock}",
                file=sys.stderr,
                flush=True,
            )


def run(args: argparse.Namespace) -> int:
    from bootwatch.demo import DemoError, DemoOptions, run_demo
    from bootwatch.simulate import MAX_SITES
    from parsers.store.connect import settings_from_args
    from parsers.store.errors import StoreError

    if not 1 <= args.sites <= MAX_SITES:
        raise UserError(f"--sites must be between 1 and {MAX_SITES}, got {args.sites}")
    if args.duration <= 0:
        raise UserError("--duration must be more than 0 seconds")
    report_dir = args.report.resolve().parent
    if not report_dir.is_dir():
        raise UserError(f"--report {args.report}: folder {report_dir} does not exist")
    try:
        settings = settings_from_args(args)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    options = DemoOptions(sites=args.sites, duration_s=args.duration, seed=args.seed, settings=settings)

    def present_and_wait(result: DemoResult) -> None:
        present(result, args.report)
        if args.keep_running:
            print(
                f"\nstill running: store {result.store_url}, collector and shippers. "
                f"Try the commands above with --es-url {result.store_url}; Ctrl-C stops everything."
            )
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("stopping", file=sys.stderr)

    print(
        f"bootwatch demo: {args.sites} simulated secondary sites; their shippers forward live to a collector "
        f"on 127.0.0.1 ({'the store at ' + settings.es_url if settings.es_url else 'embedded store'})",
        file=sys.stderr,
    )
    try:
        with _ProgressView(sys.stderr.isatty()) as view:
            result = run_demo(options, view, keep=present_and_wait)
    except StoreError as exc:
        raise UserError(f"the store failed during the demo: {exc}") from None
    except DemoError as exc:
        raise UserError(str(exc)) from None
    return 0 if result.records_indexed >= result.records_expected else 1


def present(result: DemoResult, report_path: Path) -> None:
    """Silent sites with states and causes, the report, and where to look next."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from bootwatch.commands.stats import write_html
    from dashboards.stats.report import format_rate

    # piped or redirected, rich would wrap at 80 columns and squeeze the causes away
    console = Console(width=None if sys.stdout.isatty() else 160)
    totals = result.stats.totals
    if result.records_indexed < result.records_expected:
        console.print(
            f"[bold red]only {result.records_indexed} of {result.records_expected} records were indexed "
            f"in time: the figures below miss some[/bold red]"
        )
    console.print(
        f"\n[bold]{len(result.plan.sites)} sites, {totals.started} install attempts[/bold] over "
        f"{(result.plan.end - result.plan.start).days} simulated days "
        f"({result.records_indexed} log records shipped and indexed in {result.elapsed_s:.0f} s): "
        f"{totals.succeeded} succeeded, {totals.failed_unreported} failed unreported, "
        f"{totals.stalled} stalled, {totals.dark} dark, {totals.in_progress} in progress; "
        f"failure rate {format_rate(totals.failure_rate)}"
    )
    silent = [attempt for _site, attempt in sorted(result.latest.items()) if attempt.state in SILENT_STATES]
    table = Table(
        title=f"{len(silent)} sites whose install died silently (the parent still shows them Pending)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("site", "host", "state", "last record (UTC)", "error", "cause"):
        table.add_column(column, no_wrap=column != "cause")
    for attempt in silent:
        table.add_row(
            attempt.site,
            attempt.host or "",
            attempt.state,
            f"{attempt.last_event_at:%Y-%m-%d %H:%M}",
            attempt.error_code or "",
            attempt.hint or _stall_cause(attempt),
        )
    console.print(table)
    _print_truth_check(console, result)
    write_html(result.stats, report_path)
    console.print(f"report: [bold]{report_path.resolve()}[/bold] (open it in a browser; it works offline)")
    store = f" --es-url {result.store_url}" if not result.embedded else " --es-url URL"
    print(
        "\nwhere to look next:\n"
        f"  bootwatch queries run silent-install-failures{store}   the same list, from the saved query\n"
        f"  bootwatch alerts run --once{store}                    notify (log, webhook, email) on each\n"
        f"  bootwatch stats --since 60d --html report.html{store}  these statistics again\n"
        "  bootwatch dashboards export --out bootwatch.ndjson     Kibana saved searches, charts, dashboard\n"
        "  bootwatch setup --kibana-url URL                       import them into Kibana\n"
        + (
            "  (the embedded store is gone when the demo ends: run it with --keep-running, or give --es-url)"
            if result.embedded
            else ""
        )
    )


def _print_truth_check(console: Console, result: DemoResult) -> None:
    """How the judged states compare with what the simulator made happen (only a demo can know)."""
    truth = {site.site: site.truth["outcome"] for site in result.plan.sites}
    planted = {site for site, outcome in truth.items() if outcome in SILENT_STATES}
    found = {site for site, attempt in result.latest.items() if attempt.state in SILENT_STATES}
    differing = [
        f"{site} ({result.latest[site].state if site in result.latest else 'not seen'}, truly {outcome})"
        for site, outcome in sorted(truth.items())
        if site not in result.latest or result.latest[site].state != outcome
    ]
    console.print(
        f"check against the simulator: {len(planted & found)} of the {len(planted)} silent deaths it planted "
        f"were found; {len(truth) - len(differing)} of {len(truth)} sites judged exactly as they truly are"
        + (f"; differing: {', '.join(differing)}" if differing else "")
    )


def _stall_cause(attempt: SiteAttempt) -> str:
    last = attempt.last_message or ""
    shown = last if len(last) <= 80 else last[:79] + "…"
    return f"no record since: {shown}" if shown else ""
