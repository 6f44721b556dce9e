"""Shared pieces of the format modules: the bounded text caches."""

from __future__ import annotations

from parsers.formats.record import UNSEEN, BoundedCache, MinuteCache


def test_a_bounded_cache_forgets_everything_once_full() -> None:
    cache: BoundedCache[int] = BoundedCache()
    cache.limit = 3
    for number in range(3):
        assert cache.remember(str(number), number) == number
    assert len(cache) == 3
    cache.remember("3", 3)
    assert dict(cache) == {"3": 3}


def test_a_cached_none_is_an_answer_not_a_miss() -> None:
    minutes = MinuteCache()
    assert minutes.numeric("02-30-2016 10:00", "2016", "02", "30", "10", "00") is None
    assert minutes.get("02-30-2016 10:00", UNSEEN) is None
    assert minutes.numeric("07-26-2016 09:05", "2016", "07", "26", "09", "05") == (2016, 7, 26, 9, 5)
