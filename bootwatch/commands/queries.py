"""`bootwatch queries`: list the saved queries, or run one against the store."""

from __future__ import annotations

import argparse
import json
import sys

from bootwatch.errors import UserError

NAME = "queries"
HELP = "List the saved queries, or run one against the store (the same queries Kibana and alerts use)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from parsers.store.connect import add_store_arguments

    actions = parser.add_subparsers(dest="queries_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="List every saved query: id, index, alert schedule, title")
    run_parser = actions.add_parser("run", help="Run one saved query and print its matches")
    run_parser.add_argument("query_id", metavar="ID", help="Saved query id (see `bootwatch queries list`)")
    run_parser.add_argument("--json", action="store_true", help="Print a JSON object instead of a table")
    run_parser.add_argument(
        "--as-of",
        metavar="ISO-TIME",
        help="Evaluate `now` in the query's date math at this UTC time (replayed history); default: now",
    )
    run_parser.add_argument("--size", type=int, default=100, help="Most hits to print (default 100)")
    add_store_arguments(run_parser)


def _list() -> int:
    from dashboards.queries import bundled_queries, format_duration

    queries = bundled_queries()
    id_width = max(len(query.id) for query in queries)
    index_width = max(len(query.index) for query in queries)
    for query in queries:
        if query.alert is None:
            alerting = "-"
        else:
            alerting = f"every {format_duration(query.alert.schedule)} {query.alert.severity}"
            if not query.alert.default_on:
                alerting += " (off)"
        print(f"{query.id:<{id_width}}  {query.index:<{index_width}}  {alerting:<22}  {query.title}")
        print(f"{'':<{id_width}}  {query.query}")
    return 0


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _field(source: dict, dotted: str) -> object:
    value: object = source
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _run(args: argparse.Namespace) -> int:
    from bootwatch.commands._store_access import as_of_argument, open_store
    from dashboards.queries import find_query, run_saved_query
    from parsers.schema import format_utc_millis

    try:
        query = find_query(args.query_id)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    if args.size < 0:
        raise UserError("--size must be 0 or more")
    as_of = as_of_argument(args.as_of)
    with open_store(args) as store:
        result = run_saved_query(store.client, query, as_of, size=args.size)
    if args.json:
        json.dump(
            {
                "query": query.id,
                "as_of": format_utc_millis(as_of),
                "sent_query": result.sent_query,
                "total": result.total,
                "hits": [{"_id": hit.id, "_index": hit.index, **hit.source} for hit in result.hits],
            },
            sys.stdout,
            ensure_ascii=False,
        )
        sys.stdout.write("\n")
        return 0
    print(f"{query.title}: {result.total} match(es) as of {format_utc_millis(as_of)}")
    rows = [[_cell(_field(hit.source, column)) for column in query.columns] for hit in result.hits]
    widths = [max([len(column), *(len(row[i]) for row in rows)]) for i, column in enumerate(query.columns)]
    print("  ".join(column.ljust(width) for column, width in zip(query.columns, widths, strict=True)))
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def run(args: argparse.Namespace) -> int:
    if args.queries_command == "list":
        return _list()
    return _run(args)
