"""STATMSG lines: every key, quoted values with spaces, junk tolerance, the GMTDATE zone offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.formats.statmsg import parse_gmtdate, parse_statmsg, zone_offset_from_statmsg
from parsers.schema import StatusMessage

FULL_LINE = (
    'STATMSG: ID=3306 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_HIERARCHY_MANAGER" '
    "SYS=PRIMARY01.corp.example.com SITE=MG1 PID=2168 TID=4888 GMTDATE=Wed Dec 21 16:15:08.957 2016 "
    'ISTR0="C:\\Program Files\\Microsoft Configuration Manager\\inboxes\\hman.box\\CAS.SCU" ISTR1="" '
    'ISTR2="" ISTR3="" ISTR4="" ISTR5="" ISTR6="" ISTR7="" ISTR8="" ISTR9="" NUMATTRS=0'
)


def test_full_line_gives_every_field_in_the_schema_shape() -> None:
    status = parse_statmsg(FULL_LINE)
    assert status == {
        "id": 3306,
        "severity": "I",
        "level": "M",
        "source": "SMS Server",
        "component": "SMS_HIERARCHY_MANAGER",
        "system": "PRIMARY01.corp.example.com",
        "site": "MG1",
        "pid": 2168,
        "tid": 4888,
        "gmt_date": "2016-12-21T16:15:08.957Z",
        "insertion_strings": [
            "C:\\Program Files\\Microsoft Configuration Manager\\inboxes\\hman.box\\CAS.SCU"
        ],
        "num_attrs": 0,
    }
    model = StatusMessage.model_validate(status)
    assert model.model_dump(mode="json") == status


def test_ten_digit_thread_ids_are_read_and_ids_beyond_32_bits_are_none() -> None:
    line = FULL_LINE.replace("TID=4888", "TID=2515067059").replace("PID=2168", "PID=4294967296")
    status = parse_statmsg(line)
    assert status is not None
    assert (status["tid"], status["pid"]) == (2515067059, None)


def test_quoted_values_keep_spaces_equals_and_stray_quotes() -> None:
    line = (
        'STATMSG: ID=6703 SEV=E COMP="SMS_WSUS_SYNC_MANAGER" '
        'ISTR0="Request for principal permission failed" ISTR1="say "hi" a=b" ISTR2="" '
        "NUMATTRS=0 LE=0X8013150a"
    )
    status = parse_statmsg(line)
    assert status is not None
    assert status["insertion_strings"] == ["Request for principal permission failed", 'say "hi" a=b']
    assert (status["id"], status["severity"], status["num_attrs"]) == (6703, "E", 0)


def test_missing_insertion_strings_in_between_are_empty_and_order_is_by_index() -> None:
    status = parse_statmsg('STATMSG: ID=1 ISTR2="third" ISTR0="first"')
    assert status is not None and status["insertion_strings"] == ["first", "", "third"]


def test_statmsg_after_other_text_in_a_legacy_message() -> None:
    message = (
        'Component started. STATMSG: ID=4970 SEV=W SITE=S02 GMTDATE=Fri Jul 26 17:12:01.234 2002 ISTR0="x"'
    )
    status = parse_statmsg(message)
    assert status is not None
    assert (status["id"], status["severity"], status["site"]) == (4970, "W", "S02")
    assert status["gmt_date"] == "2002-07-26T17:12:01.234Z"
    assert status["source"] is None and status["pid"] is None


def test_junk_values_become_none_and_unknown_keys_are_ignored() -> None:
    status = parse_statmsg("STATMSG: ID=abc SEV=X PID=-5 TID=99999999999 GMTDATE=yesterday AID0=400 SITE=S01")
    assert status is not None
    assert status["id"] is None and status["severity"] is None
    assert status["pid"] is None and status["tid"] is None and status["gmt_date"] is None
    assert status["site"] == "S01"
    StatusMessage.model_validate(status)


def test_overlong_keyword_values_are_capped_to_the_schema_limit() -> None:
    status = parse_statmsg(f'STATMSG: ID=1 SOURCE="{"x" * 5000}"')
    assert status is not None and len(status["source"]) == 1024
    StatusMessage.model_validate(status)


@pytest.mark.parametrize("message", ["no marker here ID=5", "STATMSG:", "STATMSG: nothing to see", ""])
def test_lines_without_known_keys_are_not_status_messages(message: str) -> None:
    assert parse_statmsg(message) is None


def test_gmtdate_is_utc_and_accepts_unpadded_day() -> None:
    assert parse_gmtdate("Fri Jul 26 17:12:01.234 2002") == datetime(
        2002, 7, 26, 17, 12, 1, 234000, tzinfo=UTC
    )
    assert parse_gmtdate("Tue Jul 2 7:02:01.000 2002") == datetime(2002, 7, 2, 7, 2, 1, tzinfo=UTC)
    assert parse_gmtdate("Fri Jul 26 17:12:01.234 2002 Pacific Daylight Time") is None
    assert parse_gmtdate(None) is None


@pytest.mark.parametrize(
    ("local", "gmt", "offset"),
    [
        # US Pacific summer: local 10:12:01.234, GMTDATE a few ms later.
        (
            datetime(2002, 7, 26, 10, 12, 1, 234000),
            datetime(2002, 7, 26, 17, 12, 1, 240000),
            timedelta(hours=-7),
        ),
        # Central Europe summer, GMTDATE written a few seconds earlier.
        (datetime(2016, 7, 26, 17, 9, 27), datetime(2016, 7, 26, 15, 9, 21), timedelta(hours=2)),
        # Half- and quarter-hour zones survive the rounding.
        (datetime(2016, 1, 1, 5, 30, 0), datetime(2016, 1, 1, 0, 0, 2), timedelta(hours=5, minutes=30)),
        (datetime(2016, 1, 1, 5, 45, 1), datetime(2016, 1, 1, 0, 0, 0), timedelta(hours=5, minutes=45)),
        # Date line: the local day differs from the UTC day.
        (datetime(2016, 1, 1, 1, 0, 0), datetime(2015, 12, 31, 12, 0, 0), timedelta(hours=13)),
    ],
)
def test_zone_offset_is_local_minus_gmt_rounded_to_quarter_hours(
    local: datetime, gmt: datetime, offset: timedelta
) -> None:
    assert zone_offset_from_statmsg(local, gmt) == offset
    assert zone_offset_from_statmsg(local, gmt.replace(tzinfo=UTC)) == offset


def test_zone_offset_accepts_gmt_given_in_another_zone() -> None:
    gmt = datetime(2002, 7, 26, 10, 12, 1, tzinfo=timezone(timedelta(hours=-7)))
    assert zone_offset_from_statmsg(datetime(2002, 7, 26, 10, 12, 1), gmt) == timedelta(hours=-7)


@given(st.text(max_size=300))
def test_parsing_never_raises_and_output_fits_the_schema(tail: str) -> None:
    status = parse_statmsg("STATMSG: " + tail)
    if status is not None:
        StatusMessage.model_validate(status)


@given(
    st.dictionaries(
        st.sampled_from(
            ["ID", "SEV", "LEV", "SOURCE", "COMP", "SYS", "SITE", "PID", "TID", "NUMATTRS", "ISTR0", "ISTR5"]
        ),
        # Lone surrogates are not text: the framer and the collector never hand them to a parser.
        st.text(
            alphabet=st.characters(blacklist_characters='"\r\n', blacklist_categories=("Cs",)), max_size=30
        ),
        max_size=8,
    )
)
def test_any_mix_of_quoted_keys_parses_into_a_valid_status_message(pairs: dict[str, str]) -> None:
    line = "STATMSG: " + " ".join(f'{key}="{value}"' for key, value in pairs.items())
    status = parse_statmsg(line)
    if status is not None:
        StatusMessage.model_validate(status)
        if "SOURCE" in pairs and pairs["SOURCE"].strip():
            assert status["source"] == pairs["SOURCE"].strip()


_WORD = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._", max_size=12)
_QUOTED = st.text(alphabet=st.characters(blacklist_characters='"'), max_size=20)


@given(
    message_id=st.integers(0, 9_999_999_999), severity=st.sampled_from("IWE"), level=_WORD, source=_QUOTED,
    component=_QUOTED, system=_WORD, site=_WORD, pid=st.integers(0, 9_999_999_999),
    gmt=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
    insertions=st.lists(_QUOTED, max_size=10), num_attrs=st.integers(0, 99),
)
def test_the_usual_layout_reads_like_the_general_scan(
    message_id: int, severity: str, level: str, source: str, component: str, system: str, site: str,
    pid: int, gmt: datetime, insertions: list[str], num_attrs: int,
) -> None:
    # The layout components write takes a one-match path; an unknown key after NUMATTRS sends the
    # same line through the general key scan, which must read it the same.
    gmt_text = f"{gmt:%a %b %d %H:%M:%S}.{gmt.microsecond // 1000:03d} {gmt.year}"
    strings = " ".join(f'ISTR{index}="{text}"' for index, text in enumerate(insertions))
    line = (f'STATMSG: ID={message_id} SEV={severity} LEV={level} SOURCE="{source}" COMP="{component}" '
            f"SYS={system} SITE={site} PID={pid} TID={pid} GMTDATE={gmt_text} {strings} NUMATTRS={num_attrs}")
    line = line.replace("  ", " ")
    assert parse_statmsg(line) == parse_statmsg(line + " AID0=400")
