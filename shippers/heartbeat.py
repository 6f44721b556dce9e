"""Heartbeats: every `heartbeat_s` seconds the shipper tells the collector it is alive and how far it got.

The record (tag `bootwatch.heartbeat`) carries site, host, shipper version, each watched file with
its size and the offset the collector acknowledged, and the queue depth. The collector uses the
heartbeats to tell a stalled install (shipper alive, log silent) from a dark one (shipper gone).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shippers import __version__

HEARTBEAT_TAG = "bootwatch.heartbeat"


class Heartbeat:
    """Knows when the next heartbeat is due and builds its record."""

    def __init__(self, *, site: str, host: str, heartbeat_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._site = site
        self._host = host
        self._interval_s = heartbeat_s
        self._clock = clock
        self._due_at = clock()  # the first one goes out at start: the collector learns we are up

    def due(self) -> bool:
        return self._clock() >= self._due_at

    def sent(self) -> None:
        self._due_at = self._clock() + self._interval_s

    def record(self, files: list[dict[str, Any]], queue_bytes: int, queue_records: int) -> dict[str, Any]:
        return {"type": "heartbeat", "site": self._site, "host": self._host, "shipper_version": __version__,
                "files": files, "queue_bytes": queue_bytes, "queue_records": queue_records,
                "heartbeat_s": self._interval_s}
