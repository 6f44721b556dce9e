"""End to end: a shipper following real files delivers each record to a real acking receiver.

Every case checks the exact set of (file_id, offset) received against the offsets the test wrote.
"""

from __future__ import annotations

import codecs
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from shipper_harness import (
    ForwardReceiver,
    LogWriter,
    RunningShipper,
    file_id_of,
    free_port,
    shipper_toml,
    wait_until,
)

from shippers.checkpoint import STATE_FILE

Receivers = Callable[..., ForwardReceiver]
StartShipper = Callable[[str], RunningShipper]
REPOSITORY = Path(__file__).resolve().parents[2]
BATCH_MB = 0.02


def expected(writer: LogWriter, file_id: str) -> set[tuple[str, int]]:
    return {(file_id, offset) for offset in writer.offsets}


def queued_records(state_dir: Path) -> int:
    """Records sitting in the shipper's on-disk queue (read by the test from the state file)."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return int(db.execute("SELECT COALESCE(SUM(records), 0) FROM queue").fetchone()[0])
        except sqlite3.OperationalError:
            return 0    # the shipper has not created its tables yet


def test_records_of_a_growing_file_arrive_with_their_offsets_and_context(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(5)
    start_shipper(shipper_toml(tmp_path / "state", [tmp_path / "*bootstrap*.log"], [receiver.address]))
    file_id = file_id_of(log.path)
    wait_until(lambda: receiver.received() == expected(log, file_id), what="the first records")
    log.legacy(5, start=5)
    wait_until(lambda: receiver.received() == expected(log, file_id), what="the appended records")
    record = receiver.records[0]
    assert {key: record[key] for key in ("type", "site", "host", "path", "encoding", "timezone")} == {
        "type": "record", "site": "S02", "host": "SECSRV01", "path": str(log.path), "encoding": "utf-8",
        "timezone": "Pacific Standard Time"}
    assert receiver.texts()[(file_id, log.offsets[3])] == log.texts[3]
    assert set(receiver.tags) >= {"bootwatch.S02", "bootwatch.heartbeat"}


def test_rotation_while_shipping_finishes_the_renamed_file_then_starts_the_new_one(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    first = LogWriter(tmp_path / "ConfigMgrSetup.log")
    first.legacy(20)
    start_shipper(shipper_toml(tmp_path / "state", [tmp_path / "ConfigMgrSetup.log"], [receiver.address]))
    first_id = file_id_of(first.path)
    wait_until(lambda: receiver.received() == expected(first, first_id), what="records before rotation")
    # The writer appends its last lines and the rotation marker, then renames and starts a new file.
    first.legacy(10, start=20)
    first.line("<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>")
    first.path.rename(tmp_path / "ConfigMgrSetup.lo_")
    second = LogWriter(tmp_path / "ConfigMgrSetup.log")
    second.legacy(15, start=100)
    second_id = file_id_of(second.path)
    want = expected(first, first_id) | expected(second, second_id)
    wait_until(lambda: receiver.received() == want, what="both files")
    assert len(receiver.records) == len(want), "a record was sent twice"


def test_rotation_twice_while_the_collector_is_down_loses_nothing(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    port = free_port()
    state = tmp_path / "state"
    # A tiny memory queue: every batch goes to the on-disk queue while nothing acks.
    start_shipper(shipper_toml(state, [tmp_path / "Sms_bootstrap.log"], [f"127.0.0.1:{port}"],
                               memory_queue_mb=0.0001))
    want: set[tuple[str, int]] = set()
    written = 0
    for generation in range(3):
        if generation:
            # Each rotation replaces the previous .lo_: generation 0 is gone once generation 1 rotates.
            (tmp_path / "Sms_bootstrap.log").replace(tmp_path / "Sms_bootstrap.lo_")
        writer = LogWriter(tmp_path / "Sms_bootstrap.log")
        writer.legacy(12, start=generation * 100)
        want |= expected(writer, file_id_of(writer.path))
        written += len(writer.offsets)
        wait_until(lambda written=written: queued_records(state) == written,
                   what=f"generation {generation} read into the on-disk queue")
    receiver = receivers(port=port)
    wait_until(lambda: receiver.received() == want, what="every generation")
    assert len(receiver.records) == len(want), "a record was sent twice"
    wait_until(lambda: queued_records(state) == 0, what="the queue to drain")


def test_truncated_file_is_read_again_from_the_start_as_a_new_file(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    path = tmp_path / "Smssetup.log"
    old = LogWriter(path)
    old.legacy(8)
    old_id = file_id_of(path)
    start_shipper(shipper_toml(tmp_path / "state", [path], [receiver.address]))
    wait_until(lambda: receiver.received() == expected(old, old_id), what="records before truncation")
    with open(path, "r+b") as handle:
        handle.truncate(0)
    new = LogWriter(path)
    new.line("06-21-1999 15:45:51 Setup started again after truncation")
    new.legacy(3, start=50)
    new_id = file_id_of(path)
    assert new_id != old_id
    wait_until(lambda: receiver.received() == expected(old, old_id) | expected(new, new_id),
               what="records after truncation")


def test_ack_lost_resends_the_same_chunk_and_every_record_arrives(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers(acks_to_lose=2)   # the heartbeat's and the first batch's acks vanish
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(10)
    start_shipper(shipper_toml(tmp_path / "state", [log.path], [receiver.address], ack_timeout_s=0.3))
    file_id = file_id_of(log.path)
    wait_until(lambda: receiver.received() == expected(log, file_id), what="records")
    wait_until(lambda: any(receiver.chunks.count(chunk) > 1 for chunk in receiver.chunks),
               what="a resent chunk")
    resent = [chunk for chunk in set(receiver.chunks) if receiver.chunks.count(chunk) > 1]
    assert len(resent) == 1, "only the unacknowledged batch is resent, with its chunk id"
    assert len(receiver.records) == 2 * len(log.offsets)  # the batch arrived twice: the collector dedupes


def test_collector_down_then_up_delivers_everything_read_meanwhile(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    port = free_port()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(10)
    start_shipper(shipper_toml(tmp_path / "state", [log.path], [f"127.0.0.1:{port}"]))
    time.sleep(0.5)
    log.legacy(10, start=10)
    receiver = receivers(port=port)
    file_id = file_id_of(log.path)
    wait_until(lambda: receiver.received() == expected(log, file_id), what="records once the collector is up")
    assert len(receiver.records) == len(log.offsets)


def test_failover_to_the_second_collector_when_the_first_refuses_or_never_acks(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    hung = receivers(ack=False)
    working = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(10)
    collectors = [f"127.0.0.1:{free_port()}", hung.address, working.address]
    start_shipper(shipper_toml(tmp_path / "state", [log.path], collectors, ack_timeout_s=0.3))
    file_id = file_id_of(log.path)
    wait_until(lambda: working.received() == expected(log, file_id), what="records at the second collector")
    assert hung.chunks, "the hung collector was tried first"


def test_utf16_files_are_decoded_and_offsets_are_byte_offsets(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    little = LogWriter(tmp_path / "a_bootstrap.log", "utf-16-le", codecs.BOM_UTF16_LE)
    big = LogWriter(tmp_path / "b_bootstrap.log", "utf-16-be", codecs.BOM_UTF16_BE)
    for writer in (little, big):
        writer.line("Démarrage du service Bootstrap  $$<SMS_BOOTSTRAP><07-26-2002 09:05:01.234+420>"
                    "<thread=345 (0x159)>")
        writer.line('<![LOG[Copie des fichiers\r\nterminée]LOG]!><time="10:12:01.234+420" date="07-26-2002" '
                    'component="SMS_BOOTSTRAP" context="" type="1" thread="345" file="">')
    start_shipper(shipper_toml(tmp_path / "state", [tmp_path / "*bootstrap*.log"], [receiver.address]))
    want = expected(little, file_id_of(little.path)) | expected(big, file_id_of(big.path))
    wait_until(lambda: receiver.received() == want, what="UTF-16 records")
    texts = receiver.texts()
    assert texts[(file_id_of(big.path), big.offsets[1])] == big.texts[1]
    assert texts[(file_id_of(little.path), 0)] == little.texts[0]
    assert {record["encoding"] for record in receiver.records} == {"utf-16-le", "utf-16-be"}


def test_multi_line_record_split_across_polls_arrives_as_one_record(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(2)
    start_shipper(shipper_toml(tmp_path / "state", [log.path], [receiver.address], flush_after_s=5.0))
    file_id = file_id_of(log.path)
    wait_until(lambda: receiver.received() == expected(log, file_id), what="the first records")
    start = log.path.stat().st_size
    pieces = ["<![LOG[Installing prerequisite components\r\n", "step 1 of 2\n", "step 2 of 2]LOG]!>",
              '<time="10:12:01.234+420" date="07-26-2002" component="Setup" context="" type="1" thread="1" '
              'file="">\r\n']
    for piece in pieces:
        log.write_raw(piece.encode())
        time.sleep(0.15)   # three polls pass between the pieces
    log.offsets.append(start)
    wait_until(lambda: receiver.received() == expected(log, file_id), what="the multi-line record")
    assert receiver.texts()[(file_id, start)] == "".join(pieces).removesuffix("\r\n")
    assert len(receiver.records) == len(log.offsets)


def test_partial_last_record_is_sent_after_the_flush_timeout(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(1)
    start = log.path.stat().st_size
    log.write_raw(b"Bootstrap quit without a line end")
    start_shipper(shipper_toml(tmp_path / "state", [log.path], [receiver.address], flush_after_s=0.3))
    file_id = file_id_of(log.path)
    wait_until(lambda: (file_id, start) in receiver.received(), what="the flushed partial record")
    assert receiver.texts()[(file_id, start)] == "Bootstrap quit without a line end"


def test_shared_key_handshake_passes_with_the_right_key_and_fails_with_a_wrong_one(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers(shared_key="s3cret")
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(3)
    wrong = start_shipper(shipper_toml(tmp_path / "wrong", [log.path], [receiver.address],
                                       auth={"shared_key": "guess"}))
    wait_until(lambda: receiver.handshakes_refused > 0, what="a refused handshake")
    wrong.stop()
    assert receiver.records == []
    start_shipper(shipper_toml(tmp_path / "right", [log.path], [receiver.address],
                               auth={"shared_key": "s3cret"}))
    wait_until(lambda: receiver.received() == expected(log, file_id_of(log.path)), what="records (right key)")


def test_heartbeat_reports_watched_files_with_size_and_shipped_offset(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(4)
    start_shipper(shipper_toml(tmp_path / "state", [log.path], [receiver.address], heartbeat_s=0.2))
    size = log.path.stat().st_size

    def shipped() -> bool:
        return any(beat["files"] and beat["files"][0]["offset"] == size for beat in receiver.heartbeats)

    wait_until(shipped, what="a heartbeat showing the file shipped")
    beat = receiver.heartbeats[-1]
    assert beat["site"] == "S02" and beat["host"] == "SECSRV01" and beat["heartbeat_s"] == 0.2
    assert beat["files"] == [{"path": str(log.path), "file_id": file_id_of(log.path), "size": size,
                              "offset": size}]
    assert {"shipper_version", "queue_bytes", "queue_records"} <= set(beat)


def test_sigkill_mid_record_and_restart_loses_nothing_and_resends_at_most_a_batch(
        tmp_path: Path, receivers: Receivers) -> None:
    receiver = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(8000)
    config = tmp_path / "shipper.toml"
    config.write_text(shipper_toml(tmp_path / "state", [log.path], [receiver.address], flush_after_s=30.0,
                                   batch_max_mb=BATCH_MB))

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "shippers", "--config", str(config)], cwd=REPOSITORY,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    file_id = file_id_of(log.path)
    process = start()
    try:
        wait_until(lambda: len(receiver.records) > 1000, what="some records before the kill")
        # A record half written when the shipper dies: it must arrive whole, once, after the restart.
        half = log.path.stat().st_size
        log.write_raw(b"<![LOG[Half a record when the shipper was killed\r\n")
        process.send_signal(signal.SIGKILL)
        process.wait(5)
        received_before_restart = len(receiver.records)
        log.write_raw(b'and its end]LOG]!><time="10:12:01.234+420" date="07-26-2002" component="x">\r\n')
        log.offsets.append(half)
        log.legacy(5, start=8000)
        process = start()
        wait_until(lambda: receiver.received() == expected(log, file_id), timeout_s=30, what="every record")
    finally:
        process.kill()
        process.wait(5)
    assert received_before_restart < len(log.offsets), "the kill came before the end"
    duplicates = len(receiver.records) - len(receiver.received())
    assert duplicates <= BATCH_MB * (1 << 20) // min(map(len, log.texts)), "more than one batch was resent"
    assert receiver.texts()[(file_id, half)].startswith("<![LOG[Half a record")
    assert receiver.texts()[(file_id, half)].endswith('component="x">')


def test_sigterm_stops_the_shipper_process_cleanly(tmp_path: Path, receivers: Receivers) -> None:
    receiver = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(3)
    config = tmp_path / "shipper.toml"
    config.write_text(shipper_toml(tmp_path / "state", [log.path], [receiver.address]))
    process = subprocess.Popen([sys.executable, "-m", "shippers", "--config", str(config)], cwd=REPOSITORY,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: receiver.received() == expected(log, file_id_of(log.path)), what="records")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_second_shipper_on_the_same_state_dir_is_refused(tmp_path: Path, receivers: Receivers,
                                                         start_shipper: StartShipper) -> None:
    receiver = receivers()
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(1)
    toml = shipper_toml(tmp_path / "state", [log.path], [receiver.address])
    start_shipper(toml)
    wait_until(lambda: bool(receiver.records), what="the first shipper running")
    config = tmp_path / "shipper.toml"
    config.write_text(toml)
    second = subprocess.run([sys.executable, "-m", "shippers", "--config", str(config)], cwd=REPOSITORY,
                            capture_output=True, text=True, timeout=30, env={**os.environ})
    assert second.returncode == 2
    assert "another shipper is running" in second.stderr


def test_rotation_while_the_shipper_is_stopped_finishes_the_renamed_file_after_restart(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper) -> None:
    receiver = receivers()
    first = LogWriter(tmp_path / "Sms_bootstrap.log")
    first.legacy(6)
    toml = shipper_toml(tmp_path / "state", [tmp_path / "Sms_bootstrap.log"], [receiver.address])
    shipper = start_shipper(toml)
    first_id = file_id_of(first.path)
    wait_until(lambda: receiver.received() == expected(first, first_id), what="records before the stop")
    shipper.stop()
    first.legacy(4, start=6)
    first.path.rename(tmp_path / "Sms_bootstrap.lo_")
    second = LogWriter(tmp_path / "Sms_bootstrap.log")
    second.legacy(5, start=100)
    start_shipper(toml)
    want = expected(first, first_id) | expected(second, file_id_of(second.path))
    wait_until(lambda: receiver.received() == want, what="both files after the restart")
    assert len(receiver.records) == len(want), "nothing is sent twice across a clean restart"


def test_full_on_disk_queue_pauses_reading_says_so_and_resumes_when_a_collector_returns(
        tmp_path: Path, receivers: Receivers, start_shipper: StartShipper,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bootwatch.shipper")
    port = free_port()
    state = tmp_path / "state"
    log = LogWriter(tmp_path / "Sms_bootstrap.log")
    log.legacy(400)   # about 60 KB, four times the queue
    start_shipper(shipper_toml(state, [log.path], [f"127.0.0.1:{port}"], queue_max_mb=0.015,
                               memory_queue_mb=0.001, batch_max_mb=0.004))
    wait_until(lambda: "the on-disk queue is full" in caplog.text, what="the queue-full warning")
    time.sleep(0.3)
    queued = queued_records(state)
    assert 0 < queued < len(log.offsets), "reading stopped at the bound"
    receiver = receivers(port=port)
    file_id = file_id_of(log.path)
    wait_until(lambda: receiver.received() == expected(log, file_id), what="every record after the pause")
    assert "reading resumes" in caplog.text
