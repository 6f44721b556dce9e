"""`python -m shippers --config FILE`: the shipper without the rest of bootwatch installed."""

from __future__ import annotations

import argparse
import sys

from shippers import cli
from shippers.checkpoint import StateError
from shippers.config import ConfigError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m shippers", description=cli.HELP)
    cli.add_arguments(parser)
    args = parser.parse_args()
    try:
        return cli.run(args)
    except (ConfigError, StateError) as exc:
        print(f"shipper: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
