"""The retry policy every channel shares: which failures are worth another try, and how long to wait."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class DeliveryError(Exception):
    """A delivery failed. `retryable`: a later try may succeed (connection refused, 429, 5xx, SMTP 4xx).
    `retry_after_s`: the server's own hint (HTTP Retry-After), if any."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.tries = 0  # set by RetryPolicy.run: how many tries were made before giving up


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Up to `attempts` tries; waits `backoff_s`, doubling, capped at `max_backoff_s`, jittered -20%..+0%."""

    attempts: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def wait_before(self, next_try: int, error: DeliveryError) -> float:
        """Seconds to wait before try number `next_try` (2, 3, ...)."""
        planned = min(self.max_backoff_s, self.backoff_s * 2 ** (next_try - 2))
        if error.retry_after_s is not None:
            planned = min(self.max_backoff_s, max(planned, error.retry_after_s))
        # Jitter below the plan only: many runners retrying one webhook do not retry in step.
        return planned * random.uniform(0.8, 1.0)

    def run(self, send: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> tuple[T, int]:
        """Call `send` until it succeeds, fails for good, or runs out of tries; returns (result, tries).
        Raises the last `DeliveryError`, with `tries` set on it."""
        tries = 0
        while True:
            tries += 1
            try:
                return send(), tries
            except DeliveryError as exc:
                exc.tries = tries
                if not exc.retryable or tries >= self.attempts:
                    raise
                sleep(self.wait_before(tries + 1, exc))
