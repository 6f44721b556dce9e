"""The retry policy: which statuses are retried and how long it waits."""

from __future__ import annotations

import random

from parsers.store.retry import ItemOutcome, RetryPolicy


def test_statuses_are_classified_into_outcomes() -> None:
    outcomes = {status: RetryPolicy.outcome(status) for status in (200, 201, 409, 429, 500, 503, 400, 404)}
    assert outcomes == {
        200: ItemOutcome.INDEXED,
        201: ItemOutcome.INDEXED,
        409: ItemOutcome.DEDUPLICATED,
        429: ItemOutcome.RETRY,
        500: ItemOutcome.RETRY,
        503: ItemOutcome.RETRY,
        400: ItemOutcome.DEAD_LETTER,
        404: ItemOutcome.DEAD_LETTER,
    }


def test_backoff_is_jittered_below_an_exponential_ceiling_and_capped() -> None:
    policy = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=4.0, rng=random.Random(7))
    waits = {attempt: [policy.backoff_s(attempt) for _ in range(200)] for attempt in (1, 2, 3, 10)}
    assert max(waits[1]) <= 0.5 and max(waits[2]) <= 1.0 and max(waits[3]) <= 2.0
    assert max(waits[10]) <= 4.0 and max(waits[10]) > 3.0
    assert len(set(waits[10])) == 200


def test_attempts_stop_at_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.should_retry(attempt) for attempt in (1, 2, 3)] == [True, True, False]


def test_wait_sleeps_for_the_backoff() -> None:
    slept: list[float] = []
    policy = RetryPolicy(initial_backoff_s=1.0, rng=random.Random(1), sleep=slept.append)
    policy.wait(1)
    assert len(slept) == 1 and 0.0 <= slept[0] <= 1.0
