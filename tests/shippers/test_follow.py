"""Rotation of `X.log` -> `X.lo_` at the poll boundaries that used to lose or repeat records.

A `PollGate` runs the shipper's polls one at a time, so each case puts rotations exactly where it
means to: inside a poll, or several between two polls. Every case checks the exact set of
(file_id, offset) the acking receiver got and that nothing arrived twice. A generation overwritten
before the shipper read it is gone (no reader can get it back); the shipper must say so, and
deliver everything else exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from shipper_harness import (
    ForwardReceiver,
    LogWriter,
    PollGate,
    RunningShipper,
    file_id_of,
    shipper_toml,
    wait_until,
)

Receivers = Callable[..., ForwardReceiver]
StartShipper = Callable[[str], RunningShipper]
Received = set[tuple[str, int]]


def records(writer: LogWriter, file_id: str, first: int = 0, end: int | None = None) -> Received:
    return {(file_id, offset) for offset in writer.offsets[first:end]}


def rotate(log: Path) -> None:
    """An SMS component at its size limit: `X.log` replaces `X.lo_`; the next write starts `X.log`."""
    log.replace(log.with_suffix(".lo_"))


def delivered(receiver: ForwardReceiver, want: Received, what: str) -> None:
    wait_until(lambda: receiver.received() == want, what=what)
    assert len(receiver.records) == len(want), f"a record was sent twice ({what})"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> PollGate:
    return PollGate(monkeypatch)


def test_rotation_inside_a_poll_finishes_the_renamed_file_once_and_starts_the_new_one(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper, gate: PollGate) -> None:
    receiver = receivers()
    log = tmp_path / "despool.log"
    start_shipper(shipper_toml(tmp_path / "state", [log], [receiver.address]))
    older = LogWriter(log)
    older.legacy(6, component="SMS_DESPOOLER")
    gate.step()
    rotate(log)
    current = LogWriter(log)
    current.legacy(5, start=100, component="SMS_DESPOOLER")
    gate.step()
    current_id = file_id_of(log)
    want = records(older, file_id_of(log.with_suffix(".lo_"))) | records(current, current_id)
    delivered(receiver, want, "the older and the current file")
    # The current file gets its last records, then rotates while the shipper is between opening
    # one file of the pair and the other: it must still be finished from `.lo_`, under its own id.
    current.legacy(4, start=105, component="SMS_DESPOOLER")
    newest: list[LogWriter] = []

    def rotate_now() -> None:
        rotate(log)
        newest.append(LogWriter(log))
        newest[0].legacy(3, start=200, component="SMS_DESPOOLER")

    gate.during_next_poll(rotate_now)
    gate.step(3)
    assert newest, "the rotation ran inside the poll"
    want |= records(current, current_id) | records(newest[0], file_id_of(log))
    delivered(receiver, want, "the renamed file's last records and the new file")


def test_rotations_with_a_poll_between_each_deliver_every_generation_exactly_once(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper, gate: PollGate,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bootwatch.shipper")
    receiver = receivers()
    log = tmp_path / "despool.log"
    start_shipper(shipper_toml(tmp_path / "state", [tmp_path / "*.log"], [receiver.address]))
    writer = LogWriter(log)
    writer.legacy(4, component="SMS_DESPOOLER")
    want = records(writer, file_id_of(log))
    for generation in range(6):
        gate.step()
        # More records and the rotation marker after the poll: read from `.lo_` after the rename.
        writer.legacy(3, start=generation * 100 + 4, component="SMS_DESPOOLER")
        writer.line("<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>")
        want |= records(writer, file_id_of(log))
        rotate(log)
        if generation % 2:
            gate.step()     # a poll between the rename and the new file, or none
        writer = LogWriter(log)
        writer.legacy(4, start=(generation + 1) * 100, component="SMS_DESPOOLER")
        want |= records(writer, file_id_of(log))
        gate.step()
        delivered(receiver, want, f"generation {generation} and the start of the next one")
    # Each new `.log` may get the inode of the `.lo_` it replaced: that is no truncation.
    assert "truncated" not in caplog.text and "never read" not in caplog.text


def test_two_rotations_between_polls_lose_only_the_overwritten_tail_and_say_so(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper, gate: PollGate,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bootwatch.shipper")
    receiver = receivers()
    log = tmp_path / "despool.log"
    start_shipper(shipper_toml(tmp_path / "state", [log], [receiver.address]))
    first = LogWriter(log)
    first.legacy(5, component="SMS_DESPOOLER")
    first_id = file_id_of(log)
    gate.step()
    delivered(receiver, records(first, first_id), "the first file's records before the rotations")
    read_to = log.stat().st_size
    # Between two polls: the first file grows, rotates, and its `.lo_` is replaced by the next rotation.
    first.legacy(3, start=5, component="SMS_DESPOOLER")
    rotate(log)
    second = LogWriter(log)
    second.legacy(4, start=100, component="SMS_DESPOOLER")
    second_id = file_id_of(log)
    rotate(log)
    third = LogWriter(log)
    third.legacy(2, start=200, component="SMS_DESPOOLER")
    gate.step(2)
    want = records(first, first_id, end=5) | records(second, second_id) | records(third, file_id_of(log))
    delivered(receiver, want, "everything not overwritten")
    assert f"{log} (file_id {first_id}) was replaced before the shipper finished it" in caplog.text
    assert f"after byte {read_to} is lost" in caplog.text


def test_two_rotations_while_the_shipper_is_stopped_lose_only_the_overwritten_tail(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bootwatch.shipper")
    receiver = receivers()
    log = tmp_path / "despool.log"
    toml = shipper_toml(tmp_path / "state", [log], [receiver.address])
    first = LogWriter(log)
    first.legacy(5, component="SMS_DESPOOLER")
    first_id = file_id_of(log)
    shipper = start_shipper(toml)
    delivered(receiver, records(first, first_id), "the first file's records before the stop")
    shipper.stop()
    first.legacy(3, start=5, component="SMS_DESPOOLER")
    rotate(log)
    second = LogWriter(log)
    second.legacy(4, start=100, component="SMS_DESPOOLER")
    second_id = file_id_of(log)
    rotate(log)
    third = LogWriter(log)
    third.legacy(2, start=200, component="SMS_DESPOOLER")
    start_shipper(toml)
    want = records(first, first_id, end=5) | records(second, second_id) | records(third, file_id_of(log))
    delivered(receiver, want, "everything not overwritten, after the restart")
    wait_until(lambda: f"(file_id {first_id}) was replaced before the shipper finished it" in caplog.text,
               what="the warning about the overwritten file")


def test_new_log_holding_only_a_bom_at_the_poll_after_a_rotation_loses_nothing(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper, gate: PollGate) -> None:
    receiver = receivers()
    log = tmp_path / "despool.log"
    start_shipper(shipper_toml(tmp_path / "state", [log], [receiver.address]))
    first = LogWriter(log, "utf-16-le", b"\xff\xfe")
    first.legacy(4, component="SMS_DESPOOLER")
    first_id = file_id_of(log)
    gate.step()
    first.legacy(2, start=4, component="SMS_DESPOOLER")
    rotate(log)
    # The writer starts the new file with its byte-order mark; its first record comes a moment later.
    second = LogWriter(log, "utf-16-le", b"\xff\xfe")
    gate.step()
    second.legacy(3, start=100, component="SMS_DESPOOLER")
    gate.step(2)
    delivered(receiver, records(first, first_id) | records(second, file_id_of(log)), "both UTF-16 files")
