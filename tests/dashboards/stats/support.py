"""Types shared by the stats tests (conftest builds them, the tests read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bootwatch.simulate import FleetPlan
from parsers.store.connect import Store


@dataclass(frozen=True, slots=True)
class ReplayedFleet:
    """A simulated fleet replayed into `store`, and what truly happened in it."""

    store: Store
    plan: FleetPlan
    truth: dict[str, Any]
