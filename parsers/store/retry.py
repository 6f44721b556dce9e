"""Retry as a policy object: what a bulk item's status means, and how long to wait before resending.

Only 429, 5xx and connection errors are worth retrying; a 409 on `create` means the record is already
stored (deduplicated), and any other 4xx is the record's own fault (dead-lettered, never retried).
Backoff is capped and fully jittered so collectors that were refused together do not come back together.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class ItemOutcome(StrEnum):
    """What became of one bulk item."""

    INDEXED = "indexed"
    DEDUPLICATED = "deduplicated"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(slots=True)
class RetryPolicy:
    """Which failures are retried, how often, and the capped, jittered wait before each resend."""

    max_attempts: int = 8
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    @staticmethod
    def outcome(status: int) -> ItemOutcome:
        """Classify one item's HTTP status (a connection error counts as 503: nothing was stored)."""
        if 200 <= status < 300:
            return ItemOutcome.INDEXED
        if status == 409:
            return ItemOutcome.DEDUPLICATED
        if status == 429 or status >= 500:
            return ItemOutcome.RETRY
        return ItemOutcome.DEAD_LETTER

    def should_retry(self, attempt: int) -> bool:
        """After `attempt` sends (1-based) that left items to retry: send again?"""
        return attempt < self.max_attempts

    def backoff_s(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, initial * 2**(attempt-1))]."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        return self.rng.uniform(0.0, ceiling)

    def wait(self, attempt: int) -> None:
        self.sleep(self.backoff_s(attempt))
