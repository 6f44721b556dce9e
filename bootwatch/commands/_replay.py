"""The work behind `bootwatch replay` (kept out of the command module so `--help` stays light).

Pipeline per site: every log file of the folder is parsed as a stream (`parsers.parse.parse_file`),
the streams are merged by `@timestamp` (`heapq.merge`: one record per file in memory), and the merged
stream is tapped by the lifecycle tracker on its way into the bulk writer. After the last site, the
attempts are judged as of one time and stored with optimistic concurrency.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from bootwatch.commands._store_access import open_store
from bootwatch.errors import UserError
from dashboards.queries import parse_duration, parse_instant
from parsers.lifecycle.attempts import FleetTracker, parse_timestamp
from parsers.lifecycle.rules import Rules, RulesError, load_rules
from parsers.parse import parse_file
from parsers.schema import SiteAttempt, format_utc_millis
from parsers.store.errors import StoreError
from parsers.store.sites import SiteStore
from parsers.store.templates import install_templates
from parsers.store.writer import BulkWriter, WriteResult
from parsers.times import resolve_zone

SITE_METADATA = "site.json"
# records between two progress-bar updates: updating per record would cost more than parsing it
_PROGRESS_EVERY = 256
# `.lo_` (the rotated, older part) sorts before the `.log` that replaced it
_SUFFIX_ORDER = {".lo_": 0, ".log": 1}


@dataclass(frozen=True, slots=True)
class SiteFolder:
    """One site's folder: its code, host, host zone and log files in reading order."""

    code: str
    host: str | None
    timezone: str | None
    files: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    directory: Path
    as_of: datetime | None
    timezone: str | None
    stall_window: timedelta
    rules: Rules

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReplayOptions:
        directory: Path = args.directory
        if not directory.is_dir():
            raise UserError(f"{directory} is not a folder; give the folder holding one sub-folder per site")
        if args.timezone is not None and resolve_zone(args.timezone) is None:
            raise UserError(f"unknown --timezone {args.timezone!r}: give an IANA or a Windows zone name")
        try:
            stall_window = parse_duration(args.stall_window)
            as_of = parse_instant(args.as_of) if args.as_of is not None else None
        except ValueError as exc:
            raise UserError(str(exc)) from None
        try:
            rules = load_rules(args.rules)
        except RulesError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot read --rules {args.rules}: {exc.strerror or exc}") from None
        return cls(directory, as_of, args.timezone, stall_window, rules)


def _reading_order(path: Path) -> tuple[str, int, str]:
    return path.stem.lower(), _SUFFIX_ORDER.get(path.suffix.lower(), 2), path.name


def discover_sites(directory: Path, default_timezone: str | None) -> list[SiteFolder]:
    """The site folders under `directory`, each with its `site.json` (when present) and log files."""
    sites = []
    for folder in sorted(
        path for path in directory.iterdir() if path.is_dir() and not path.name.startswith(".")
    ):
        metadata: dict[str, Any] = {}
        metadata_path = folder / SITE_METADATA
        if metadata_path.is_file():
            try:
                metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                print(f"bootwatch replay: ignoring unreadable {metadata_path}: {exc}", file=sys.stderr)
        files = sorted(
            (
                path
                for path in folder.rglob("*")
                if path.is_file() and path.name != SITE_METADATA and not path.name.startswith(".")
            ),
            key=_reading_order,
        )
        sites.append(
            SiteFolder(
                code=str(metadata.get("site") or folder.name).upper(),
                host=metadata.get("host"),
                timezone=metadata.get("timezone") or default_timezone,
                files=tuple(files),
            )
        )
    return sites


@dataclass(slots=True)
class ReplayOutcome:
    """What a replay did and found."""

    as_of: datetime | None
    sites: list[str]
    latest: dict[str, SiteAttempt]
    written: WriteResult
    records: int = 0
    files: int = 0
    unreadable: list[Path] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One object per site describing its latest attempt (state None: no attempt seen)."""
        rows = []
        for site in self.sites:
            attempt = self.latest.get(site)
            if attempt is None:
                rows.append({"site": site, "state": None, "attempts": 0})
                continue
            row = attempt.model_dump(mode="json", exclude={"attempt_number"})
            row["attempts"] = attempt.attempt_number
            rows.append(row)
        return rows

    def to_json(self) -> str:
        return json.dumps(self.rows(), ensure_ascii=False, indent=1)

    def print_table(self) -> None:
        console = Console()
        as_of = format_utc_millis(self.as_of) if self.as_of else "-"
        table = Table(title=f"install state as of {as_of} (UTC)", box=box.SIMPLE_HEAD, pad_edge=False)
        fixed = (("site", 4), ("state", 17), ("started", 16), ("until", 16), ("error", 10), ("#", 2))
        for column, width in fixed:
            table.add_column(column, no_wrap=True, min_width=width)
        # the hint is prose: cut to the room left, so the fixed columns never get squeezed
        hint_room = console.width - sum(width + 2 for _column, width in fixed) - 2
        if hint_room >= 10:
            table.add_column("hint", no_wrap=True)
        for row in self.rows():
            cells = [
                row["site"],
                row["state"] or "no attempt",
                _short_time(row.get("started_at")),
                _short_time(row.get("ended_at") or row.get("last_event_at")),
                row.get("error_code") or "",
                str(row["attempts"]),
            ]
            if hint_room >= 10:
                hint = row.get("hint") or ""
                cells.append(hint if len(hint) <= hint_room else hint[: hint_room - 1] + "…")
            table.add_row(*cells)
        console.print(table)
        print("until: when the attempt ended, or its latest record while it is open; #: attempts seen")


def _short_time(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


class _Tap:
    """Feeds every record passing to the writer to the lifecycle tracker, the clock and the progress bar."""

    def __init__(self, fleet: FleetTracker, progress: Progress | None, task: TaskID | None) -> None:
        self.fleet = fleet
        self.progress = progress
        self.task = task
        self.data_end: datetime | None = None
        self.records = 0
        self.unreadable: list[Path] = []

    def file_records(self, site: SiteFolder, path: Path, rules: Rules) -> Iterator[dict[str, Any]]:
        """One file's documents; an unreadable file is named on stderr and yields nothing more."""
        done = 0
        try:
            for position, document in enumerate(
                parse_file(path, site=site.code, host=site.host, timezone=site.timezone, rules=rules)
            ):
                if self.progress is not None and self.task is not None and position % _PROGRESS_EVERY == 0:
                    offset = document["log"]["offset"]
                    self.progress.update(self.task, advance=offset - done)
                    done = offset
                yield document
        except OSError as exc:
            self.unreadable.append(path)
            print(f"bootwatch replay: cannot read {path}: {exc.strerror or exc}; skipped", file=sys.stderr)
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=max(_size(path) - done, 0))

    def site_records(self, site: SiteFolder, rules: Rules) -> Iterator[dict[str, Any]]:
        """The site's files merged by event time: the order the tracker needs."""
        streams = [self.file_records(site, path, rules) for path in site.files]
        for document in heapq.merge(*streams, key=_event_time):
            self.fleet.observe(document)
            moment = parse_timestamp(document["@timestamp"])
            if self.data_end is None or moment > self.data_end:
                self.data_end = moment
            self.records += 1
            yield document

    def all_records(self, sites: Iterable[SiteFolder], rules: Rules) -> Iterator[dict[str, Any]]:
        for site in sites:
            self.fleet.tracker(site.code)  # a site with no record still gets a row
            yield from self.site_records(site, rules)


def _event_time(document: dict[str, Any]) -> str:
    # `@timestamp` is always `YYYY-MM-DDTHH:MM:SS.mmmZ`: string order is time order
    return str(document["@timestamp"])


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _progress_bar() -> Progress:
    """Bytes of the site folders read so far, on stderr (stdout carries the result)."""
    return Progress(
        TextColumn("replay"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def replay_folder(options: ReplayOptions, store_args: argparse.Namespace) -> ReplayOutcome:
    """Replay every site folder into the store the arguments select; returns the judged states."""
    sites = discover_sites(options.directory, options.timezone)
    if not sites:
        raise UserError(f"{options.directory} holds no site folder (expected DIR/<SITE>/...)")
    fleet = FleetTracker(stall_window=options.stall_window)
    total_bytes = sum(_size(path) for site in sites for path in site.files)
    with open_store(store_args) as store:
        try:
            install_templates(store)
            writer = BulkWriter(store)
            progress = _progress_bar() if sys.stderr.isatty() else None
            with progress or nullcontext():
                task = progress.add_task("replay", total=total_bytes) if progress is not None else None
                tap = _Tap(fleet, progress, task)
                written = writer.write(tap.all_records(sites, options.rules))
            as_of = options.as_of or tap.data_end
            latest: dict[str, SiteAttempt] = {}
            if as_of is not None:
                judged = fleet.judge(as_of)
                SiteStore(store).save(attempt for attempts in judged.values() for attempt in attempts)
                latest = {site: attempts[-1] for site, attempts in judged.items() if attempts}
        except StoreError as exc:
            raise UserError(
                f"the store failed during the replay ({exc}); run it again: replay is idempotent"
            ) from None
        embedded = store.is_embedded
    outcome = ReplayOutcome(
        as_of=as_of,
        sites=sorted({site.code for site in sites}),
        latest=latest,
        written=written,
        records=tap.records,
        files=sum(len(site.files) for site in sites),
        unreadable=tap.unreadable,
    )
    note = (
        " (embedded engine: gone when the command ends; set BOOTWATCH_ES_URL to keep it)" if embedded else ""
    )
    print(
        f"bootwatch replay: {outcome.records} records from {outcome.files} files of {len(outcome.sites)} "
        f"sites: {written.indexed} indexed, {written.deduplicated} already stored, "
        f"{written.dead_lettered} dead-lettered{note}",
        file=sys.stderr,
    )
    return outcome
