"""Fleet simulator: realistic secondary-site install logs for a whole fleet, with the true outcome of each.

`Fleet.plan(sites, seed, start)` decides, deterministically for a seed, what every secondary site
writes and when: a host zone and name, an era (SMS 2.0 style or ConfigMgr style, from the start
year, with a quarter of the sites in the other era so every fleet holds every log family), one log
layout and encoding per file, and a scenario for the latest install attempt (`succeeded`,
`failed_unreported`, `stalled`, `in_progress`, some after an earlier failed attempt). The result is a
`FleetPlan`: per site, an ordered tuple of `FileEvent`s (append one record's bytes to a file, or
rename `X.log` to `X.lo_` at the size limit) and the site's truth.

`FleetPlan.write_all(out)` writes everything at once (`DIR/<SITE>/<file>`, `DIR/<SITE>/site.json`,
`DIR/truth.json`). A live writer (the demo) calls `write_metadata(out)` and then either
`LiveWriter(plan, out).advance(simulated_now)` as its accelerated clock runs, or `apply_event(out, e)`
itself for each event of `FleetPlan.events()` (merged in time order) when its clock reaches `e.at`:
the files then grow and rotate on disk exactly as a real site's would.

Traps the logs carry on purpose (LOG_FORMATS.md): the three legacy timestamp layouts, zone names in
standard and daylight form, sites crossing a DST change (zone-less records are kept out of the
repeated hour, where only a zone name or a bias can say which instant is meant), Windows bias signs,
unpadded dates and hours, 7-digit fractions, `~` line breaks, CMTrace messages with bare LF inside
CRLF files, STATMSG lines with GMTDATE, provider and setup styles, plain noise, UTF-8 / UTF-8 BOM /
UTF-16LE BOM / Windows-1252 files with accented server and path names, rotations with the
`<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>` marker, transient errors that are retried, error
codes in every written form, and `failover` (an info word that contains `fail`).

Lifecycle marker lines use the phrases of `parsers/data/rules.toml` (see `parsers/lifecycle/MARKERS.md`);
each event records the action the default rules must give it, and the tests check that they do.
The truth follows `parsers/lifecycle/attempts.py`: a start marker inside a moving, unfinished attempt
is a later stage of it; records after a success belong to no attempt.
"""

from __future__ import annotations

import heapq
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from bootwatch import _simcatalog as c
from bootwatch import _simrender as r

STALL_WINDOW_S = 7200
DEFAULT_START = datetime(2002, 10, 25, 6, 0, tzinfo=UTC)
# Sites installed from this year on are ConfigMgr style (layout C, CMTrace); earlier ones SMS 2.0 style.
CONFIGMGR_FROM_YEAR = 2007
# The data spans at least this long, and longer when needed to hold a DST transition of some zone.
MIN_SPAN = timedelta(days=3)
# Span search for a DST transition: every zone table zone with DST changes twice a year.
_TRANSITION_SEARCH = timedelta(days=400)
_TRANSITION_MARGIN_BEFORE = timedelta(hours=8)
_TRANSITION_MARGIN_AFTER = timedelta(hours=16)

APPEND = "append"
ROTATE = "rotate"

Outcome = Literal["succeeded", "failed_unreported", "stalled", "in_progress"]

# One block of ten consecutive sites always holds every scenario (shuffled per block and seed):
# (outcome of the latest attempt, whether an earlier attempt failed first).
_SCENARIO_BLOCK: tuple[tuple[Outcome, bool], ...] = (
    ("succeeded", False),
    ("succeeded", False),
    ("succeeded", False),
    ("succeeded", True),
    ("failed_unreported", False),
    ("failed_unreported", False),
    ("stalled", False),
    ("stalled", True),
    ("in_progress", False),
    ("in_progress", False),
)
_SITE_LETTERS = "STUVWXYZABCDEFGHIJKLMNOPQR"
# Codes are a letter and two digits, S01 first (S00 is never used).
MAX_SITES = len(_SITE_LETTERS) * 100 - 1
_BOOTSTRAP_NAMES = ("Sms_bootstrap.log", "Bootstrap.log", "SMSBootstrap.log", "SMS_BOOTSTRAP.log")
_PARENTS = (("CEN", "SMSCENTRAL01"), ("P01", "SMS-PRIMARY1"), ("PR2", "SMSPRI-EAST"))
_ACCENTED_PARENTS = (("PRF", "SMS-ORLÉANS"), ("PDE", "SMS-MÜNCHEN"), ("PBR", "SMS-SÃOPAULO"))
_NORMAL_SIZE_LIMIT = 250_000  # ConfigMgr default
# Busy despooler logs of some sites rotate at a scaled-down limit, so rotations (and a replaced older
# `.lo_`) happen within the few hundred records a simulated site writes.
_ROTATING_SIZE_LIMITS = (3000, 4500)
# An attempt still in progress started at most this long before the end of the data (or within the
# stall window when that is shorter); its zone does not fall back within _IN_PROGRESS_ROOM of the end.
_IN_PROGRESS_LEAD = timedelta(minutes=100)
_IN_PROGRESS_ROOM = timedelta(hours=3)


def site_code(index: int) -> str:
    """The 3-character code of the index-th site (0-based): S01..S99, T00..T99, U00.. (2599 in all)."""
    number = index + 1
    return f"{_SITE_LETTERS[number // 100]}{number % 100:02d}"


def rotated_name(name: str) -> str:
    """`X.log` -> `X.lo_`: the name a log gets when it reaches its size limit."""
    return name[:-1] + "_"


@dataclass(frozen=True, slots=True)
class FileEvent:
    """One change to a site's folder: append one record's bytes, or rename `name` to its `.lo_` name.

    `at` is when the bytes are written. `stated_at`, `family`, `level`, `code` and `action` say what the
    parsers and the default rules must make of the appended record: its UTC time (None for a plain
    line, which has no time of its own), `sms.log.format`, `log.level`, `error.code`, `event.action`
    (`family` is None for a byte-order mark or a rename).
    """

    at: datetime
    site: str
    name: str
    kind: str
    data: bytes = b""
    stated_at: datetime | None = None
    family: str | None = None
    level: str | None = None
    code: str | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class SitePlan:
    """Everything one site writes, in order, and what truly happened."""

    site: str
    host: str
    timezone: str
    era: str
    outcome: Outcome
    events: tuple[FileEvent, ...]
    truth: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """A whole fleet: per-site event streams, the data's time range and the truth."""

    seed: int
    start: datetime
    end: datetime
    stall_window_s: int
    sites: tuple[SitePlan, ...]

    def events(self) -> Iterator[FileEvent]:
        """Every site's events merged in time order (ties keep site order): the feed of a live writer."""
        return heapq.merge(*(site.events for site in self.sites), key=lambda event: event.at)

    def truth(self) -> dict[str, Any]:
        """The content of `truth.json`."""
        return {
            "seed": self.seed,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "stall_window_s": self.stall_window_s,
            "sites": [site.truth for site in self.sites],
        }

    def write_metadata(self, out: Path) -> None:
        """`truth.json` and each site's `site.json` (its host and host zone, as its shipper reports them)."""
        out.mkdir(parents=True, exist_ok=True)
        for site in self.sites:
            folder = out / site.site
            folder.mkdir(exist_ok=True)
            meta = {"site": site.site, "host": site.host, "timezone": site.timezone}
            (folder / "site.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", "utf-8")
        text = json.dumps(self.truth(), ensure_ascii=False, indent=1)
        (out / "truth.json").write_text(text + "\n", encoding="utf-8")

    def write_all(self, out: Path) -> None:
        """Write the whole fleet at once; the files end exactly as applying every event would leave them."""
        self.write_metadata(out)
        for site in self.sites:
            folder = out / site.site
            buffers: dict[str, bytearray] = {}
            for event in site.events:
                if event.kind == APPEND:
                    buffers.setdefault(event.name, bytearray()).extend(event.data)
                else:
                    (folder / rotated_name(event.name)).write_bytes(bytes(buffers.pop(event.name, b"")))
            for name, data in buffers.items():
                (folder / name).write_bytes(bytes(data))


def apply_event(out: Path, event: FileEvent) -> None:
    """Apply one event to the folder `out/<SITE>/` as a live site would: append, or rotate by renaming."""
    folder = out / event.site
    path = folder / event.name
    if event.kind == APPEND:
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            handle.write(event.data)
    else:
        os.replace(path, folder / rotated_name(event.name))


class LiveWriter:
    """Writes a plan's events to `out` as a clock passes their times: the files grow and rotate live.

    The caller owns the clock (the demo maps wall time to simulated time with a speed-up) and calls
    `advance(now)` whenever it likes; each call applies every event due by `now`, in order. Call
    `plan.write_metadata(out)` first when a reader needs `site.json` / `truth.json`.
    """

    def __init__(self, plan: FleetPlan, out: Path) -> None:
        self.out = out
        self.applied = 0
        self._events = plan.events()
        self._next: FileEvent | None = next(self._events, None)

    @property
    def next_at(self) -> datetime | None:
        """When the next event is due (None once everything is written)."""
        return self._next.at if self._next is not None else None

    def advance(self, now: datetime) -> int:
        """Apply every event due at or before `now`; returns how many were applied."""
        count = 0
        while self._next is not None and self._next.at <= now:
            apply_event(self.out, self._next)
            self._next = next(self._events, None)
            count += 1
        self.applied += count
        return count


class Fleet:
    """Entry point of the engine: `Fleet.plan(...)` builds a `FleetPlan` (no I/O)."""

    @staticmethod
    def plan(
        sites: int,
        seed: int = 1,
        start: datetime | None = None,
        *,
        stall_window_s: int = STALL_WINDOW_S,
        min_span: timedelta = MIN_SPAN,
    ) -> FleetPlan:
        """Plan `sites` sites from `start` (default `DEFAULT_START`), deterministically for `seed`.

        The data ends `min_span` after the start, or later when no zone changes DST within it (the
        shortest span that holds a transition some sites can cross); `FleetPlan.end` says when.
        """
        if not 1 <= sites <= MAX_SITES:
            raise ValueError(f"sites must be between 1 and {MAX_SITES}, got {sites}")
        begin = _as_utc(start or DEFAULT_START)
        if min_span < timedelta(days=1):
            raise ValueError(f"min_span must be at least one day, got {min_span}")
        if not 600 <= stall_window_s <= 12 * 3600:
            raise ValueError(f"stall_window_s must be between 600 and 43200, got {stall_window_s}")
        end, crossing_zones = _data_range(begin, min_span)
        majority_era = "configmgr" if begin.year >= CONFIGMGR_FROM_YEAR else "sms2"
        minority_era = "sms2" if majority_era == "configmgr" else "configmgr"
        scenarios: list[tuple[Outcome, bool]] = []
        for block in range((sites + len(_SCENARIO_BLOCK) - 1) // len(_SCENARIO_BLOCK)):
            shuffled = list(_SCENARIO_BLOCK)
            random.Random(f"bootwatch-simulate:{seed}:block:{block}").shuffle(shuffled)
            scenarios.extend(shuffled)
        era_counts = {"sms2": 0, "configmgr": 0}
        failures = 0
        plans: list[SitePlan] = []
        for index in range(sites):
            era = minority_era if index % 4 == 3 else majority_era
            outcome, retried = scenarios[index]
            setting = _SiteSetting(
                index=index,
                era=era,
                era_index=era_counts[era],
                outcome=outcome,
                retried=retried,
                # Every third site not in progress crosses a DST change of its zone.
                crosses_dst=outcome != "in_progress" and index % 3 == 1 and bool(crossing_zones),
                failure_index=failures,
            )
            era_counts[era] += 1
            failures += int(retried) + int(outcome == "failed_unreported")
            rng = random.Random(f"bootwatch-simulate:{seed}:{site_code(index)}")
            plans.append(_plan_site(setting, rng, begin, end, crossing_zones, stall_window_s))
        return FleetPlan(seed=seed, start=begin, end=end, stall_window_s=stall_window_s, sites=tuple(plans))


# --------------------------------------------------------------------------- time range


def _as_utc(moment: datetime) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _data_range(start: datetime, min_span: timedelta) -> tuple[datetime, dict[str, datetime]]:
    """The data's end, and the zones (by IANA name) with a DST transition well inside the range.

    At least `min_span`; longer when no zone changes within it, so some sites can always cross one.
    """
    earliest = start + _TRANSITION_MARGIN_BEFORE
    first: dict[str, datetime] = {}
    for zone in r.ZONES:
        found = r.transitions(zone, earliest, earliest + _TRANSITION_SEARCH)
        if found:
            first[zone.iana] = found[0][0]
    end = start + min_span
    if first and min(first.values()) > end - _TRANSITION_MARGIN_AFTER:
        end = min(first.values()) + _TRANSITION_MARGIN_AFTER
    crossing = {iana: moment for iana, moment in first.items() if moment <= end - _TRANSITION_MARGIN_AFTER}
    return end, crossing


# --------------------------------------------------------------------------- per-site planning


@dataclass(frozen=True, slots=True)
class _SiteSetting:
    index: int
    era: str
    era_index: int
    outcome: Outcome
    retried: bool
    crosses_dst: bool
    # Failed attempts in the sites before this one: cycles the failure causes across the fleet.
    failure_index: int


@dataclass(slots=True)
class _Attempt:
    started_at: datetime
    last_at: datetime
    error_code: str | None = None
    failed_at: datetime | None = None
    stopped_at: datetime | None = None
    succeeded_at: datetime | None = None


@dataclass(slots=True)
class _SiteWriter:
    """Renders a site's records on one monotone clock into events, and keeps the truth of its attempts."""

    site: str
    zone: r.WindowsZone
    layouts: dict[str, r.FileLayout]
    threads: dict[str, int]
    context: dict[str, Any]
    rng: random.Random
    ambiguous: list[tuple[datetime, datetime]]
    clock: datetime
    events: list[FileEvent] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    attempts: list[_Attempt] = field(default_factory=list)

    def advance(self, low_s: float, high_s: float) -> None:
        self.clock += timedelta(seconds=self.rng.uniform(low_s, high_s))

    def step(self, step: c.Step, **extra: Any) -> datetime:
        """Write one record of the catalog after a short pause; returns the time the record states."""
        role, template, level, code, action = step
        self.advance(2, 240)
        values = {
            **self.context,
            **extra,
            "count": self.rng.randint(40, 400),
            "megabytes": self.rng.randint(180, 9000),
            "seconds": self.rng.choice((30, 60, 120)),
        }
        message = template.format(**values)
        return self.record(role, message, level, code.format(**values) if code else None, action)

    def leave_repeated_hour(self, layout: r.FileLayout) -> None:
        """Move the clock past a fall-back's repeated hour when the layout cannot say which one it is."""
        if layout.zoneless:
            for low, high in self.ambiguous:
                if low <= self.clock < high:
                    self.clock = high + timedelta(seconds=self.rng.uniform(5, 120))

    def record(self, role: str, message: str, level: str, code: str | None, action: str | None) -> datetime:
        layout = self.layouts[role]
        self.leave_repeated_hour(layout)
        stated = r.quantize(self.clock, layout.style)
        text = r.render(layout, self.zone, stated, message, self.threads[role], level)
        # What the parsers make of it: `@timestamp` keeps milliseconds.
        stated = stated.replace(microsecond=stated.microsecond - stated.microsecond % 1000)
        self._append(layout, text, stated, layout.family, level, code, action)
        self._observe(stated, level, code, action)
        return stated

    def plain(self, role: str, text: str) -> None:
        layout = self.layouts[role]
        self._append(layout, text.format(**self.context), None, "plain", None, None, None)

    def _append(
        self,
        layout: r.FileLayout,
        text: str,
        stated: datetime | None,
        family: str,
        level: str | None,
        code: str | None,
        action: str | None,
    ) -> None:
        name, encoding = layout.name, layout.encoding
        data = r.encode_record(text, encoding)
        size = self.sizes.get(name, 0)
        if size and size + len(data) > layout.size_limit:
            marker = r.encode_record(r.ROTATION_MARKER, encoding)
            self.events.append(FileEvent(self.clock, self.site, name, APPEND, marker, family="plain"))
            self.events.append(FileEvent(self.clock, self.site, name, ROTATE))
            size = 0
        if size == 0 and r.bom(encoding):
            self.events.append(FileEvent(self.clock, self.site, name, APPEND, r.bom(encoding)))
            size = len(r.bom(encoding))
        self.events.append(
            FileEvent(self.clock, self.site, name, APPEND, data, stated, family, level, code, action)
        )
        self.sizes[name] = size + len(data)

    def _observe(self, at: datetime, level: str, code: str | None, action: str | None) -> None:
        current = self.attempts[-1] if self.attempts else None
        # A start inside an unfinished attempt is a later stage of it (Setup starting after Bootstrap).
        finished = current is None or current.failed_at is not None or current.succeeded_at is not None
        if action == "install.started" and finished:
            self.attempts.append(_Attempt(started_at=at, last_at=at))
            return
        if current is None or current.succeeded_at is not None:
            return  # after a success, records belong to no attempt
        current.last_at = at
        if code and level == "error" and current.error_code is None:
            current.error_code = code
        if action == "install.failed" and current.failed_at is None:
            current.failed_at = at
        elif action == "install.succeeded":
            current.succeeded_at = at
        elif action == "bootstrap.stopped" and current.failed_at is not None:
            current.stopped_at = at


def _plan_site(
    setting: _SiteSetting,
    rng: random.Random,
    start: datetime,
    end: datetime,
    crossing_zones: dict[str, datetime],
    stall_window_s: int,
) -> SitePlan:
    code = site_code(setting.index)
    if setting.crosses_dst:
        iana = rng.choice(sorted(crossing_zones))
        zone = next(zone for zone in r.ZONES if zone.iana == iana)
    else:
        zones = r.ZONES
        if setting.outcome == "in_progress":
            # Not a zone that falls back in the last hours: zone-less records would have to skip the
            # repeated hour, which could push the attempt past the end of the data.
            zones = tuple(zone for zone in zones if not r.transitions(zone, end - _IN_PROGRESS_ROOM, end))
        zone = zones[(setting.index * 5 + rng.randrange(len(zones))) % len(zones)]
    city = rng.choice(zone.cities)
    host = f"{city}-SEC{setting.index % 100:02d}"[:15]
    layouts = _layouts(setting, rng)
    accented = any(layout.encoding == "cp1252" for layout in layouts.values()) or not city.isascii()
    parent, parent_server = rng.choice(_ACCENTED_PARENTS if accented else _PARENTS)
    context = {
        "site": code,
        "host": host,
        "fqdn": f"{host.lower()}.corp.example.com",
        "parent": parent,
        "parent_server": parent_server,
        "domain": rng.choice(("CORP", "EMEA", "NA")),
        "drive": rng.choice("CDE"),
        "data_dir": "Données\\SMS" if accented else "SMS",
        "pkg_dir": "Données\\SMSPKG" if accented else "SMSPKG",
        "binary": rng.choice(("smsexec.exe", "sitecomp.exe", "baseobj.dll")),
    }
    ambiguous = [
        (moment + change, moment - change)
        for moment, change in r.transitions(zone, start, end)
        if change < timedelta(0)
    ]
    writer = _SiteWriter(
        site=code,
        zone=zone,
        layouts=layouts,
        threads={role: _thread_id(rng) for role in layouts},
        context=context,
        rng=rng,
        ambiguous=ambiguous,
        clock=start,
    )
    latest_start = _latest_attempt_start(setting, rng, start, end, zone, crossing_zones, stall_window_s)
    if setting.retried:
        writer.clock = latest_start - timedelta(hours=rng.uniform(1, 4)) - timedelta(minutes=60)
        _write_attempt(writer, setting, "failed_unreported", deadline=None)
        writer.clock = max(writer.clock + timedelta(minutes=5), latest_start)
    else:
        writer.clock = latest_start
    _write_attempt(writer, setting, setting.outcome, deadline=end - timedelta(seconds=60))
    if setting.outcome == "succeeded":
        _write_chatter(writer, end)
    timezone = zone.iana if rng.random() < 0.5 else zone.zone_id
    return SitePlan(
        site=code,
        host=host,
        timezone=timezone,
        era=setting.era,
        outcome=setting.outcome,
        events=tuple(writer.events),
        truth=_site_truth(writer, setting, host, timezone, zone, start, end),
    )


def _latest_attempt_start(
    setting: _SiteSetting,
    rng: random.Random,
    start: datetime,
    end: datetime,
    zone: r.WindowsZone,
    crossing_zones: dict[str, datetime],
    stall_window_s: int,
) -> datetime:
    """When the latest attempt starts, so that its outcome holds as of the data's end."""
    if setting.outcome == "in_progress":
        # Every record of the attempt stays inside the stall window before the end.
        room = min(timedelta(seconds=stall_window_s), _IN_PROGRESS_LEAD)
        return end - room * rng.uniform(0.3, 0.8)
    if setting.crosses_dst:
        return crossing_zones[zone.iana] - timedelta(minutes=rng.uniform(10, 40))
    # Room for an earlier attempt (<= 5 h) before, and for the attempt itself (<= 1 h, plus an hour
    # skipped at a DST fall-back) before the end or, for a stall, before the stall window.
    earliest = start + timedelta(hours=6)
    if setting.outcome == "stalled":
        latest = end - timedelta(seconds=stall_window_s) - timedelta(hours=3)
    elif setting.outcome == "succeeded":
        latest = end - timedelta(hours=12)
    else:
        latest = end - timedelta(hours=3)
    return earliest + (latest - earliest) * rng.random()


def _layouts(setting: _SiteSetting, rng: random.Random) -> dict[str, r.FileLayout]:
    """The files of a site and how each writes; cycles by index so every fleet holds every variant."""
    k = setting.era_index
    succeeded = setting.outcome == "succeeded"
    bootstrap_encoding = r.ENCODINGS[k % len(r.ENCODINGS)]

    def encoding() -> str:
        return rng.choices(r.ENCODINGS, weights=(5, 2, 1, 2))[0]

    unpadded = k % 3 == 1
    gap = ("  ", "  ", " ", "")[k % 4]
    rotating = succeeded and k % 2 == 0
    despool_limit = rng.choice(_ROTATING_SIZE_LIMITS) if rotating else _NORMAL_SIZE_LIMIT
    bootstrap_name = _BOOTSTRAP_NAMES[k % len(_BOOTSTRAP_NAMES)]
    layouts: dict[str, r.FileLayout] = {}
    if setting.era == "sms2":
        bootstrap_style = (r.LEGACY_B, r.SMSPROV, r.LEGACY_B_NOZONE, r.LEGACY_B, r.LEGACY_A)[k % 5]
        layouts["bootstrap"] = r.FileLayout(
            bootstrap_name,
            bootstrap_style,
            bootstrap_encoding,
            "SMS_BOOTSTRAP",
            _NORMAL_SIZE_LIMIT,
            unpadded=unpadded,
            trailer_gap=gap,
            stamp_suffix="~" if bootstrap_style == r.LEGACY_A else " " * (k % 2),
        )
        layouts["setup"] = r.FileLayout("Smssetup.log", r.SMSSETUP, encoding(), "", _NORMAL_SIZE_LIMIT)
        if succeeded:
            despool_style = (r.LEGACY_A, r.LEGACY_B, r.LEGACY_B_NOZONE)[k % 3]
            layouts["hman"] = r.FileLayout(
                "hman.log",
                r.LEGACY_B,
                encoding(),
                "SMS_HIERARCHY_MANAGER",
                _NORMAL_SIZE_LIMIT,
                unpadded=unpadded,
                trailer_gap=gap,
            )
            layouts["despool"] = r.FileLayout(
                "despool.log",
                despool_style,
                encoding(),
                "SMS_DESPOOLER",
                despool_limit,
                unpadded=not unpadded,
                stamp_suffix="~" if despool_style == r.LEGACY_A else "",
            )
            layouts["sitecomp"] = r.FileLayout(
                "sitecomp.log", r.LEGACY_B, encoding(), "SMS_SITE_COMPONENT_MANAGER", _NORMAL_SIZE_LIMIT
            )
            layouts["prov"] = r.FileLayout(
                "SMSPROV.log", r.SMSPROV, encoding(), "SMS Provider", _NORMAL_SIZE_LIMIT
            )
        return layouts
    bootstrap_style = (r.CMTRACE, r.CMTRACE, r.CMTRACE_NOBIAS)[k % 3]
    layouts["bootstrap"] = r.FileLayout(
        bootstrap_name,
        bootstrap_style,
        bootstrap_encoding,
        "SMS_BOOTSTRAP",
        _NORMAL_SIZE_LIMIT,
        unpadded=unpadded,
        seven_digit_fraction=k % 4 == 2,
        attribute_order=k % 3,
        context=("", "NT AUTHORITY\\SYSTEM", "CORP\\smsadmin")[k % 3],
        source_file=("bootstrap.cpp:412", "", None)[k % 3],
    )
    layouts["prereq"] = r.FileLayout(
        "ConfigMgrPrereq.log",
        r.CMTRACE,
        encoding(),
        "ConfigMgrPrereq",
        _NORMAL_SIZE_LIMIT,
        unpadded=not unpadded,
        seven_digit_fraction=k % 2 == 1,
    )
    layouts["setup"] = r.FileLayout(
        "ConfigMgrSetup.log",
        r.LEGACY_C,
        encoding(),
        "Configuration Manager Setup",
        _NORMAL_SIZE_LIMIT,
        trailer_gap=gap,
    )
    if succeeded:
        layouts["hman"] = r.FileLayout(
            "hman.log", r.LEGACY_C, encoding(), "SMS_HIERARCHY_MANAGER", _NORMAL_SIZE_LIMIT
        )
        layouts["despool"] = r.FileLayout(
            "despool.log", r.LEGACY_C, encoding(), "SMS_DESPOOLER", despool_limit
        )
        layouts["sitecomp"] = r.FileLayout(
            "sitecomp.log", r.LEGACY_C, encoding(), "SMS_SITE_COMPONENT_MANAGER", _NORMAL_SIZE_LIMIT
        )
        layouts["smsexec"] = r.FileLayout(
            "smsexec.log",
            r.CMTRACE,
            encoding(),
            "SMS_EXECUTIVE",
            _NORMAL_SIZE_LIMIT,
            source_file="smsexec.cpp:88",
        )
    return layouts


def _thread_id(rng: random.Random) -> int:
    # Now and then a 32-bit unsigned id, as some components write (4294758987 (0xFFFCD24B)).
    return rng.randint(2**31, 2**32 - 1) if rng.random() < 0.1 else rng.randint(100, 9000)


def _write_attempt(
    writer: _SiteWriter, setting: _SiteSetting, outcome: str, deadline: datetime | None
) -> None:
    """One install attempt from its start marker to its outcome."""
    rng, era = writer.rng, setting.era
    if rng.random() < 0.3:
        writer.plain("bootstrap", rng.choice(c.PLAIN_BANNERS))
    starts = c.START_SMS2 if era == "sms2" else c.START_CONFIGMGR
    steps: list[c.Step] = [rng.choice(starts)]
    progress = list(c.PROGRESS_SMS2 if era == "sms2" else c.PROGRESS_CONFIGMGR)
    if rng.random() < 0.5:
        progress.insert(len(progress) // 2, c.SECOND_START[era])
    if rng.random() < 0.5:
        at = rng.randrange(len(progress) // 2, len(progress) + 1)
        progress[at:at] = [rng.choice(c.TRANSIENT), c.TRANSIENT_RECOVERED]
    if outcome == "succeeded" and rng.random() < 0.3:
        at = rng.randrange(1, len(progress) // 2)
        progress[at:at] = list(c.RECOVERED_ERROR)
    steps.extend(progress)
    if outcome == "stalled":
        # A hang mid-install: the last record is any step after the start (maybe a retried error).
        steps = steps[: rng.randrange(2, len(steps))]
        ending = rng.random()
        if ending < 0.3:
            steps.append(rng.choice(c.TRANSIENT))
        elif ending < 0.5:
            # Bootstrap quits without a word about why (KB Q201658): still a stall, not a failure.
            steps.append(rng.choice(c.STOPS))
    elif outcome == "failed_unreported":
        steps.extend(_failure_steps(writer, setting))
    elif outcome == "succeeded":
        steps.append(rng.choice(c.SUCCESS[era]))
        if rng.random() < 0.8:
            steps.append(rng.choice(c.STOPS))
    for index, step in enumerate(steps):
        if deadline is not None and index > 0 and writer.clock + timedelta(seconds=240) >= deadline:
            break
        writer.step(step)
        if rng.random() < 0.05 and step[0] == "setup" and era == "sms2":
            writer.plain("setup", rng.choice((*c.PLAIN_BANNERS, c.PLAIN_CONTINUATION)))


def _failure_steps(writer: _SiteWriter, setting: _SiteSetting) -> list[c.Step]:
    rng = writer.rng
    # Cycle through the causes by site so every error-code form appears in a fleet.
    variant = (setting.failure_index + len(writer.attempts)) % (len(c.CAUSES) + 1)
    if variant == len(c.CAUSES) and setting.era == "configmgr":
        steps = list(c.PREREQ_FAILURE)
    else:
        cause = c.CAUSES[variant % len(c.CAUSES)]
        steps = [cause.step]
        if cause.win32 is not None and rng.random() < 0.5:
            role, template, level, _code, action = c.FATAL_WIN32
            hresult = f"0x{0x80070000 | cause.win32:08X}"
            steps.append((role, template.replace("{win32}", str(cause.win32)), level, hresult, action))
        else:
            steps.append(rng.choice(c.FATAL_GENERIC))
    if rng.random() < 0.7:
        steps.append(rng.choice(c.STOPS))
    return steps


def _write_chatter(writer: _SiteWriter, end: datetime) -> None:
    """Component logs of an installed site, from its success to the end of the data."""
    rng = writer.rng
    roles = [role for role in ("hman", "despool", "sitecomp", "prov", "smsexec") if role in writer.layouts]
    weights = [3 if role == "despool" else 1 for role in roles]
    remaining = rng.randint(60, 140)
    stop = end - timedelta(seconds=30)
    while remaining:
        budget = (stop - writer.clock).total_seconds()
        pause = max(2.0, budget / remaining * rng.uniform(0.5, 1.5))
        if writer.clock + timedelta(seconds=pause) >= stop:
            break
        writer.clock += timedelta(seconds=pause)
        role = rng.choices(roles, weights)[0]
        layout = writer.layouts[role]
        values = {
            **writer.context,
            "hex": f"{rng.getrandbits(32):08X}",
            "number": rng.randint(1, 400),
            "version": rng.randint(1, 9),
            "megabytes": rng.randint(180, 9000),
            "thread": writer.threads[role],
        }
        if role in c.STATMSG_IDS and layout.family == "sms_legacy" and rng.random() < 0.2:
            message = _statmsg(writer, role, layout, values)
            writer.record(role, message, "info", None, None)
        else:
            template, level = rng.choice(c.CHATTER[role])
            writer.record(role, template.format(**values), level, None, None)
        remaining -= 1


def _statmsg(writer: _SiteWriter, role: str, layout: r.FileLayout, values: dict[str, Any]) -> str:
    """A `STATMSG:` line; GMTDATE is the record's own instant in UTC, at the layout's precision."""
    writer.leave_repeated_hour(layout)
    stated = r.quantize(writer.clock, layout.style)
    message_id = writer.rng.choice(c.STATMSG_IDS[role])
    strings = [values["site"], values["parent"], "", "", "", "", "", "", "", ""]
    insertions = " ".join(f'ISTR{position}="{text}"' for position, text in enumerate(strings))
    return (
        f'STATMSG: ID={message_id} SEV=I LEV=M SOURCE="SMS Server" COMP="{layout.component}" '
        f"SYS={values['host']} SITE={values['site']} PID={writer.rng.randint(400, 4000)} "
        f"TID={writer.threads[role]} GMTDATE={r.gmt_date(stated)} {insertions} NUMATTRS=0"
    )


def _site_truth(
    writer: _SiteWriter,
    setting: _SiteSetting,
    host: str,
    timezone: str,
    zone: r.WindowsZone,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    latest = writer.attempts[-1]
    ended = latest.succeeded_at
    if ended is None and latest.failed_at is not None:
        ended = latest.stopped_at or latest.failed_at
    files = set()
    for event in writer.events:
        files.add(rotated_name(event.name) if event.kind == ROTATE else event.name)
    record_times = [event.at for event in writer.events if event.family not in (None, "plain")]
    crossings = [moment for moment, _change in r.transitions(zone, start, end)]
    return {
        "site": writer.site,
        "host": host,
        "timezone": timezone,
        "era": setting.era,
        "outcome": setting.outcome,
        "started_at": _iso(latest.started_at),
        "ended_at": _iso(ended) if ended else None,
        "failed_at": _iso(latest.failed_at) if latest.failed_at else None,
        "last_record_at": _iso(latest.last_at),
        "error_code": latest.error_code,
        "attempts": len(writer.attempts),
        "crosses_dst": any(record_times[0] < moment <= record_times[-1] for moment in crossings),
        "files": sorted(files),
    }
