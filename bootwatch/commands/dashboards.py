"""`bootwatch dashboards`: export the Kibana saved objects and rule payloads, or import them into Kibana."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bootwatch.errors import UserError

NAME = "dashboards"
HELP = "Export Kibana saved objects (data views, saved searches, Lens charts, dashboard) and rule payloads."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="dashboards_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="Write the saved objects as NDJSON for Kibana 8.9+ (and/or the rule payloads)"
    )
    export.add_argument("--out", type=Path, metavar="FILE", help="NDJSON file to write; - for stdout")
    export.add_argument(
        "--rules-out",
        type=Path,
        metavar="FILE",
        help="Also write the Kibana .es-query rule payloads (JSON list of {id, body}) for alerting queries",
    )
    importer = actions.add_parser(
        "import", help="Import the saved objects into Kibana (what `bootwatch setup --kibana-url` does)"
    )
    add_kibana_arguments(importer, required=True)


def add_kibana_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Kibana connection options (`bootwatch setup` adds them too, with --kibana-url optional)."""
    parser.add_argument(
        "--kibana-url", required=required, metavar="URL", help="Kibana URL to import the saved objects into"
    )
    parser.add_argument("--space", metavar="S", help="Kibana space id (default: the default space)")
    parser.add_argument(
        "--kibana-api-key", help="Kibana API key, base64 id:key (env BOOTWATCH_KIBANA_API_KEY)"
    )
    parser.add_argument("--kibana-user", help="Kibana user (env BOOTWATCH_KIBANA_USER)")
    parser.add_argument("--kibana-password", help="Kibana password (env BOOTWATCH_KIBANA_PASSWORD)")
    parser.add_argument("--kibana-ca", type=Path, help="CA bundle (PEM) for Kibana's TLS certificate")


def import_into_kibana(args: argparse.Namespace) -> int:
    """Import the saved objects; print one line per object Kibana refused. Exit 1 when any was refused."""
    from dashboards.kibana.importer import KibanaAuth, KibanaImportError, import_dashboards

    auth = KibanaAuth(
        api_key=args.kibana_api_key or os.environ.get("BOOTWATCH_KIBANA_API_KEY"),
        username=args.kibana_user or os.environ.get("BOOTWATCH_KIBANA_USER"),
        password=args.kibana_password or os.environ.get("BOOTWATCH_KIBANA_PASSWORD"),
    )
    if args.kibana_ca is not None and not args.kibana_ca.is_file():
        raise UserError(
            f"--kibana-ca {args.kibana_ca} does not exist; give the PEM file that signed Kibana's cert"
        )
    try:
        report = import_dashboards(args.kibana_url, space=args.space, auth=auth, ca_file=args.kibana_ca)
    except KibanaImportError as exc:
        raise UserError(f"{exc}; check --kibana-url and the credentials") from None
    print(f"Kibana: imported {report.success_count} saved object(s)")
    for error in report.errors:
        print(f"Kibana: not imported: {error.describe()}", file=sys.stderr)
    return 0 if report.ok else 1


def _write(path: Path, text: str) -> None:
    if str(path) == "-":
        sys.stdout.write(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    if args.dashboards_command == "import":
        return import_into_kibana(args)
    from dashboards.kibana.export import render_ndjson, saved_objects
    from dashboards.kibana.rules import render_rules, rule_payloads

    if args.out is None and args.rules_out is None:
        raise UserError("nothing to export: give --out FILE and/or --rules-out FILE")
    if args.out is not None:
        _write(args.out, render_ndjson(saved_objects()))
    if args.rules_out is not None:
        _write(args.rules_out, render_rules(rule_payloads()))
    return 0
