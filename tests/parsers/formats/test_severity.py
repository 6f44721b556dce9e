"""Severity inference: explicit prefixes win, then error/fail (not failover), then warn."""

from __future__ import annotations

import pytest

from parsers.formats.severity import infer_level


@pytest.mark.parametrize(("message", "level"), [
    ("WARNING - Failed to connect to the SQL Server, retrying", "warning"),
    ("ERROR - Setup failed", "error"),
    ("Err> no access", "error"),
    ("Warn>: low space", "warning"),
    ("~#$#$#$#$#$ ERROR: Bootstrap could not start", "error"),
    ("Sender failover to address 2", "info"),
    ("failover done, then the copy failed", "error"),
    ("warning threshold reached", "warning"),
    ("Bootstrap service started", "info"),
])
def test_level(message: str, level: str) -> None:
    assert infer_level(message) == level
