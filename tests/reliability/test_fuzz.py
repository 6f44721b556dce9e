"""Bad input: the Forward-protocol decoder and the log parsers never crash or hang on generated
input, and every record is accounted for."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.reliability.fuzzing import (
    check_forward_input,
    check_log_bytes,
    forward_wire_bytes,
    log_bytes,
    run_fuzz,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(forward_wire_bytes())
def test_any_forward_input_is_decoded_or_refused_as_malformed(data: bytes) -> None:
    check_forward_input(data)


@FAST
@given(log_bytes())
def test_any_log_bytes_give_one_valid_document_per_framed_record(data: bytes) -> None:
    check_log_bytes(data)


def test_mutated_frames_and_logs_never_break_the_decoder_or_the_parsers() -> None:
    report = run_fuzz(hypothesis_cases=0, mutation_cases=4000, random_seed=11)
    assert report.cases == 4000
    assert report.failures == 0, report.examples


@pytest.mark.long
def test_a_million_generated_inputs_never_break_the_decoder_or_the_parsers() -> None:
    report = run_fuzz(hypothesis_cases=4000, mutation_cases=1_000_000, random_seed=12)
    assert report.cases == 1_004_000
    assert report.failures == 0, report.examples
