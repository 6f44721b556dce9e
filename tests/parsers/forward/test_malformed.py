"""Hypothesis-generated malformed frames close their own connection and nothing else."""

from __future__ import annotations

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.parsers.forward.conftest import Peer, ServerHarness

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=20)
)
not_a_map = st.one_of(scalars.filter(lambda value: value is not None), st.lists(scalars, max_size=3))
good_entry = st.builds(lambda n, text: [n, {"log": text}], st.integers(0, 2**32 - 1), st.text(max_size=30))
bad_entry = st.one_of(
    st.builds(lambda n, record: [n, record], st.integers(0, 2**32), not_a_map),  # record is not a map
    st.builds(lambda text: [text, {"log": "x"}], st.text(max_size=5)),  # time is a string
    st.lists(scalars, min_size=3, max_size=4),  # not a [time, record] pair
)


@st.composite
def malformed_frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bad_entry", "bad_tag", "bad_bytes", "bad_options", "not_an_array"]))
    if kind == "bad_entry":
        entries = draw(st.lists(good_entry, max_size=5))
        entries.insert(draw(st.integers(0, len(entries))), draw(bad_entry))
        packer_mode = draw(st.booleans())
        body = b"".join(msgpack.packb(e) for e in entries) if packer_mode else entries
        return msgpack.packb(["t", body, {"chunk": "c"}], use_bin_type=True)
    if kind == "bad_tag":
        return msgpack.packb([draw(not_a_map.filter(lambda v: not isinstance(v, str))), [[1, {}]]])
    if kind == "bad_options":
        return msgpack.packb(["t", [[1, {"log": "x"}]], draw(not_a_map)])
    if kind == "not_an_array":
        return msgpack.packb(draw(scalars))
    # 0xc1 is the one byte msgpack never uses: whatever follows, the stream is invalid.
    return b"\xc1" + draw(st.binary(max_size=64))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=malformed_frames())
def test_malformed_frame_closes_only_its_connection(harness: ServerHarness, frame: bytes) -> None:
    steady = Peer(harness.port)
    before = len(harness.stored())
    malformed_before = harness.metrics.frames_malformed
    steady.send(["t", 1, {"log": "steady"}, {"chunk": "s1"}])
    assert steady.receive() == {"ack": "s1"}
    bad = Peer(harness.port)
    bad.send_raw(frame)
    assert bad.is_closed_by_server()
    assert harness.metrics.frames_malformed == malformed_before + 1
    bad.close()
    steady.send(["t", 1, {"log": "steady"}, {"chunk": "s2"}])
    assert steady.receive() == {"ack": "s2"}
    assert len(harness.stored()) == before + 2
    steady.close()
