"""Store test fixtures: a clean store with the templates installed, and faulty proxies in front of it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from store_helpers import BulkProxy, FaultMode

from parsers.store.connect import Store
from parsers.store.templates import install_templates


@pytest.fixture
def store(clean_store: Store) -> Store:
    """A clean store with the bootwatch templates installed."""
    install_templates(clean_store)
    return clean_store


@pytest.fixture
def bulk_proxy(store: Store) -> Iterator[Callable[[int, FaultMode], BulkProxy]]:
    """Factory: a proxy in front of the test store that misbehaves at `_bulk` call N."""
    started: list[tuple[BulkProxy, threading.Thread]] = []

    def start(fault_at_call: int, mode: FaultMode) -> BulkProxy:
        proxy = BulkProxy(store.url, fault_at_call, mode)
        thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((proxy, thread))
        return proxy

    yield start
    for proxy, thread in started:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=5)
