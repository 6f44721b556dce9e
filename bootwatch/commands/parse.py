"""`bootwatch parse`: parse log files and print one JSON document per record, exactly as indexed."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bootwatch.commands._gc import tune_for_streaming
from bootwatch.errors import UserError

NAME = "parse"
HELP = "Parse SMS / ConfigMgr log files and print one JSON document per record (what would be indexed)."

# A folder counts as a site code when it is three upper-case letters or digits with at least one
# digit ("S02", as `bootwatch simulate` names them): SMS allows any three letters or digits, but
# requiring a digit keeps everyday folders ("tmp", "usr", "SMS", "LOG") from being taken for one.
_SITE_CODE = re.compile(r"(?=[A-Z]*[0-9])[A-Z0-9]{3}")
# `bootwatch simulate` writes DIR/<SITE>/site.json beside each site's logs: {"site", "host", "timezone"}.
SITE_SETTINGS_NAME = "site.json"
# Documents are written in batches: one write call per record would dominate the command's cost.
# Small ones, with no joined copy: a batch of several hundred KB freed at once makes malloc hand the
# memory back to the system and fault it in again for the next (ten times the page faults).
_WRITE_BATCH = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="FILE", type=Path,
        help="Log files to parse, in order. A site.json beside a file (as `bootwatch simulate` writes: "
             "site, host, timezone) supplies the defaults of the options below for that file.")
    parser.add_argument(
        "--site", metavar="CODE",
        help="Site code for sms.site.code. Default: the nearest folder above each file named like a site "
             "code (three upper-case letters or digits, at least one digit, e.g. S02), as `bootwatch "
             "simulate` lays out DIR/<SITE>/...; else none.")
    parser.add_argument("--host", metavar="NAME", help="Host name for host.name (default: none)")
    parser.add_argument(
        "--timezone", metavar="ZONE",
        help="Zone of records that carry none: an IANA name (Europe/London) or a Windows zone name "
             "(\"Pacific Standard Time\"). Default: UTC.")
    parser.add_argument(
        "--rules", metavar="FILE", type=Path,
        help="Lifecycle rules file (TOML) applied on top of the defaults; sets event.action.")


def site_from_path(path: Path) -> str | None:
    """The nearest enclosing folder named like a site code; None when there is none."""
    for folder in path.resolve().parents:
        if _SITE_CODE.fullmatch(folder.name):
            return folder.name
    return None


def settings_beside(path: Path) -> dict[str, str]:
    """The string settings of a site.json beside the file (empty when there is none).

    A site.json that cannot be read or is not a JSON object is reported on stderr and ignored.
    """
    settings_path = path.parent / SITE_SETTINGS_NAME
    if not settings_path.is_file():
        return {}
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"bootwatch parse: ignoring {settings_path}: {exc}", file=sys.stderr)
        return {}
    if not isinstance(settings, dict):
        print(f"bootwatch parse: ignoring {settings_path}: not a JSON object", file=sys.stderr)
        return {}
    return {key: value for key, value in settings.items() if key in ("site", "host", "timezone")
            and isinstance(value, str)}


def run(args: argparse.Namespace) -> int:
    from orjson import OPT_APPEND_NEWLINE
    from orjson import dumps as to_json

    from parsers.lifecycle.rules import RulesError, load_rules
    from parsers.parse import parse_file
    from parsers.times import resolve_zone

    if args.timezone is not None and resolve_zone(args.timezone) is None:
        raise UserError(f"unknown --timezone {args.timezone!r}: give an IANA name such as Europe/London "
                        f"or a Windows zone name such as \"Pacific Standard Time\"")
    try:
        rules = load_rules(args.rules) if args.rules is not None else load_rules()
    except RulesError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read --rules {args.rules}: {exc.strerror or exc}") from None

    tune_for_streaming()
    out = sys.stdout.buffer
    failed = False
    for path in args.files:
        beside = settings_beside(path)
        site = args.site or beside.get("site") or site_from_path(path)
        host = args.host or beside.get("host")
        timezone = args.timezone or beside.get("timezone")
        batch: list[bytes] = []
        try:
            for doc in parse_file(path, site=site, host=host, timezone=timezone, rules=rules):
                batch.append(to_json(doc, option=OPT_APPEND_NEWLINE))
                if len(batch) >= _WRITE_BATCH:
                    out.writelines(batch)
                    batch.clear()
        except OSError as exc:
            failed = True
            print(f"bootwatch parse: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        if batch:
            out.writelines(batch)
        out.flush()
    return 2 if failed else 0
