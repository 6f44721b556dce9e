"""The shipper stays light: importing any `shippers` module loads no central-side package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPER_MODULES = sorted(f"shippers.{path.stem}" for path in (REPOSITORY / "shippers").glob("*.py")
                         if path.stem not in ("__init__", "__main__"))
FORBIDDEN = ("pydantic", "pydantic_core", "elasticsearch", "elastic_transport", "parsers", "bootwatch",
             "dashboards", "rich", "osmem_server")


def test_every_shipper_module_is_checked() -> None:
    expected = {"framing", "config", "follow", "transport", "checkpoint", "heartbeat", "service", "cli"}
    assert {f"shippers.{name}" for name in expected} <= set(SHIPPER_MODULES)


@pytest.mark.parametrize("module", SHIPPER_MODULES)
def test_importing_a_shipper_module_loads_no_central_package(module: str) -> None:
    script = (f"import sys, json, {module}\n"
              "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], cwd=REPOSITORY, capture_output=True,
                                       text=True, check=True, timeout=60).stdout)
    assert not set(FORBIDDEN) & set(loaded)
    assert "hashlib" not in loaded, "hashlib loads OpenSSL: only import it when a shared key is set"
