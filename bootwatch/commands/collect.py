"""`bootwatch collect`: the central collector (Forward server -> spool -> parse -> Elasticsearch)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bootwatch.commands._gc import tune_for_streaming
from bootwatch.errors import UserError
from parsers.store.connect import add_store_arguments

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
    add_store_arguments(parser)
    parser.add_argument(
        "--sink",
        choices=("store", "null"),
        default="store",
        help="Where documents go: the store (default), or nowhere (null: parse and count, for measuring)",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from parsers.collector.config import ConfigError, describe_validation_error, load_config
    from parsers.collector.service import Collector
    from parsers.collector.sinks import NullSink, Sink, StoreSink
    from parsers.lifecycle.rules import RulesError, load_rules
    from parsers.spool import SpoolFormatError
    from parsers.store.connect import URL_ENV, StoreSettings, connect, settings_from_args
    from parsers.store.errors import StoreConfigError

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, {"listen": args.listen, "state_dir": args.state_dir})
        settings = settings_from_args(args)
    except (ConfigError, StoreConfigError) as exc:
        raise UserError(str(exc)) from None
    try:
        rules = load_rules(config.pipeline.rules_file)
    except RulesError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        rules_file = config.pipeline.rules_file
        raise UserError(f"cannot read pipeline.rules_file {rules_file}: {exc.strerror}") from None
    if config.store:
        try:
            given = settings.model_dump(exclude_unset=True)
            settings = StoreSettings.model_validate({**config.store, **given})
        except ValidationError as exc:
            raise UserError(describe_validation_error(exc, f"{args.config} [store]")) from None

    # --es-url and BOOTWATCH_ES_URL win over the collector config, which wins over a [store] table.
    explicit_url = args.es_url or os.environ.get(URL_ENV)
    settings = settings.model_copy(update={"es_url": explicit_url or config.es_url or settings.es_url})
    sink: Sink = NullSink() if args.sink == "null" else StoreSink(lambda: connect(settings=settings))
    if args.sink == "null":
        # Writes are spaced out to spare a store its cost per request; the null sink has none.
        pipeline = config.pipeline.model_copy(update={"store_interval_s": 0.0})
        config = config.model_copy(update={"pipeline": pipeline})
    # The embedded engine keeps nothing across restarts: rebuild it from the spool's retained frames.
    replay = args.sink == "null" or settings.es_url is None
    try:
        collector = Collector(config, sink, rules=rules, replay_retained=replay)
    except (SpoolFormatError, ConfigError) as exc:
        raise UserError(str(exc)) from None
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
        config = collector.config
        raise UserError(
            f"cannot listen ({exc.strerror}) on listen = {config.listen} or observability.metrics_listen = "
            f"{config.observability.metrics_listen}; choose free addresses"
        ) from None
    tune_for_streaming()
    stopped = asyncio.create_task(stop.wait())
    failed = asyncio.create_task(collector.failed.wait())
    await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
    for waiter in (stopped, failed):
        waiter.cancel()
    logging.getLogger(__name__).info("stopping: no more connections or acks; flushing")
    await collector.stop()
    if collector.failed.is_set():
        print(
            "bootwatch collect: the pipeline failed (see the log above); the spool keeps every frame",
            file=sys.stderr,
        )
        return 1
    return 0
