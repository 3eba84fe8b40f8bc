"""Hypothesis fuzzing of the decoder and the pure pipeline: random and mutated protobuf / JSON bodies
either decode (every item becoming a row or a rejection) or raise the clean 400 error. Nothing else."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.pricing import builtin_price_table
from ingest.body import Encoding
from ingest.decode import Batch, OtlpDecoder
from ingest.errors import UndecodableBodyError
from ingest.logs_pipeline import prepare_logs
from ingest.pricer import Pricer
from ingest.spans_pipeline import SpanPipeline
from ingest.wire import build_wire_classes
from store.rows import turn_problem
from tests.ingest.otlp import otlp_json, request_of
from tests.ingest.test_logs import claude_code_events, logs_request

NOW = datetime(2025, 7, 1)
DECODER = OtlpDecoder(build_wire_classes(), 1 << 16)
PIPELINE = SpanPipeline.build(Pricer(builtin_price_table()), require_gen_ai=False, redact=True)
VALID_TRACES = request_of(3).SerializeToString()
VALID_LOGS = logs_request(claude_code_events()[:3]).SerializeToString()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_traces(body: bytes, encoding: Encoding) -> None:
    try:
        batch = DECODER.spans(body, encoding)
    except UndecodableBodyError:
        return
    prepared = PIPELINE.run(batch, NOW)
    assert len(prepared.rows) + len(prepared.rejections) == batch.total
    for row in prepared.rows:
        assert len(row["trace_id"]) == 32 and len(row["span_id"]) == 16


def check_logs(body: bytes, encoding: Encoding) -> None:
    try:
        batch = DECODER.log_records(body, encoding)
    except UndecodableBodyError:
        return
    prepared = prepare_logs(batch, NOW, redact_values=True)
    assert len(prepared.rows) + len(prepared.rejections) == batch.total
    for row in prepared.rows:
        json.dumps(row["attributes"])  # always storable as JSON


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and data:
            del data[position : position + draw(st.integers(1, 16))]
        else:
            del data[position:]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_as_protobuf(body: bytes) -> None:
    check_traces(body, Encoding.PROTOBUF)
    check_logs(body, Encoding.PROTOBUF)


@FUZZ
@given(mutated(VALID_TRACES))
def test_mutated_trace_protobuf(body: bytes) -> None:
    check_traces(body, Encoding.PROTOBUF)


@FUZZ
@given(mutated(VALID_LOGS))
def test_mutated_logs_protobuf(body: bytes) -> None:
    check_logs(body, Encoding.PROTOBUF)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_as_json(body: bytes) -> None:
    check_traces(body, Encoding.JSON)
    check_logs(body, Encoding.JSON)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_json(draw: st.DrawFn, document: dict[str, Any], container: str) -> bytes:
    """A valid OTLP/JSON document with one item's fields replaced by arbitrary JSON values."""
    copy = json.loads(json.dumps(document))
    resource_key, scope_key, items_key = container.split("/")
    items = copy[resource_key][0][scope_key][0][items_key]
    item = items[draw(st.integers(0, len(items) - 1))]
    keys = [*sorted(item), "traceId", "spanId", "attributes", "links", "body"]
    for _ in range(draw(st.integers(1, 4))):
        item[draw(st.sampled_from(keys))] = draw(json_values)
    return json.dumps(copy).encode()


@FUZZ
@given(mutated_json(otlp_json(request_of(3)), "resourceSpans/scopeSpans/spans"))
def test_mutated_trace_json(body: bytes) -> None:
    check_traces(body, Encoding.JSON)


@FUZZ
@given(mutated_json(otlp_json(logs_request(claude_code_events()[:3])), "resourceLogs/scopeLogs/logRecords"))
def test_mutated_logs_json(body: bytes) -> None:
    check_logs(body, Encoding.JSON)


@FUZZ
@given(json_values)
def test_arbitrary_json_documents(value: Any) -> None:
    body = json.dumps(value).encode()
    check_traces(body, Encoding.JSON)
    check_logs(body, Encoding.JSON)


def test_fuzz_helpers_can_see_rows() -> None:
    # the checks above are only meaningful if the valid inputs produce rows
    prepared = PIPELINE.run(DECODER.spans(VALID_TRACES, Encoding.PROTOBUF), NOW)
    assert len(prepared.rows) == 3 and not prepared.rejections
    assert all(turn_problem is not None for _ in prepared.rows)
    assert isinstance(DECODER.log_records(VALID_LOGS, Encoding.PROTOBUF), Batch)


def test_a_number_beyond_any_integer_rejects_that_item_only() -> None:
    """Found by the fuzzer in CI: 1e999 parses to inf, and protobuf raises OverflowError (not a
    ParseError) when it lands in an integer or enum field. The item is rejected; the others land."""
    document = otlp_json(request_of(3))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["kind"] = float("inf")
    batch = DECODER.spans(json.dumps(document).encode(), Encoding.JSON)
    prepared = PIPELINE.run(batch, NOW)
    assert batch.total == 3 and len(prepared.rows) == 2 and len(prepared.rejections) == 1
