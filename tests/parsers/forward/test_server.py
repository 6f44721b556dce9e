"""The Forward server over real sockets: modes, acks after commit, limits, malformed frames, senders."""

from __future__ import annotations

import gzip
import os
import sqlite3
import time
from collections.abc import Callable

import msgpack
from fluent.sender import EventTime, FluentSender

from parsers.collector.config import LimitsConfig
from parsers.forward.modes import pack_event_time
from tests.parsers.forward.conftest import Peer, ServerHarness


def packed(entries: list[list[object]]) -> bytes:
    return b"".join(msgpack.packb(entry, use_bin_type=True) for entry in entries)


def test_message_mode_is_acked_and_spooled(harness: ServerHarness) -> None:
    peer = Peer(harness.port)
    peer.send(["bootwatch.S01", pack_event_time(1700000000.5), {"log": "hello"}, {"chunk": "c1"}])
    assert peer.receive() == {"ack": "c1"}
    assert harness.stored() == [("bootwatch.S01", 1700000000.5, {"log": "hello"})]


def test_forward_mode_with_integer_times_is_spooled_in_order(harness: ServerHarness) -> None:
    peer = Peer(harness.port)
    peer.send(["t", [[1, {"n": 1}], [2, {"n": 2}], [3, {"n": 3}]], {"chunk": "c", "size": 3}])
    assert peer.receive() == {"ack": "c"}
    assert [record["n"] for _tag, _t, record in harness.stored()] == [1, 2, 3]


def test_packed_and_compressed_packed_forward_are_spooled(harness: ServerHarness) -> None:
    peer = Peer(harness.port)
    peer.send(["t", packed([[1, {"n": 1}], [1, {"n": 2}]]), {"chunk": "p"}])
    assert peer.receive() == {"ack": "p"}
    payload = gzip.compress(packed([[1, {"n": 3}]])) + gzip.compress(packed([[1, {"n": 4}]]))
    peer.send(["t", payload, {"chunk": "z", "compressed": "gzip", "size": 2}])
    assert peer.receive() == {"ack": "z"}
    assert [record["n"] for _tag, _t, record in harness.stored()] == [1, 2, 3, 4]


def test_frames_without_chunk_are_spooled_without_an_ack(harness: ServerHarness) -> None:
    peer = Peer(harness.port)
    peer.send(["t", [[1, {"n": 1}]]])
    peer.send(["t", [[1, {"n": 2}]], {"chunk": "second"}])
    assert peer.receive() == {"ack": "second"}  # the first frame got no ack of its own
    assert len(harness.stored()) == 2


def test_ack_echoes_the_chunk_byte_for_byte(harness: ServerHarness) -> None:
    chunk = "q83vEjRWeJASNFZ4kBI0Vg==\n"  # fluentd's out_forward base64 ends with a newline
    peer = Peer(harness.port)
    peer.send(["t", 1, {"log": "x"}, {"chunk": chunk}])
    assert peer.receive_bytes() == msgpack.packb({"ack": chunk})


def test_ack_is_sent_only_after_the_spool_commit(harness: ServerHarness) -> None:
    release = harness.hold_commits()
    peer = Peer(harness.port)
    peer.send(["t", 1, {"log": "x"}, {"chunk": "held"}])
    peer.sock.settimeout(0.5)
    try:
        early = peer.sock.recv(100)
    except TimeoutError:
        early = b""
    assert early == b""
    assert harness.stored() == []
    release()
    assert peer.receive() == {"ack": "held"}
    # Read through a separate connection: what was acked is in the file, not only in memory.
    with sqlite3.connect(harness.spool.path) as other:
        assert other.execute("SELECT COUNT(*) FROM frames").fetchone()[0] == 1


def test_message_mode_messages_sharing_a_chunk_id_are_all_kept(harness: ServerHarness) -> None:
    peer = Peer(harness.port)
    for n in range(5):
        peer.send(["t", 1, {"log": f"line {n}"}, {"chunk": "same"}])
        assert peer.receive() == {"ack": "same"}
    assert len(harness.stored()) == 5


def test_multi_megabyte_gzip_frame_of_several_members(harness: ServerHarness) -> None:
    line = "x" * 200
    members = [
        gzip.compress(packed([[i, {"log": f"{line} {m}-{i}"}] for i in range(4000)])) for m in range(8)
    ]
    payload = b"".join(members)
    peer = Peer(harness.port)
    peer.send(["t", payload, {"chunk": "big", "compressed": "gzip"}])
    assert peer.receive(timeout_s=20) == {"ack": "big"}
    assert harness.spool.stats().pending_bytes > 6_000_000
    assert harness.spool.stats().pending_records == 32_000


def test_fluent_logger_sender_in_message_mode(harness: ServerHarness) -> None:
    sender = FluentSender("bootwatch", host="127.0.0.1", port=harness.port, nanosecond_precision=True)
    try:
        for n in range(20):
            assert sender.emit_with_time(
                "S02", EventTime(1700000000 + n), {"message": f"line {n}", "host": "h"}
            )
    finally:
        sender.close()
    deadline = time.monotonic() + 5
    while len(harness.stored()) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    stored = harness.stored()
    assert [tag for tag, _t, _r in stored] == ["bootwatch.S02"] * 20
    assert stored[3][1] == 1700000003.0
    assert stored[3][2] == {"message": "line 3", "host": "h"}


def test_line_records_get_running_stream_offsets_in_the_spool(harness: ServerHarness) -> None:
    peer = Peer(harness.port)
    record = {"log": "abc", "host": "H", "path": "C:/x.log", "site": "S01"}
    peer.send(["t", [[1, record], [1, record]], {"chunk": "a"}])
    assert peer.receive() == {"ack": "a"}
    peer.send(["t", [[1, record]], {"chunk": "b"}])
    assert peer.receive() == {"ack": "b"}
    frames = harness.spool.read_after(0, 100)
    assert [list(frame.line_starts.values()) for frame in frames] == [[0], [8]]


def test_malformed_frame_closes_only_its_connection(harness: ServerHarness) -> None:
    good, bad = Peer(harness.port), Peer(harness.port)
    good.send(["t", 1, {"log": "before"}, {"chunk": "1"}])
    assert good.receive() == {"ack": "1"}
    bad.send(["t", [[1, "not a map"]], {"chunk": "bad"}])
    assert bad.is_closed_by_server()
    good.send(["t", 1, {"log": "after"}, {"chunk": "2"}])
    assert good.receive() == {"ack": "2"}
    assert [record["log"] for _t, _s, record in harness.stored()] == ["before", "after"]
    assert harness.metrics.frames_malformed == 1


def test_oversized_frame_closes_the_connection_without_ack(
    make_harness: Callable[..., ServerHarness],
) -> None:
    running = make_harness(limits=LimitsConfig(max_frame_mb=0.1))
    peer = Peer(running.port)
    peer.send_raw(msgpack.packb(["t", 1, {"log": "x" * 900_000}, {"chunk": "c"}]))
    assert peer.is_closed_by_server()
    assert running.stored() == []
    assert running.metrics.frames_oversized == 1


def test_spool_over_its_bound_refuses_frames_without_ack(make_harness: Callable[..., ServerHarness]) -> None:
    running = make_harness(spool_max_bytes=10_000)
    peer = Peer(running.port)
    peer.send(["t", 1, {"log": "small"}, {"chunk": "fits"}])
    assert peer.receive() == {"ack": "fits"}
    peer.send(["t", 1, {"log": os.urandom(6000).hex()}, {"chunk": "too big"}])
    assert peer.is_closed_by_server()
    assert [record["log"] for _t, _s, record in running.stored()] == ["small"]
    assert (running.metrics.frames_refused, running.metrics.records_refused) == (1, 1)
    assert (running.metrics.frames_acked, running.metrics.records_acked) == (1, 1)


def test_connections_beyond_the_limit_are_closed_at_accept(
    make_harness: Callable[..., ServerHarness],
) -> None:
    running = make_harness(limits=LimitsConfig(max_connections=2))
    first, second = Peer(running.port), Peer(running.port)
    first.send(["t", 1, {"log": "a"}, {"chunk": "a"}])
    assert first.receive() == {"ack": "a"}
    third = Peer(running.port)
    assert third.is_closed_by_server()
    second.send(["t", 1, {"log": "b"}, {"chunk": "b"}])
    assert second.receive() == {"ack": "b"}
    assert running.metrics.connections_refused == 1


def test_idle_connections_are_closed_after_the_timeout(make_harness: Callable[..., ServerHarness]) -> None:
    running = make_harness(limits=LimitsConfig(idle_timeout_s=0.3))
    peer = Peer(running.port)
    assert peer.is_closed_by_server(timeout_s=4)
    assert running.metrics.connections_idle_closed == 1
