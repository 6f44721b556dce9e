"""Opening the store from a command: store errors become one-line user errors (exit 2)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bootwatch.errors import UserError

if TYPE_CHECKING:
    from datetime import datetime

    from parsers.store.connect import Store


def open_store(args: argparse.Namespace) -> Store:
    """The store the command's `--es-url`/auth options (or env, or config file) select."""
    from parsers.store.connect import connect_from_args
    from parsers.store.errors import StoreError

    try:
        return connect_from_args(args)
    except StoreError as exc:
        raise UserError(str(exc)) from None


def as_of_argument(text: str | None) -> datetime:
    """`--as-of` as an aware UTC time; the wall clock when not given."""
    from datetime import UTC, datetime

    from dashboards.queries import parse_instant

    if text is None:
        return datetime.now(UTC)
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise UserError(f"--as-of: {exc}") from None
