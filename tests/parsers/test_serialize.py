"""`document_json` writes exactly the bytes `pydantic_core.to_json` writes, on every document shape."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from parsers.parse import StreamParser, parse_file
from parsers.serialize import document_json
from shippers.framing import FramedRecord

DATA = Path(__file__).resolve().parents[1] / "data"


def test_matches_to_json_on_every_fixture_document() -> None:
    docs = [doc for log in sorted(DATA.glob("*/*.log")) for doc in parse_file(log, site="S02", host="SEC02")]
    assert any(len(doc) > 7 for doc in docs) and any(len(doc) == 7 for doc in docs)
    for doc in docs:
        assert document_json(doc) == to_json(doc)


_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(message=_TEXT, path=_TEXT, host=st.none() | _TEXT, site=st.none() | _TEXT)
def test_matches_to_json_whatever_the_strings(
    message: str, path: str, host: str | None, site: str | None
) -> None:
    parser = StreamParser(site=site, host=host, path=path or "x.log", file_id=None, timezone=None,
                          lookahead_records=0)
    text = f"{message}  $$<C\\x y><07-26-2016 17:09:27.113+420><thread=1 (0x1)>"
    docs = [*parser.push(FramedRecord(0, 1, text)), *parser.push(FramedRecord(1, 1, message))]
    docs += parser.close()
    for doc in docs:
        assert document_json(doc) == to_json(doc)
