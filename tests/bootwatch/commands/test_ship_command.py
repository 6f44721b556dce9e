"""`bootwatch ship`: --check validates and lists files; config mistakes are one line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootwatch.cli import main


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "shipper.toml"
    folder = tmp_path.as_posix()
    config.write_text(f'site = "S02"\ncollectors = ["central1:24224"]\nstate_dir = "{folder}/state"\n'
                      f'paths = ["{folder}/*bootstrap*.log"]\n{extra}', encoding="utf-8")
    return config


def test_check_lists_the_files_it_would_follow_including_rotated_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Sms_bootstrap.log").write_text("x\n")
    (tmp_path / "Sms_bootstrap.lo_").write_text("y\n")
    (tmp_path / "other.log").write_text("z\n")
    assert main(["ship", "--check", "--config", str(write_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "config OK: site S02" in out and "central1:24224" in out
    assert out.index("Sms_bootstrap.lo_") < out.index("Sms_bootstrap.log")
    assert "other.log" not in out
    assert not (tmp_path / "state").exists(), "--check changes nothing"


def test_unknown_key_exits_2_with_one_line_naming_it(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ship", "--check", "--config", str(write_config(tmp_path, "heartbeat = 5\n"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bootwatch ship: unknown key heartbeat")
    assert err.count("\n") == 1


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ship", "--config", str(tmp_path / "absent.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
