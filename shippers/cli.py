"""`ship` command line: shared by `bootwatch ship` and the standalone `python -m shippers`.

The standalone form needs only the standard library, fluent-logger and msgpack on the server.
User mistakes raise `ConfigError` / `StateError`; the caller prints them as one line, exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from shippers.config import ShipperConfig, load_config

HELP = "Follow the Bootstrap and setup logs on this secondary and ship every record to the collectors."
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", type=Path,
                        help="Shipper config (TOML); see deploy/shipper.example.toml")
    parser.add_argument("--check", action="store_true",
                        help="Validate the config, list the files it would follow, and exit")


def describe(config: ShipperConfig) -> str:
    """What `--check` prints: the settings that matter and the files found now."""
    from shippers.follow import expand_paths

    files = expand_paths(config.paths)
    lines = [f"config OK: site {config.site}, host {config.host}, zone {config.timezone}",
             f"collectors: {', '.join(config.collectors)}"
             + (" (TLS)" if config.tls.enabled else "") + (" (shared key)" if config.auth.shared_key else ""),
             f"state_dir: {config.state_dir}",
             f"files it would follow now ({len(files)}):"]
    lines.extend(f"  {path}" for path in files)
    if not files:
        lines.append("  (none yet: the patterns are checked again every rescan_s seconds)")
    return "\n".join(lines)


def configure_logging(config: ShipperConfig) -> None:
    root = logging.getLogger("bootwatch.shipper")
    root.setLevel(config.log_level.upper())
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if config.log_file:
        handlers.append(logging.FileHandler(config.log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    if config.log_forward:
        # fluent-logger's handler sends each log line as a Forward event (no acks: best effort).
        from fluent.handler import FluentHandler, FluentRecordFormatter

        host, _sep, port = config.log_forward.rpartition(":")
        forward = FluentHandler(f"bootwatch-shipper.{config.site}", host=host, port=int(port))
        forward.setFormatter(FluentRecordFormatter({"host": "%(hostname)s", "level": "%(levelname)s",
                                                    "logger": "%(name)s"}))
        handlers.append(forward)
    for handler in handlers:
        root.addHandler(handler)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(_signum: int, _frame: object) -> None:
        stop.set()

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):  # SIGBREAK: Ctrl+Break / service stop on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handle)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.check:
        print(describe(config))
        return 0
    from shippers.service import Shipper

    configure_logging(config)
    stop = threading.Event()
    _stop_on_signals(stop)
    Shipper(config, stop).run()
    return 0
