"""Error types of the store; commands translate `StoreConfigError` into a one-line user error.

`parsers` must not import `bootwatch` (imports run one way), so the store defines its own types.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store failure."""


class StoreConfigError(StoreError):
    """The store settings are wrong (bad URL, missing CA file, bad config table): the user can fix it."""


class StoreUnavailable(StoreError):
    """The server could not be reached or kept refusing after the retry policy gave up."""
