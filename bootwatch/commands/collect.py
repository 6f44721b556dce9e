"""`bootwatch collect`: the central collector (Forward server -> spool -> parse -> Elasticsearch)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from bootwatch.errors import UserError

if TYPE_CHECKING:
    from parsers.collector.service import Collector

NAME = "collect"
HELP = (
    "Run the central collector: receive Forward-protocol frames from shippers, Fluent Bit or Fluentd, "
    "spool them on disk, parse and index them. Stops cleanly on SIGTERM / Ctrl-C."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="Collector config (TOML); see deploy/")
    parser.add_argument("--listen", metavar="HOST:PORT", help="Where to listen (default 127.0.0.1:24224)")
    parser.add_argument(
        "--state-dir", type=Path, metavar="DIR", help="Folder of the spool (default: the user's data folder)"
    )
    parser.add_argument(
        "--es-url", metavar="URL",
        help="Elasticsearch URL (env BOOTWATCH_ES_URL; credentials from BOOTWATCH_ES_API_KEY, "
             "BOOTWATCH_ES_USER / BOOTWATCH_ES_PASSWORD, BOOTWATCH_ES_CA). Default: the embedded engine",
    )
    parser.add_argument(
        "--sink", choices=("store", "null"), default="store",
        help="Where documents go: the store (default), or nowhere (null: parse and count, for measuring)",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def run(args: argparse.Namespace) -> int:
    from parsers.collector.config import ConfigError, load_config
    from parsers.collector.service import Collector
    from parsers.collector.sinks import NullSink, Sink, StoreSink
    from parsers.lifecycle.rules import RulesError, load_rules
    from parsers.spool import SpoolFormatError
    from parsers.store.connect import connect, settings_from_args
    from parsers.store.errors import StoreConfigError

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(
            args.config, {"listen": args.listen, "state_dir": args.state_dir, "es_url": args.es_url}
        )
        settings = settings_from_args(args)
    except (ConfigError, StoreConfigError) as exc:
        raise UserError(str(exc)) from None
    try:
        rules = load_rules(config.pipeline.rules_file)
    except RulesError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read pipeline.rules_file {config.pipeline.rules_file}: {exc.strerror}") from None

    sink: Sink
    if args.sink == "null":
        sink = NullSink()
    else:
        es_url = config.es_url or settings.es_url
        settings = settings.model_copy(update={"es_url": es_url})
        sink = StoreSink(lambda: connect(settings=settings))
    # The embedded engine keeps nothing across restarts: rebuild it from the spool's retained frames.
    replay = args.sink == "null" or not (config.es_url or settings.es_url)
    try:
        collector = Collector(config, sink, rules=rules, replay_retained=replay)
    except SpoolFormatError as exc:
        raise UserError(str(exc)) from None
    except (OSError, ValueError) as exc:  # unreadable TLS files, a state dir we cannot create
        raise UserError(f"cannot start the collector: {exc}; check the tls files and --state-dir") from None
    return asyncio.run(_serve(collector))


async def _serve(collector: Collector) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await collector.start()
    except OSError as exc:
        await collector.stop()
        where = collector.config.listen
        raise UserError(f"cannot listen on {where}: {exc.strerror}; choose another --listen") from None
    await stop.wait()
    logging.getLogger(__name__).info("stopping: no more connections or acks; flushing")
    await collector.stop()
    return 0
