"""`bootwatch demo`: the whole system on one machine, with nothing configured, in about a minute.

Stages, each a function below:
1. `plan_recent_fleet` - a simulated fleet whose data ends now (the collector judges install attempts
   as of the wall clock, so the simulated history must lead up to it), spanning back to the latest
   DST change of some zone so the DST traps are in it.
2. `DemoStack` - the store (embedded engine, or `--es-url`), a collector (`bootwatch collect`, a child
   process) on a free 127.0.0.1 port, and one shipper (`shippers.service.Shipper`, a thread here) per
   site, following its site's folder and forwarding over the Forward protocol: the real path.
3. `play` - `LiveWriter` writes the fleet's log files with an accelerated clock (the whole span in
   `duration_s` seconds, paced by events) while the shippers tail them; then waits until the
   collector indexed every record, and re-judges every open attempt as of now (the sweep the
   collector runs every minute).
4. The summary: each site's latest attempt, the fleet statistics, the HTML report.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bootwatch.simulate import APPEND, MIN_SPAN, Fleet, FleetPlan, LiveWriter
from dashboards.stats.compute import FleetStats, StatsQuery, compute_stats
from parsers.schema import SiteAttempt
from parsers.store.connect import Store, StoreSettings, connect
from parsers.store.sites import SiteStore
from parsers.store.templates import LOGS_INDEX_PREFIX, install_templates
from shippers.config import ShipperConfig
from shippers.service import Shipper

DEFAULT_SITES = 200
DEFAULT_DURATION_S = 45.0
# How far back to look for a DST change to start the data before (weekly steps).
_DST_SEARCH_WEEKS = 60
_TICK_S = 0.2
# Counting the store's records costs a refresh: once a second is plenty for a progress bar.
_COUNT_EVERY_S = 1.0
# After the last file write: shippers poll each second and flush partial records after one.
DELIVERY_TIMEOUT_S = 90.0
# No new record indexed for this long after the last write: the rest is not coming.
SETTLED_AFTER_S = 30.0
COLLECTOR_START_TIMEOUT_S = 20.0
COLLECTOR_STOP_TIMEOUT_S = 30.0
SHIPPER_STOP_TIMEOUT_S = 15.0
# Keeps the collector's and shippers' info lines (one per connection) out of the demo's output.
_QUIET_LOGGERS = ("bootwatch.shipper", "elastic_transport", "elasticsearch")
# The shipper warns about each rotation it follows; in a demo that rotates on purpose it is noise.
_SILENCED_LOGGERS = ("bootwatch.shipper",)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    sites: int = DEFAULT_SITES
    duration_s: float = DEFAULT_DURATION_S
    seed: int = 1
    settings: StoreSettings | None = None
    work_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """One look at the demo's progress (sent to the caller's callback)."""

    stage: str
    events_written: int
    events_total: int
    records_indexed: int
    records_total: int
    simulated_now: datetime | None


@dataclass(slots=True)
class DemoResult:
    plan: FleetPlan
    latest: dict[str, SiteAttempt]
    stats: FleetStats
    records_indexed: int
    records_expected: int
    elapsed_s: float
    store_url: str
    embedded: bool


ProgressCallback = Callable[[Progress], None]


class DemoError(Exception):
    """A part of the demo could not run (the collector would not start or stopped); one line."""


def plan_recent_fleet(sites: int, seed: int, now: datetime) -> FleetPlan:
    """A fleet whose data ends at `now` and starts before the latest DST change some zone had."""
    now = now.astimezone(UTC).replace(microsecond=0)
    for week in range(_DST_SEARCH_WEEKS):
        start = now - MIN_SPAN - timedelta(weeks=week)
        # The plan only stretches its span to reach a DST change that lies AFTER the requested end;
        # an end exactly `now` means a change lies inside [start, now].
        probe = Fleet.plan(1, seed, start, min_span=now - start)
        if probe.end == now:
            return Fleet.plan(sites, seed, start, min_span=now - start)
    return Fleet.plan(sites, seed, now - MIN_SPAN)


def expected_records(plan: FleetPlan) -> int:
    """Records the fleet writes: appends that carry a record (not a byte-order mark, not a rename)."""
    return sum(1 for site in plan.sites for event in site.events if event.kind == APPEND and event.family)


class DemoStack:
    """The store, one collector (`bootwatch collect`, a child process) and a shipper per site (threads).

    The collector runs as its own process so its parsing and indexing do not compete for one
    interpreter lock with the shippers' hundreds of threads."""

    def __init__(
        self, plan: FleetPlan, logs_dir: Path, state_dir: Path, store: Store, settings: StoreSettings
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.logs_dir = logs_dir
        self.state_dir = state_dir
        self.store = store
        self.stop_shippers = threading.Event()
        self._shipper_threads: list[threading.Thread] = []
        self.shipper_failures: list[str] = []
        self.collector: subprocess.Popen[bytes] | None = None
        self.collector_log = state_dir / "collector.log"

    # ------------------------------------------------------------------ collector

    def start_collector(self) -> int:
        """Start `bootwatch collect` on a free loopback port, returns the port."""
        port = _free_port()
        spool_dir = self.state_dir / "collector"
        spool_dir.mkdir(parents=True, exist_ok=True)
        config = spool_dir / "collector.toml"
        # a demo's spool is thrown away: crash safety without fsync is plenty
        config.write_text(
            f'listen = "127.0.0.1:{port}"\n'
            "[spool]\nfsync = false\n"
            "[pipeline]\nsite_sweep_s = 30.0\n"
            # port 0: any free port, so several collectors on one machine never clash
            '[observability]\nmetrics_listen = "127.0.0.1:0"\n',
            encoding="utf-8",
        )
        with self.collector_log.open("wb") as log_file:
            self.collector = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bootwatch",
                    "collect",
                    "--config",
                    str(config),
                    "--state-dir",
                    str(spool_dir),
                    "--es-url",
                    self.store.url,
                    "--log-level",
                    "WARNING",
                ],
                env=self._collector_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + COLLECTOR_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.collector.poll() is not None:
                raise DemoError(f"the collector exited at start: {self.collector_output()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return port
            except OSError:
                time.sleep(_TICK_S)
        raise DemoError(f"the collector did not listen within {COLLECTOR_START_TIMEOUT_S:.0f} s")

    def _collector_environment(self) -> dict[str, str]:
        """This process's environment plus the store credentials, which the child reads from it."""
        environment = dict(os.environ)
        credentials = {
            "BOOTWATCH_ES_API_KEY": self.settings.api_key,
            "BOOTWATCH_ES_USER": self.settings.username,
            "BOOTWATCH_ES_PASSWORD": self.settings.password,
            "BOOTWATCH_ES_CA": str(self.settings.ca_certs) if self.settings.ca_certs else None,
        }
        environment.update({name: value for name, value in credentials.items() if value})
        return environment

    def collector_exited(self) -> bool:
        return self.collector is not None and self.collector.poll() is not None

    def collector_output(self) -> str:
        try:
            return self.collector_log.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
        except OSError as exc:
            return f"(no output: {exc})"

    def records_done(self) -> int:
        """Log records the store holds."""
        self.store.client.indices.refresh(index=f"{LOGS_INDEX_PREFIX}-*", allow_no_indices=True)
        answer = self.store.client.count(index=f"{LOGS_INDEX_PREFIX}-*", allow_no_indices=True)
        return int(answer["count"])

    # ------------------------------------------------------------------ shippers

    def start_shippers(self, port: int) -> None:
        for site in self.plan.sites:
            folder = self.logs_dir / site.site
            config = ShipperConfig(
                site=site.site,
                collectors=[f"127.0.0.1:{port}"],
                host=site.host,
                paths=[str(folder / "*.log")],
                state_dir=str(self.state_dir / "shippers" / site.site),
                timezone=site.timezone,
                heartbeat_s=30.0,
                # The accelerated clock can rotate a busy log every few hundred milliseconds: poll
                # (and look for new files) often enough that no log rotates twice between two polls.
                poll_interval_s=0.5,
                rescan_s=0.5,
                flush_after_s=1.0,
                connect_timeout_s=5.0,
                ack_timeout_s=20.0,
                backoff_initial_s=0.5,
                backoff_max_s=5.0,
            )
            thread = threading.Thread(
                target=self._run_shipper,
                args=(Shipper(config, self.stop_shippers),),
                name=f"ship-{site.site}",
            )
            thread.daemon = True
            thread.start()
            self._shipper_threads.append(thread)

    def _run_shipper(self, shipper: Shipper) -> None:
        try:
            shipper.run()
        except Exception as exc:  # one broken shipper is reported in the summary, the rest go on
            self.shipper_failures.append(f"{shipper.config.site}: {exc}")

    # ------------------------------------------------------------------ stop

    def stop(self) -> None:
        self.stop_shippers.set()
        deadline = time.monotonic() + SHIPPER_STOP_TIMEOUT_S
        for thread in self._shipper_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.collector is not None and self.collector.poll() is None:
            self.collector.terminate()  # SIGTERM: the collector stops cleanly
            try:
                self.collector.wait(COLLECTOR_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.collector.kill()
                self.collector.wait(COLLECTOR_STOP_TIMEOUT_S)


def _free_port() -> int:
    """A loopback port nobody listens on now (the collector binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _quiet_component_logs() -> Iterator[None]:
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR if name in _SILENCED_LOGGERS else logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def play(stack: DemoStack, plan: FleetPlan, duration_s: float, report: ProgressCallback) -> tuple[int, int]:
    """Write the fleet's logs with an accelerated clock, then wait for every record to be indexed.

    The clock is paced by events, not by a fixed speed-up: it moves so that the fleet's writes are
    spread evenly over `duration_s`, racing through quiet nights and slowing down where many sites
    write at once. At a fixed speed-up (weeks in a minute) a busy log would rotate twice between two
    polls of its shipper, and the first rotated file would be overwritten before anyone read it, which
    no real site does. Returns (records indexed, records expected)."""
    writer = LiveWriter(plan, stack.logs_dir)
    times = [event.at for event in plan.events()]
    records_total = expected_records(plan)
    began = time.monotonic()
    indexed = 0
    counted_at = 0.0
    while writer.next_at is not None:
        elapsed = time.monotonic() - began
        due = min(len(times), int(len(times) * elapsed / duration_s) + 1)
        simulated_now = times[due - 1]
        writer.advance(simulated_now)
        if elapsed - counted_at >= _COUNT_EVERY_S:
            indexed, counted_at = stack.records_done(), elapsed
        report(Progress("writing", writer.applied, len(times), indexed, records_total, simulated_now))
        time.sleep(_TICK_S)
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    last_change = time.monotonic()
    while (count := stack.records_done()) < records_total and time.monotonic() < deadline:
        if stack.collector_exited():
            raise DemoError(f"the collector stopped: {stack.collector_output()}")
        if count != indexed:
            indexed, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > SETTLED_AFTER_S:
            break  # nothing more is coming: the summary says how many records are missing
        report(Progress("delivering", len(times), len(times), indexed, records_total, plan.end))
        time.sleep(_COUNT_EVERY_S)
    indexed = stack.records_done()
    report(Progress("judging", len(times), len(times), indexed, records_total, plan.end))
    return indexed, records_total


def run_demo(
    options: DemoOptions, report: ProgressCallback, *, keep: Callable[[DemoResult], None] | None = None
) -> DemoResult:
    """Run the demo end to end; `keep`, when given, is called with the result while everything still runs
    (the `--keep-running` wait)."""
    began = time.monotonic()
    settings = options.settings or StoreSettings()
    with tempfile.TemporaryDirectory(prefix="bootwatch-demo-", dir=options.work_dir) as scratch:
        work = Path(scratch)
        plan = plan_recent_fleet(options.sites, options.seed, datetime.now(UTC))
        logs_dir = work / "sites"
        plan.write_metadata(logs_dir)
        with connect(settings=settings) as store, _quiet_component_logs():
            install_templates(store)
            stack = DemoStack(plan, logs_dir, work / "state", store, settings)
            try:
                port = stack.start_collector()
                stack.start_shippers(port)
                indexed, expected = play(stack, plan, options.duration_s, report)
                as_of = datetime.now(UTC)
                sites = SiteStore(store)
                store.client.indices.refresh(index="bootwatch-*")
                sites.sweep(as_of)
                store.client.indices.refresh(index="bootwatch-*")
                latest = sites.latest_attempts()
                stats = compute_stats(
                    store, StatsQuery(start=plan.start - timedelta(hours=1), end=as_of, as_of=as_of)
                )
                result = DemoResult(
                    plan=plan,
                    latest=latest,
                    stats=stats,
                    records_indexed=indexed,
                    records_expected=expected,
                    elapsed_s=time.monotonic() - began,
                    store_url=store.url,
                    embedded=store.is_embedded,
                )
                if keep is not None:
                    keep(result)
                return result
            finally:
                stack.stop()
