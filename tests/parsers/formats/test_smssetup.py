"""Setup style: `MM-DD-YYYY HH:MM:SS message`."""

from __future__ import annotations

from parsers.formats import smssetup
from parsers.formats.record import DEFAULT_CONTEXT


def test_reads_local_time_and_message() -> None:
    record = smssetup.parse("6-21-1999 9:45:51 Setup has encountered fatal errors", DEFAULT_CONTEXT)
    assert record is not None
    assert (record.minute, record.seconds, record.message, record.level) == (
        (1999, 6, 21, 9, 45), "51.000", "Setup has encountered fatal errors", "error")


def test_a_date_that_does_not_exist_is_not_setup_style() -> None:
    assert smssetup.parse("13-21-1999 15:45:51 x", DEFAULT_CONTEXT) is None
