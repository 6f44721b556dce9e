"""The schema's identity helpers: the same record always gets the same id and index."""

from parsers.schema import LogDocument, document_id, index_for


def test_document_id_is_deterministic_and_distinguishes_offsets() -> None:
    first = document_id("S02", "abc", 120)
    assert first == document_id("S02", "abc", 120)
    assert first != document_id("S02", "abc", 121)
    assert first != document_id("S03", "abc", 120)


def test_index_is_chosen_by_event_month() -> None:
    assert index_for("2002-07-26T17:12:01.234Z") == "bootwatch-logs-2002.07"


def test_log_document_round_trips_with_the_at_timestamp_alias() -> None:
    doc = {
        "@timestamp": "2002-07-26T17:12:01.234Z",
        "message": "Bootstrap service started",
        "event": {"original": "x", "dataset": "sms.bootstrap", "timezone": "America/Los_Angeles"},
        "log": {"level": "info", "file": {"path": "C:/Sms_bootstrap.log"}, "offset": 0},
        "sms": {"log": {"format": "sms_legacy"}},
    }
    model = LogDocument.model_validate(doc)
    dumped = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["@timestamp"] == "2002-07-26T17:12:01.234Z"
    assert dumped["sms"]["log"]["format"] == "sms_legacy"
