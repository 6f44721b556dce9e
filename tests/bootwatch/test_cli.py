"""The `bootwatch` command lists every subcommand in its help, and each has its own --help."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from bootwatch.cli import COMMAND_MODULES


def _help(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootwatch", *arguments, "--help"], capture_output=True,
                          text=True, timeout=60, check=False)


def _command_names() -> list[str]:
    return [importlib.import_module(f"bootwatch.commands.{module}").NAME for module in COMMAND_MODULES]


def test_top_level_help_lists_every_command() -> None:
    result = _help()
    assert result.returncode == 0, result.stderr
    assert "parse" in _command_names()
    for name in _command_names():
        assert name in result.stdout


@pytest.mark.parametrize("name", _command_names())
def test_each_command_has_its_own_help(name: str) -> None:
    result = _help(name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: bootwatch {name}")
