import os

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from core import spans
from core.spans import SpanDecodeError, Turn, session_trace_id, span_to_turn, turn_to_span, turns_to_request


def _turn(**extra):
    values = dict(
        trace_id=session_trace_id("sess-1", b""), span_id=os.urandom(8), start_ns=1_000, end_ns=9_000_000,
        status_code=200, session_id="sess-1", developer="alice", team="payments", repo="api",
        cli_version="2.1.330", requested_model="claude-sonnet-4-5", served_model="claude-sonnet-4-5",
        input_tokens=12, output_tokens=40, cache_creation_tokens=300, cache_creation_1h_tokens=100,
        cache_read_tokens=5000, thinking=True, stream=True, tool_count=15, propensity=0.98, ttfb_ms=3.5,
        stop_reason="tool_use", tool_use_ids=("toolu_1",), tool_use_names=("Write",), fallback_hops=("a:529",),
    )
    values.update(extra)
    return Turn(**values)


def test_round_trip_keeps_every_field():
    turn = _turn()
    assert span_to_turn(turn_to_span(turn)) == turn


def test_gen_ai_input_tokens_is_the_sum_of_all_three():
    span = turn_to_span(_turn())
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs[spans.GEN_AI_USAGE_INPUT_TOKENS].int_value == 12 + 300 + 5000
    assert attrs[spans.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS].int_value == 5000


def test_all_turns_of_a_session_share_a_trace():
    assert session_trace_id("s", b"x" * 16) == session_trace_id("s", b"y" * 16)
    assert session_trace_id(None, b"y" * 16) == b"y" * 16
    assert len(session_trace_id("s", b"")) == 16


def test_foreign_span_with_only_gen_ai_total_is_split():
    span = turn_to_span(_turn())
    keep = [kv for kv in span.attributes if kv.key != spans.SY_UNCACHED_INPUT_TOKENS]
    del span.attributes[:]
    span.attributes.extend(keep)
    assert span_to_turn(span).input_tokens == 12


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: setattr(s, "trace_id", b"\x01" * 8), "trace_id"),
    (lambda s: setattr(s, "span_id", b"\x00" * 8), "span_id"),
    (lambda s: s.attributes.append(KeyValue(key=spans.GEN_AI_USAGE_OUTPUT_TOKENS, value=AnyValue(int_value=-5))),
     "negative"),
    (lambda s: s.attributes.append(KeyValue(key=spans.SY_DEVELOPER, value=AnyValue(int_value=3))), "string"),
    (lambda s: setattr(s, "end_time_unix_nano", 1), "end time"),
])
def test_bad_spans_are_rejected_with_a_reason(mutate, message):
    span = turn_to_span(_turn())
    mutate(span)
    with pytest.raises(SpanDecodeError, match=message):
        span_to_turn(span)


def test_request_holds_every_turn():
    request = turns_to_request([_turn(), _turn()])
    assert len(spans.turns_in_request(request)) == 2
    assert request.resource_spans[0].resource.attributes[0].value.string_value == "switchyard-proxy"


@pytest.mark.parametrize("verified", [True, False, None])
def test_repo_verified_survives_the_span_false_included(verified):
    turn = _turn(repo="payments-api", repo_verified=verified)
    assert span_to_turn(turn_to_span(turn)).repo_verified is verified
