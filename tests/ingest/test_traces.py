from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import Engine

from core.pricing import Usage, builtin_price_table
from core.spans import GEN_AI_USAGE_OUTPUT_TOKENS, SY_ERROR_MESSAGE, SY_TOOL_COUNT
from store.queries import rollup_frame, turns_frame
from store.testing import sample_turn
from tests.ingest.otlp import JSON, PROTOBUF, otlp_json, post, request_of, trace_response


def expected_cost(index: int) -> Decimal:
    turn = sample_turn(index)
    usage = Usage(turn.input_tokens, turn.output_tokens, turn.cache_creation_tokens, 0, turn.cache_read_tokens)
    day = datetime.fromtimestamp(turn.start_ns / 1e9, UTC).date()
    return builtin_price_table().cost(turn.served_model, usage, day).usd.quantize(Decimal("1e-9"))


def body_in(encoding: str, request: Any) -> bytes:
    return request.SerializeToString() if encoding == PROTOBUF else json.dumps(otlp_json(request)).encode()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_a_batch_lands_with_tokens_and_cost(client: httpx.Client, db_engine: Engine, encoding: str,
                                             compress: bool) -> None:
    response = post(client, "/v1/traces", body_in(encoding, request_of(5)), encoding, compress=compress)
    assert response.headers["content-type"] == encoding
    assert not trace_response(response).HasField("partial_success")
    frame = turns_frame(db_engine)
    assert frame.height == 5
    row = frame.filter(frame["span_id"] == sample_turn(3).span_id.hex()).row(0, named=True)
    assert row["trace_id"] == sample_turn(3).trace_id.hex()
    assert (row["input_tokens"], row["output_tokens"], row["cache_creation_tokens"], row["cache_read_tokens"]) == (
        103, 20, 1000, 5000)
    assert row["priced"] and row["price_id"] and row["cost_usd"] == expected_cost(3) > 0
    assert row["tool_use_ids"] == ["toolu_0003"] and row["stop_reason"] == "tool_use"


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_a_batch_sent_twice_is_stored_once(client: httpx.Client, db_engine: Engine, encoding: str) -> None:
    body = body_in(encoding, request_of(20))
    post(client, "/v1/traces", body, encoding)
    rollup = rollup_frame(db_engine, by=("hour", "developer", "model"))
    again = post(client, "/v1/traces", body, encoding)
    assert not trace_response(again).HasField("partial_success")
    assert turns_frame(db_engine).height == 20
    assert rollup_frame(db_engine, by=("hour", "developer", "model")).equals(rollup)
    assert rollup["requests"].sum() == 20


def _span(index: int, **overrides: Any) -> Span:
    return request_of(1, start=index, **overrides).resource_spans[0].scope_spans[0].spans[0]


def _with_attribute(span: Span, key: str, value: AnyValue) -> Span:
    kept = [kv for kv in span.attributes if kv.key != key]
    del span.attributes[:]
    span.attributes.extend([*kept, KeyValue(key=key, value=value)])
    return span


def _bad_spans() -> dict[str, tuple[Span, str]]:
    short_trace = _span(100)
    short_trace.trace_id = b"\x01" * 8
    zero_span = _span(101)
    zero_span.span_id = b"\x00" * 8
    backwards = _span(106)
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1
    far_future = _span(107)
    far_future.start_time_unix_nano = far_future.end_time_unix_nano = 2**64 - 1
    no_gen_ai = _span(108)
    kept = [kv for kv in no_gen_ai.attributes if not kv.key.startswith("gen_ai.")]
    del no_gen_ai.attributes[:]
    no_gen_ai.attributes.extend(kept)
    return {
        "short trace id": (short_trace, "trace_id must be 16 bytes"),
        "zero span id": (zero_span, "span_id must be 8 bytes"),
        "wrong attribute type": (_with_attribute(_span(102), GEN_AI_USAGE_OUTPUT_TOKENS,
                                                 AnyValue(string_value="many")), "must be an integer"),
        "negative tokens": (_with_attribute(_span(103), GEN_AI_USAGE_OUTPUT_TOKENS, AnyValue(int_value=-5)),
                            "must not be negative"),
        "absurd tokens": (_with_attribute(_span(104), GEN_AI_USAGE_OUTPUT_TOKENS, AnyValue(int_value=2**62)),
                          "out of range"),
        "int32 overflow": (_with_attribute(_span(105), SY_TOOL_COUNT, AnyValue(int_value=2**40)), "out of range"),
        "end before start": (backwards, "end time is before start time"),
        "time beyond 2262": (far_future, "out of range"),
        "not an LLM call": (no_gen_ai, "no gen_ai"),
        "NUL in a string": (_with_attribute(_span(109), SY_ERROR_MESSAGE, AnyValue(string_value="a\x00b")),
                            "NUL"),
        "10 MB attribute": (_with_attribute(_span(110), "gen_ai.prompt", AnyValue(string_value="x" * 10_000_000)),
                            "exceeds the per-item limit"),
    }


@pytest.mark.parametrize("case", sorted(_bad_spans()))
def test_a_bad_span_is_rejected_and_the_rest_lands(client: httpx.Client, db_engine: Engine, case: str) -> None:
    bad, reason = _bad_spans()[case]
    request = request_of(4)
    request.resource_spans[0].scope_spans[0].spans.insert(2, bad)
    response = trace_response(post(client, "/v1/traces", request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert "rejected 1 of 5 spans: #2" in response.partial_success.error_message
    assert reason in response.partial_success.error_message
    assert turns_frame(db_engine).height == 4


def test_invalid_utf8_in_one_span_rejects_only_that_span(client: httpx.Client, db_engine: Engine) -> None:
    marker = "UTF8-MARKER"
    request = request_of(3)
    _with_attribute(request.resource_spans[0].scope_spans[0].spans[1], SY_ERROR_MESSAGE,
                    AnyValue(string_value=marker))
    body = request.SerializeToString().replace(marker.encode(), b"\xff\xfe\xfd" + b"x" * (len(marker) - 3))
    response = trace_response(post(client, "/v1/traces", body))
    assert response.partial_success.rejected_spans == 1
    assert "#1" in response.partial_success.error_message and "UTF-8" in response.partial_success.error_message
    assert turns_frame(db_engine).height == 2


@pytest.mark.parametrize("mutation, reason", [
    ({"traceId": "zz" * 16}, "traceId must be a hex string"),
    ({"spanId": "AAECAwQFBgc="}, "spanId must be a hex string"),  # base64, as protobuf's JSON would send
    ({"spanId": "0102"}, "span_id must be 8 bytes"),
    ({"name": "\ud800"}, "invalid OTLP/JSON"),
    ({"startTimeUnixNano": "soon"}, "invalid OTLP/JSON"),
    ({"attributes": "not a list"}, "invalid OTLP/JSON"),
])
def test_json_specific_defects_reject_one_span(client: httpx.Client, db_engine: Engine, mutation: dict[str, Any],
                                               reason: str) -> None:
    document = otlp_json(request_of(3))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(mutation)
    body = json.dumps(document).encode()
    response = trace_response(post(client, "/v1/traces", body, JSON))
    assert response.partial_success.rejected_spans == 1
    assert reason in response.partial_success.error_message
    assert turns_frame(db_engine).height == 2


def test_json_accepts_enum_integers_string_int64_and_snake_case_envelope(client: httpx.Client,
                                                                          db_engine: Engine) -> None:
    document = otlp_json(request_of(1))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = int(span["startTimeUnixNano"])  # numbers as well as strings
    span["kind"] = 3
    span["unknownField"] = {"ignored": True}
    snake = {"resource_spans": [{"scope_spans": document["resourceSpans"][0]["scopeSpans"]}]}
    response = trace_response(post(client, "/v1/traces", json.dumps(snake).encode(), JSON))
    assert not response.HasField("partial_success")
    assert turns_frame(db_engine)["start_ns"].to_list() == [sample_turn(0).start_ns]


def test_secrets_and_emails_are_redacted_before_storage(client: httpx.Client, db_engine: Engine) -> None:
    key = "sk-ant-api03-" + "k" * 40
    request = request_of(1, developer="jane@example.com", error_message=f"401 for key {key}",
                         tool_use_names=("Bash", "Authorization: Bearer abc.def"))
    post(client, "/v1/traces", request.SerializeToString())
    row = turns_frame(db_engine).row(0, named=True)
    # the developer is the gateway's own name for the caller (kept by default: chargeback groups by it)
    assert row["developer"] == "jane@example.com"
    assert row["error_message"] == "401 for key [REDACTED:anthropic_key]"
    assert row["tool_use_names"] == ["Bash", "Authorization: Bearer [REDACTED:bearer]"]
    assert key not in json.dumps(turns_frame(db_engine).to_dicts(), default=str)


def test_unknown_models_are_kept_unpriced_and_flagged(client: httpx.Client, db_engine: Engine) -> None:
    post(client, "/v1/traces", request_of(2, served_model="mystery-model-9", requested_model="mystery-model-9")
         .SerializeToString())
    frame = turns_frame(db_engine)
    assert frame["priced"].to_list() == [False, False]
    assert frame["cost_usd"].to_list() == [Decimal(0), Decimal(0)]
    assert "mystery-model-9" in frame["cost_note"][0]
    assert rollup_frame(db_engine, by=())["unpriced"].to_list() == [2]


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_whether_the_repo_was_verified_is_stored(client: httpx.Client, db_engine: Engine, encoding: str) -> None:
    spans = [request_of(1, start=0, repo="billing", repo_verified=True),
             request_of(1, start=1, repo="billing", repo_verified=False),
             request_of(1, start=2, repo="billing")]  # a proxy from before the attribute: NULL
    for request in spans:
        assert not trace_response(post(client, "/v1/traces", body_in(encoding, request), encoding)).HasField(
            "partial_success")
    assert turns_frame(db_engine)["repo_verified"].to_list() == [True, False, None]
