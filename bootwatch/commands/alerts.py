"""`bootwatch alerts run`: evaluate the alerting saved queries and notify the configured channels."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bootwatch.errors import UserError

if TYPE_CHECKING:
    from dashboards.alerts.events import RunReport

NAME = "alerts"
HELP = "Run the alerting saved queries (once, or each on its schedule) and notify log/webhook/email channels."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from parsers.store.connect import add_store_arguments

    actions = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    run_parser = actions.add_parser(
        "run", help="Evaluate alerting queries; raise new matches, repeat after re-notify, resolve the rest"
    )
    run_parser.add_argument("--once", action="store_true", help="Evaluate every alerting query once and exit")
    run_parser.add_argument(
        "--every",
        metavar="DURATION",
        help="Evaluate all queries this often (30s, 5m, 1h) instead of each on its own schedule",
    )
    run_parser.add_argument(
        "--json",
        action="store_true",
        help="Print the alerts of each evaluation as a JSON list (query, site, state, attempt, action, ...)",
    )
    run_parser.add_argument(
        "--as-of",
        metavar="ISO-TIME",
        help="With --once: evaluate as of this UTC time instead of now (for replayed history)",
    )
    run_parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="Alert config (TOML): channels and which queries; default: one log channel on stderr",
    )
    add_store_arguments(run_parser)


def _print_report(report: RunReport, as_json: bool) -> None:
    from parsers.schema import format_utc_millis

    if as_json:
        sys.stdout.write(json.dumps([event.as_json() for event in report.events], ensure_ascii=False) + "\n")
    else:
        print(f"alerts as of {format_utc_millis(report.as_of)}: {len(report.events)} event(s)")
        for event in report.events:
            verb = "repeated" if event.repeat else event.action
            print(
                f"{verb:<9} {event.severity:<8} {event.key.query:<26} {event.key.site:<6} "
                f"{event.state or '-':<18} {event.key.attempt}"
            )
    sys.stdout.flush()
    for delivery in report.deliveries:
        if not delivery.ok:
            print(
                f"bootwatch alerts: channel {delivery.channel}: {delivery.events} alert(s) NOT delivered "
                f"after {delivery.tries} tr{'y' if delivery.tries == 1 else 'ies'}: {delivery.error}",
                file=sys.stderr,
            )
    for query_id, problem in report.failed_queries.items():
        print(f"bootwatch alerts: query {query_id}: {problem}", file=sys.stderr)


def _print_if_news(report: RunReport, as_json: bool) -> None:
    """Continuous mode: an evaluation that raised, resolved and failed nothing prints nothing."""
    if report.events or not report.delivered_everywhere:
        _print_report(report, as_json)


def run(args: argparse.Namespace) -> int:
    from bootwatch.commands._store_access import as_of_argument, open_store
    from dashboards.alerts.config import AlertConfigError, load_alert_config
    from dashboards.alerts.notifiers.alert_index import AlertStateError
    from dashboards.alerts.runner import AlertRunner, UnknownQueryError
    from dashboards.queries import parse_duration
    from parsers.store.templates import install_templates

    if args.as_of is not None and not args.once:
        raise UserError("--as-of needs --once: a continuous runner always evaluates as of now")
    every = None
    if args.every is not None:
        try:
            every = parse_duration(args.every)
        except ValueError as exc:
            raise UserError(f"--every: {exc}") from None
    try:
        config = load_alert_config(args.config)
    except AlertConfigError as exc:
        raise UserError(str(exc)) from None
    if args.json and any(getattr(channel, "stream", None) == "stdout" for channel in config.channel):
        raise UserError('--json owns stdout: set stream = "stderr" on the log channel in the alert config')
    as_of = as_of_argument(args.as_of)
    with open_store(args) as store:
        install_templates(store)
        try:
            runner = AlertRunner(store, config)
        except UnknownQueryError as exc:
            raise UserError(str(exc)) from None
        if not runner.queries:
            raise UserError("no alerting query selected: list some in the alert config's `queries`")
        try:
            if args.once:
                report = runner.evaluate(as_of)
                _print_report(report, args.json)
                return 0 if report.delivered_everywhere else 1
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                runner.run_forever(stop, lambda report: _print_if_news(report, args.json), every=every)
            except KeyboardInterrupt:
                stop.set()
            return 0
        except AlertStateError as exc:
            print(f"bootwatch alerts: {exc}", file=sys.stderr)
            return 1
