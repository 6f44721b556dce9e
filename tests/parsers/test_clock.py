"""FileClock: local times to UTC, DST hours, and the corrections STATMSG lines justify."""

from __future__ import annotations

from datetime import UTC, datetime

from parsers.clock import FileClock
from parsers.formats.record import ParsedRecord
from parsers.times import host_zone


def _record(minute: tuple[int, int, int, int, int], seconds: str = "00.000", *, bias: int | None = None,
            zone_name: str | None = None) -> ParsedRecord:
    return ParsedRecord("sms_legacy", "x", "info", None, None, minute, seconds, bias, zone_name)


def test_bias_is_minutes_to_add_to_local_time() -> None:
    clock = FileClock(host_zone(None))
    assert clock.timestamp(_record((2016, 7, 26, 17, 9), "27.113", bias=420)) == ("2016-07-27T00:09:27.113Z",
                                                                                  "-07:00")
    assert clock.timestamp(_record((2016, 7, 26, 17, 9), "27.113", bias=-330)) == ("2016-07-26T11:39:27.113Z",
                                                                                   "+05:30")


def test_minutes_inside_a_transition_hour_get_their_own_offset() -> None:
    clock = FileClock(host_zone("Europe/London"))
    # Spring forward 2002-03-31 01:00 GMT: 00:59 is GMT; 01:30 never existed (read with the old offset).
    assert clock.timestamp(_record((2002, 3, 31, 0, 59)))[0] == "2002-03-31T00:59:00.000Z"
    # Fall back 2002-10-27 02:00 BST -> 01:00 GMT; a daylight name picks the first pass.
    named = _record((2002, 10, 27, 1, 30), zone_name="GMT Daylight Time")
    assert clock.timestamp(named) == ("2002-10-27T00:30:00.000Z", "Europe/London")
    assert clock.timestamp(_record((2002, 10, 27, 1, 30), zone_name="GMT Standard Time"))[0] == (
        "2002-10-27T01:30:00.000Z")


def test_statmsg_correction_stays_in_its_own_file() -> None:
    corrected, untouched = FileClock(host_zone(None)), FileClock(host_zone(None))
    statmsg = _record((2002, 7, 26, 10, 12), "03.101")
    corrected.observe_status_message(statmsg, datetime(2002, 7, 26, 17, 12, 3, 100000, tzinfo=UTC))
    later = _record((2002, 7, 26, 10, 30))
    assert corrected.timestamp(later) == ("2002-07-26T17:30:00.000Z", "-07:00")
    assert untouched.timestamp(later) == ("2002-07-26T10:30:00.000Z", "UTC")


def test_agreeing_statmsg_confirms_the_zone() -> None:
    clock = FileClock(host_zone("Pacific Standard Time"))
    statmsg = _record((2002, 7, 26, 10, 12), "03.101")
    clock.observe_status_message(statmsg, datetime(2002, 7, 26, 17, 12, 3, 100000, tzinfo=UTC))
    winter = clock.timestamp(_record((2002, 12, 26, 10, 12)))
    assert winter == ("2002-12-26T18:12:00.000Z", "America/Los_Angeles")


def test_zone_name_met_after_a_confirming_statmsg_is_still_judged_against_it() -> None:
    clock = FileClock(host_zone(None))
    named = _record((2002, 7, 26, 10, 30), zone_name="Pacific Daylight Time")
    assert clock.timestamp(named) == ("2002-07-26T17:30:00.000Z", "America/Los_Angeles")
    # The STATMSG confirms the host zone (UTC) but shows the writer's clock was UTC, not Pacific.
    statmsg = _record((2002, 7, 26, 10, 12), "03.101")
    clock.observe_status_message(statmsg, datetime(2002, 7, 26, 10, 12, 3, 100000, tzinfo=UTC))
    assert clock.timestamp(named) == ("2002-07-26T10:30:00.000Z", "+00:00")
    assert clock.timestamp(_record((2002, 7, 26, 10, 31))) == ("2002-07-26T10:31:00.000Z", "UTC")


def test_implausible_gmtdate_is_ignored() -> None:
    clock = FileClock(host_zone(None))
    clock.observe_status_message(_record((2002, 7, 26, 10, 12)), datetime(2002, 7, 20, tzinfo=UTC))
    assert clock.timestamp(_record((2002, 7, 26, 10, 12)))[1] == "UTC"


def test_times_shifted_out_of_range_have_no_timestamp() -> None:
    clock = FileClock(host_zone(None))
    assert clock.timestamp(_record((1, 1, 1, 0, 0), bias=-60)) is None
    assert clock.timestamp(_record((9999, 12, 31, 23, 30), bias=60)) is None
