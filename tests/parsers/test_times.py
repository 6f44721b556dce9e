"""Times: bias sign, Windows zone names, DST fall-back and spring-forward, timestamp layouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.schema import format_utc_millis
from parsers.times import (
    UTC_ZONE,
    LocalStamp,
    bias_label,
    bias_to_utc,
    fixed_offset_zone,
    format_utc,
    host_zone,
    load_windows_zones,
    local_offset,
    local_to_utc,
    parse_cmtrace,
    parse_ctime,
    parse_mdy,
    parse_provider,
    resolve_zone,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def ctime_to_utc(text: str) -> datetime:
    stamp = parse_ctime(text)
    assert stamp is not None and stamp.zone_name is not None
    zone = resolve_zone(stamp.zone_name)
    assert zone is not None
    return local_to_utc(stamp.local, zone)


# --------------------------------------------------------------------------- bias


def test_positive_bias_is_west_of_utc_pacific_summer() -> None:
    assert bias_to_utc(datetime(2002, 7, 26, 9, 5, 1, 234000), 420) == utc(2002, 7, 26, 16, 5, 1, 234000)


def test_negative_sixty_bias_is_british_summer_time() -> None:
    # LOG_FORMATS.md evidence: a UK client in September writes time="08:06:34.590-60" (BST, UTC+1).
    stamp = parse_cmtrace("08:06:34.590-60", "09-14-2016")
    assert stamp == LocalStamp(datetime(2016, 9, 14, 8, 6, 34, 590000), -60)
    assert bias_to_utc(stamp.local, stamp.bias) == utc(2016, 9, 14, 7, 6, 34, 590000)


def test_negative_hundred_twenty_bias_is_central_europe_summer() -> None:
    assert bias_to_utc(datetime(2016, 7, 26, 17, 9, 27), -120) == utc(2016, 7, 26, 15, 9, 27)


def test_bias_label_is_the_offset_east_of_utc() -> None:
    assert bias_label(420) == "-07:00"
    assert bias_label(-60) == "+01:00"
    assert bias_label(-330) == "+05:30"
    assert bias_label(0) == "+00:00"


def test_fixed_offset_zone_converts_and_is_labelled_as_offset() -> None:
    zone = fixed_offset_zone(120)
    assert zone.label == "+02:00"
    assert local_to_utc(datetime(2002, 7, 26, 12, 0), zone) == utc(2002, 7, 26, 10, 0)
    assert fixed_offset_zone(-420).label == "-07:00"


# --------------------------------------------------------------------------- zone names


def test_every_windows_zone_resolves_to_its_iana_zone_by_id_and_both_display_names() -> None:
    zones = load_windows_zones()
    for zone in zones:
        names = [zone.standard_name, zone.daylight_name] + ([zone.zone_id] if zone.zone_id else [])
        for name in names:
            spec = resolve_zone(name)
            assert spec is not None, name
            assert isinstance(spec.tz, ZoneInfo)
            # "UTC" is also an IANA name, and IANA names without spaces are taken as themselves.
            assert spec.label == ("UTC" if name == "UTC" else zone.iana), name
            # The zone really is in the installed tz database: it yields an offset.
            assert spec.tz.utcoffset(datetime(2020, 1, 1)) is not None


def test_table_covers_every_current_windows_zone() -> None:
    current = [zone for zone in load_windows_zones() if not zone.retired]
    ids = {zone.zone_id for zone in current}
    # CLDR windowsZones.xml lists 139 Windows zones with a territory "001" mapping.
    assert len(current) == 139 == len(ids)
    for zone_id in (
        "Pacific Standard Time",
        "GMT Standard Time",
        "W. Europe Standard Time",
        "AUS Eastern Standard Time",
        "Tokyo Standard Time",
        "Israel Standard Time",
        "Yukon Standard Time",
        "South Sudan Standard Time",
        "Volgograd Standard Time",
        "Qyzylorda Standard Time",
        "UTC",
        "UTC+13",
        "Russia Time Zone 11",
    ):
        assert zone_id in ids


def test_no_name_in_the_table_means_two_different_zones() -> None:
    meanings: dict[str, set[str]] = {}
    for zone in load_windows_zones():
        names = [zone.standard_name, zone.daylight_name]
        if zone.zone_id:
            names += [zone.zone_id, zone.zone_id.replace("Standard Time", "Daylight Time")]
        for name in names:
            meanings.setdefault(" ".join(name.split()).casefold(), set()).add(zone.iana)
    assert {name: zones for name, zones in meanings.items() if len(zones) > 1} == {}


@pytest.mark.parametrize(
    ("name", "label", "daylight"),
    [
        ("Pacific Standard Time", "America/Los_Angeles", False),
        ("Pacific Daylight Time", "America/Los_Angeles", True),
        ("GMT Standard Time", "Europe/London", False),
        ("GMT Daylight Time", "Europe/London", True),
        ("W. Europe Daylight Time", "Europe/Berlin", True),
        ("AUS Eastern Standard Time", "Australia/Sydney", False),
        ("AUS Eastern Daylight Time", "Australia/Sydney", True),
        ("Tokyo Standard Time", "Asia/Tokyo", False),
        ("Tokyo Daylight Time", "Asia/Tokyo", True),
        ("Eastern Standard Time", "America/New_York", False),
        # The zone ID differs from the display names written in logs.
        ("Israel Standard Time", "Asia/Jerusalem", False),
        ("Jerusalem Standard Time", "Asia/Jerusalem", False),
        ("Jerusalem Daylight Time", "Asia/Jerusalem", True),
        ("Russia TZ 2 Daylight Time", "Europe/Moscow", True),
        ("Russian Standard Time", "Europe/Moscow", False),
        ("Malay Peninsula Standard Time", "Asia/Singapore", False),
        ("Cabo Verde Standard Time", "Atlantic/Cape_Verde", False),
        # Older Windows names.
        ("Mexico Daylight Time", "America/Mexico_City", True),
        ("Mid-Atlantic Standard Time", "Atlantic/South_Georgia", False),
        ("Russian Daylight Time", "Europe/Moscow", True),
        ("Israel Daylight Time", "Asia/Jerusalem", True),
        ("GFT Daylight Time", "Europe/Athens", True),
        ("Transitional Islamic State of Afghanistan Standard Time", "Asia/Kabul", False),
        # Names that say nothing about daylight saving.
        ("UTC-11", "Etc/GMT+11", None),
        ("Coordinated Universal Time", "Etc/UTC", None),
        ("Russia Time Zone 3", "Europe/Samara", None),
    ],
)
def test_windows_names_map_to_iana_with_their_daylight_meaning(
    name: str, label: str, daylight: bool | None
) -> None:
    spec = resolve_zone(name)
    assert spec is not None
    assert (spec.label, spec.daylight) == (label, daylight)


def test_windows_names_match_regardless_of_case_spacing_and_tilde() -> None:
    for name in (
        "turks and caicos standard time",
        "Turks And Caicos  Standard Time",
        "Pacific Daylight Time~ ",
    ):
        assert resolve_zone(name) is not None


def test_iana_names_resolve_as_themselves_without_daylight_hint() -> None:
    spec = resolve_zone("Europe/Berlin")
    assert spec is not None and (spec.label, spec.daylight) == ("Europe/Berlin", None)
    utc_spec = resolve_zone("UTC")
    assert utc_spec is not None and utc_spec.label == "UTC"


@pytest.mark.parametrize(
    "name", [None, "", "   ", "Narnia Standard Time", "America", "../../etc/passwd", "/etc/x"]
)
def test_unknown_zone_names_resolve_to_none(name: str | None) -> None:
    assert resolve_zone(name) is None


def test_a_malformed_zone_table_row_is_reported_with_its_line(tmp_path: Path) -> None:
    table = tmp_path / "zones.tsv"
    table.write_text("# header\nPacific Standard Time\tPacific Standard Time\tAmerica/Los_Angeles\n")
    with pytest.raises(ValueError, match=r"zones\.tsv:2"):
        load_windows_zones(table)


@given(st.text(max_size=60))
def test_resolving_any_text_never_raises(name: str) -> None:
    spec = resolve_zone(name)
    assert spec is None or spec.tz.utcoffset(datetime(2020, 6, 1)) is not None


def test_host_zone_falls_back_to_utc_and_drops_the_daylight_hint() -> None:
    assert host_zone(None) is UTC_ZONE
    assert host_zone("Narnia Standard Time") is UTC_ZONE
    pacific = host_zone("Pacific Daylight Time")
    assert (pacific.label, pacific.daylight) == ("America/Los_Angeles", None)
    assert host_zone("Asia/Tokyo").label == "Asia/Tokyo"


# --------------------------------------------------------------------------- DST transitions


def test_daylight_and_standard_names_settle_the_repeated_hour_one_hour_apart() -> None:
    # US fall-back 2002-10-27 02:00 PDT -> 01:00 PST: 01:30 happened twice.
    daylight = ctime_to_utc("Sun Oct 27 01:30:00 2002 Pacific Daylight Time")
    standard = ctime_to_utc("Sun Oct 27 01:30:00 2002 Pacific Standard Time")
    assert daylight == utc(2002, 10, 27, 8, 30)
    assert standard == utc(2002, 10, 27, 9, 30)
    assert standard - daylight == timedelta(hours=1)


def test_uk_fall_back_daylight_name_is_bst_and_standard_name_is_gmt() -> None:
    assert ctime_to_utc("Sun Oct 27 1:30:00.000 2002 GMT Daylight Time") == utc(2002, 10, 27, 0, 30)
    assert ctime_to_utc("Sun Oct 27 1:30:00.000 2002 GMT Standard Time") == utc(2002, 10, 27, 1, 30)


def test_southern_hemisphere_fall_back_in_march() -> None:
    # Sydney 2002-03-31 03:00 AEDT -> 02:00 AEST: 02:30 happened twice.
    assert ctime_to_utc("Sun Mar 31 2:30:00 2002 AUS Eastern Daylight Time") == utc(2002, 3, 30, 15, 30)
    assert ctime_to_utc("Sun Mar 31 2:30:00 2002 AUS Eastern Standard Time") == utc(2002, 3, 30, 16, 30)


def test_repeated_hour_without_a_name_takes_the_first_occurrence() -> None:
    assert local_to_utc(datetime(2002, 10, 27, 1, 30), host_zone("America/Los_Angeles")) == utc(
        2002, 10, 27, 8, 30
    )


def test_spring_forward_gap_uses_offset_before_the_jump_unless_named_daylight() -> None:
    # US spring-forward 2002-04-07 02:00 PST -> 03:00 PDT: 02:30 never existed.
    gap = datetime(2002, 4, 7, 2, 30)
    assert local_to_utc(gap, host_zone("Pacific Standard Time")) == utc(2002, 4, 7, 10, 30)
    standard = resolve_zone("Pacific Standard Time")
    daylight = resolve_zone("Pacific Daylight Time")
    assert standard is not None and daylight is not None
    assert local_to_utc(gap, standard) == utc(2002, 4, 7, 10, 30)
    assert local_to_utc(gap, daylight) == utc(2002, 4, 7, 9, 30)


def test_name_outside_transitions_does_not_change_the_offset() -> None:
    # A daylight name only picks among the instants a wall time can mean.
    assert ctime_to_utc("Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time") == utc(
        2002, 7, 26, 16, 5, 1, 234000
    )
    assert ctime_to_utc("Fri Jan 11 9:05:01 2002 Tokyo Standard Time") == utc(2002, 1, 11, 0, 5, 1)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed May 21 17:09:27 1997~", LocalStamp(datetime(1997, 5, 21, 17, 9, 27))),
        ("Wed May 21 17:09:27 1997~~", LocalStamp(datetime(1997, 5, 21, 17, 9, 27))),
        (
            "Fri Jul 26 9:05:01.234 2002 Pacific Daylight Time",
            LocalStamp(datetime(2002, 7, 26, 9, 5, 1, 234000), None, "Pacific Daylight Time"),
        ),
        ("Tue May 16 13:17:10.854 2000", LocalStamp(datetime(2000, 5, 16, 13, 17, 10, 854000))),
        ("Tue May 16 13:17:10.854 2000 ", LocalStamp(datetime(2000, 5, 16, 13, 17, 10, 854000))),
        ("Tue May  2 3:07:10 2000", LocalStamp(datetime(2000, 5, 2, 3, 7, 10))),
        (
            "Fri Aug 02 20:54:26.571 2024 W. Europe Daylight Time~",
            LocalStamp(datetime(2024, 8, 2, 20, 54, 26, 571000), None, "W. Europe Daylight Time"),
        ),
        ("Sat Dec 31 23:59:60 2016", LocalStamp(datetime(2016, 12, 31, 23, 59, 59))),
    ],
)
def test_ctime_layouts_with_unpadded_fields_fractions_zone_names_and_tildes(
    text: str, expected: LocalStamp
) -> None:
    assert parse_ctime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Fri Jul 26 2002",
        "Fri Foo 26 9:05:01 2002",
        "Fri Feb 30 9:05:01 2002",
        "Fri Jul 26 25:05:01 2002",
        "07-26-2002 09:05:01.234+420",
        "Fri Jul 26 9:05:01.12345678 2002",
        "Fri Jul 26 ٩:05:01 2002",
    ],
)
def test_ctime_rejects_other_shapes_and_impossible_dates(text: str) -> None:
    assert parse_ctime(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07-26-2002 09:05:01.234+420", LocalStamp(datetime(2002, 7, 26, 9, 5, 1, 234000), 420)),
        ("07-26-2016 17:09:27.113+300", LocalStamp(datetime(2016, 7, 26, 17, 9, 27, 113000), 300)),
        ("09-14-2016 08:06:34.590-60", LocalStamp(datetime(2016, 9, 14, 8, 6, 34, 590000), -60)),
        ("06-21-1999 15:45:51", LocalStamp(datetime(1999, 6, 21, 15, 45, 51))),
        ("6-1-1999 5:45:51.1234567", LocalStamp(datetime(1999, 6, 1, 5, 45, 51, 123456))),
    ],
)
def test_month_day_year_layout_with_and_without_bias(text: str, expected: LocalStamp) -> None:
    assert parse_mdy(text) == expected


@pytest.mark.parametrize(
    ("fraction", "microsecond"),
    [("123", 123000), ("1234", 123400), ("12345", 123450), ("123456", 123456), ("1234567", 123456)],
)
def test_cmtrace_fractions_of_three_to_seven_digits(fraction: str, microsecond: int) -> None:
    assert parse_cmtrace(f"10:12:01.{fraction}+420", "07-26-2002") == LocalStamp(
        datetime(2002, 7, 26, 10, 12, 1, microsecond), 420
    )


def test_seven_digit_fraction_is_truncated_not_rounded_into_the_next_second() -> None:
    stamp = parse_cmtrace("23:59:59.9999999", "12-31-2002")
    assert stamp == LocalStamp(datetime(2002, 12, 31, 23, 59, 59, 999999))
    assert format_utc(local_to_utc(stamp.local, UTC_ZONE)) == "2002-12-31T23:59:59.999Z"


def test_cmtrace_unpadded_date_and_hour_and_missing_bias() -> None:
    assert parse_cmtrace("9:05:01.234", "7-6-2002") == LocalStamp(datetime(2002, 7, 6, 9, 5, 1, 234000))


def test_cmtrace_rejects_garbled_attributes() -> None:
    assert parse_cmtrace("10:12", "07-26-2002") is None
    assert parse_cmtrace("10:12:01.234+420", "2002-07-26") is None
    assert parse_cmtrace("10:12:01.234+420", "02-30-2002") is None


def test_provider_layout_with_and_without_weekday() -> None:
    assert parse_provider("Fri 07/26/2002 10:12:01") == LocalStamp(datetime(2002, 7, 26, 10, 12, 1))
    assert parse_provider("07/26/2002 10:12:01") == LocalStamp(datetime(2002, 7, 26, 10, 12, 1))
    assert parse_provider("Fri 13/26/2002 10:12:01") is None


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    "moment",
    [
        utc(2002, 7, 26, 16, 5, 1, 234567),
        utc(1997, 1, 1, 0, 0, 0),
        datetime(2002, 7, 26, 9, 5, 1, 999999, tzinfo=timezone(timedelta(hours=-7))),
        datetime(2002, 7, 26, 9, 5, 1, 5000),
    ],
)
def test_format_utc_is_iso_milliseconds_like_the_schema(moment: datetime) -> None:
    assert format_utc(moment) == format_utc_millis(moment)
    assert len(format_utc(moment)) == 24 and format_utc(moment).endswith("Z")


# --------------------------------------------------------------------------- properties

timestamps = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31))


@given(st.text(max_size=80))
def test_timestamp_parsers_never_raise_on_garbage(text: str) -> None:
    for result in (parse_ctime(text), parse_mdy(text), parse_provider(text), parse_cmtrace(text, text)):
        assert result is None or isinstance(result, LocalStamp)


@given(st.text(alphabet="0123456789:-+./ ~ADFJMNOSTWadeghlnoprtuvy", max_size=40))
def test_timestamp_parsers_never_raise_on_near_misses(text: str) -> None:
    for result in (
        parse_ctime(text),
        parse_mdy(text),
        parse_provider(text),
        parse_cmtrace(text, "7-26-2002"),
    ):
        assert result is None or isinstance(result, LocalStamp)


@given(timestamps, st.booleans(), st.integers(min_value=3, max_value=7))
def test_ctime_and_cmtrace_round_trip_any_time(moment: datetime, pad: bool, digits: int) -> None:
    hour = f"{moment.hour:02d}" if pad else str(moment.hour)
    day = f"{moment.day:02d}" if pad else str(moment.day)
    fraction = f"{moment.microsecond:06d}0"[:digits]
    expected = moment.replace(microsecond=int((fraction + "00000")[:6]))
    ctime = f"{moment:%a %b} {day} {hour}:{moment:%M:%S}.{fraction} {moment.year} Tokyo Standard Time"
    assert parse_ctime(ctime) == LocalStamp(expected, None, "Tokyo Standard Time")
    cmtrace = parse_cmtrace(f"{hour}:{moment:%M:%S}.{fraction}-540", f"{moment.month}-{day}-{moment.year}")
    assert cmtrace == LocalStamp(expected, -540)


@given(timestamps, st.sampled_from(["Pacific", "GMT", "W. Europe", "AUS Eastern", "Eastern"]))
def test_daylight_name_gives_the_dst_offset_inside_repeated_hours(moment: datetime, zone: str) -> None:
    daylight = resolve_zone(f"{zone} Daylight Time")
    standard = resolve_zone(f"{zone} Standard Time")
    assert daylight is not None and standard is not None
    from_daylight = local_to_utc(moment, daylight)
    from_standard = local_to_utc(moment, standard)
    # Both read the same wall time; they differ only where the wall time is ambiguous, by the DST step.
    assert timedelta(0) <= from_standard - from_daylight <= timedelta(hours=1)


_ZONE_NAMES = ["America/Los_Angeles", "Pacific Daylight Time", "Pacific Standard Time", "Europe/London",
               "W. Europe Daylight Time", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 1, 1)),
       st.sampled_from(_ZONE_NAMES), st.booleans())
def test_local_offset_reads_the_zone_rules_as_an_aware_time_would(naive: datetime, name: str,
                                                                  fold: bool) -> None:
    # The rule of `local_to_utc`'s docstring, applied to offsets read from aware copies.
    zone = resolve_zone(name)
    assert zone is not None
    local = naive.replace(fold=int(fold))
    first = local.replace(tzinfo=zone.tz, fold=0).utcoffset()
    second = local.replace(tzinfo=zone.tz, fold=1).utcoffset()
    assert first is not None and second is not None
    expected = first
    if (first > second and zone.daylight is False) or (first < second and zone.daylight is True):
        expected = second
    assert local_offset(local, zone) == expected
    assert local_to_utc(local, zone) == (naive - expected).replace(tzinfo=UTC)
