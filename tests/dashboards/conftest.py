"""Fixtures for dashboards tests: a real local HTTP server on 127.0.0.1 (see `support.RecordingServer`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.dashboards.support import RecordingServer


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
