"""A simulated fleet replayed into the store once per module, with its truth, for the stats tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootwatch.cli import main
from bootwatch.simulate import Fleet
from parsers.store.connect import Store
from tests.dashboards.stats.support import ReplayedFleet


@pytest.fixture(scope="module")
def replayed_fleet(es_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayedFleet]:
    """Twenty sites (two blocks of every scenario) written by the simulator and replayed with `replay`."""
    for name in list(es_store.client.indices.get(index="bootwatch-*", expand_wildcards="all")):
        es_store.client.indices.delete(index=name)
    out = tmp_path_factory.mktemp("fleet")
    plan = Fleet.plan(20, seed=5)
    plan.write_all(out)
    assert main(["replay", str(out), "--es-url", es_store.url, "--json"]) == 0
    es_store.client.indices.refresh(index="bootwatch-*")
    truth = json.loads(Path(out, "truth.json").read_text(encoding="utf-8"))
    yield ReplayedFleet(es_store, plan, truth)
