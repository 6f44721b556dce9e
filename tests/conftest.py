"""Shared fixtures: one Elasticsearch-API store per test session.

`BOOTWATCH_ES_URL` set: the tests run against that cluster (8.x or 9.x). Unset: one embedded engine
(osmem-server) is started for the whole session. Tests that write take `clean_store`, which deletes
every `bootwatch-*` index first (by name: Elasticsearch 8 refuses wildcard deletes by default).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from parsers.store.connect import Store, connect


@pytest.fixture(scope="session")
def es_store() -> Iterator[Store]:
    """The session's store: `BOOTWATCH_ES_URL`, else one embedded engine."""
    with connect(os.environ.get("BOOTWATCH_ES_URL") or None) as store:
        yield store


@pytest.fixture
def clean_store(es_store: Store) -> Store:
    """The session's store with no `bootwatch-*` index left over from an earlier test."""
    names = list(es_store.client.indices.get(index="bootwatch-*", expand_wildcards="all"))
    for name in names:
        es_store.client.indices.delete(index=name)
    return es_store
