"""Shared pieces of the format modules: the bounded text caches, minutes from digit texts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parsers.formats.record import (
    UNSEEN,
    BoundedCache,
    MinuteCache,
    numeric_minute,
    seconds_text,
    valid_minute,
)


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


_DIGIT_TEXTS = st.one_of(
    st.integers(0, 99).map(str), st.integers(0, 99).map("{:02d}".format), st.integers(0, 9999).map(str),
    st.sampled_from(["٣", "０9", "007", "60", "24"]),  # other scripts' digits, too many, out of range
)


@given(_DIGIT_TEXTS, _DIGIT_TEXTS, _DIGIT_TEXTS, _DIGIT_TEXTS, _DIGIT_TEXTS)
def test_numeric_minute_agrees_with_validating_the_numbers(year: str, month: str, day: str, hour: str,
                                                           minute: str) -> None:
    expected = valid_minute(int(year), int(month), int(day), int(hour), int(minute))
    assert numeric_minute(year, month, day, hour, minute) == expected
    assert numeric_minute(year, month, day, hour, minute) == expected  # the date now remembered


def test_seconds_are_written_in_ascii_digits_whatever_script_the_log_used() -> None:
    assert seconds_text("07", "1234567") == "07.123"
    assert seconds_text("7", "5") == "07.500"
    assert seconds_text("27", "\u0661\u0661\u0663\u0664") == "27.113"  # Arabic-Indic 1134
    assert seconds_text("60", None) == "59.999" and seconds_text("61", None) is None
