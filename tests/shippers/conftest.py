"""Fixtures for the shipper tests: receivers and shippers that are always stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from shipper_harness import ForwardReceiver, RunningShipper

from shippers.config import parse_config


@pytest.fixture
def receivers() -> Iterator[Callable[..., ForwardReceiver]]:
    """A factory of started receivers, all stopped at the end of the test."""
    made: list[ForwardReceiver] = []

    def make(**options: Any) -> ForwardReceiver:
        receiver = ForwardReceiver(**options).start()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


@pytest.fixture
def start_shipper() -> Iterator[Callable[..., RunningShipper]]:
    """Factory: start a shipper (in a thread) from config text; every one is stopped afterwards."""
    running: list[RunningShipper] = []

    def start(toml: str) -> RunningShipper:
        shipper = RunningShipper(parse_config(toml))
        running.append(shipper)
        return shipper

    yield start
    for shipper in running:
        if shipper.thread.is_alive():
            shipper.stop()
