"""`bootwatch setup`: installs the index templates, idempotently."""

from __future__ import annotations

import pytest

from bootwatch.cli import main
from parsers.store.connect import Store
from parsers.store.templates import index_layouts

pytestmark = pytest.mark.integration


def test_setup_installs_every_template_and_can_run_again(
    clean_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "--es-url", clean_store.url]) == 0
    assert main(["setup", "--es-url", clean_store.url]) == 0
    out = capsys.readouterr().out
    for layout in index_layouts():
        assert clean_store.client.indices.exists_index_template(name=layout.name)
        assert f"installed index template {layout.name}" in out


def test_an_unreachable_store_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    # port 9 (discard) on loopback: nothing listens there
    assert main(["setup", "--es-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the store at http://127.0.0.1:9" in err
    assert "Traceback" not in err
