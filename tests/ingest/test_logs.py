"""Claude Code's telemetry events over OTLP logs, stored and joined to turns by session id."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from sqlalchemy import Engine

from core.spans import any_value
from store.queries import logs_frame, session_summary
from store.testing import sample_turn
from tests.ingest.otlp import JSON, PROTOBUF, otlp_json, post, request_of

BASE_NS = sample_turn(0).start_ns


def event(name: str, session: str, offset_ms: int, **attributes: Any) -> LogRecord:
    values = {"event.name": name, "session.id": session, "event.timestamp": "2025-06-15T15:06:40Z", **attributes}
    return LogRecord(
        time_unix_nano=BASE_NS + offset_ms * 1_000_000,
        severity_number=9, body=AnyValue(string_value=f"claude_code.{name}"),
        attributes=[KeyValue(key=k, value=any_value(v)) for k, v in values.items()],
    )


def logs_request(records: list[LogRecord]) -> ExportLogsServiceRequest:
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="claude-code"))])
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=resource, scope_logs=[ScopeLogs(log_records=records)])])


def claude_code_events() -> list[LogRecord]:
    return [
        event("user_prompt", "session-0", 1, prompt_length=42, prompt="mail me at jane@example.com"),
        event("tool_result", "session-0", 2, tool_name="Bash", success="true", duration_ms=812),
        event("tool_result", "session-0", 3, tool_name="Edit", success="false", error="no match"),
        event("api_error", "session-0", 4, error="overloaded", status_code=529),
        event("tool_result", "session-1", 5, tool_name="Read", success="true"),
    ]


def response_of(response: httpx.Response) -> ExportLogsServiceResponse:
    assert response.status_code == 200, response.text
    if response.headers["content-type"] == JSON:
        return json_format.Parse(response.content, ExportLogsServiceResponse())
    return ExportLogsServiceResponse.FromString(response.content)


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_events_are_stored_with_session_name_and_success(client: httpx.Client, db_engine: Engine,
                                                         encoding: str) -> None:
    request = logs_request(claude_code_events())
    body = request.SerializeToString() if encoding == PROTOBUF else json.dumps(otlp_json(request)).encode()
    assert not response_of(post(client, "/v1/logs", body, encoding, compress=True)).HasField("partial_success")
    frame = logs_frame(db_engine)
    assert frame["event_name"].to_list() == ["claude_code.user_prompt", "claude_code.tool_result",
                                             "claude_code.tool_result", "claude_code.api_error",
                                             "claude_code.tool_result"]
    assert frame["session_id"].to_list() == ["session-0"] * 4 + ["session-1"]
    assert frame["success"].to_list() == [None, True, False, None, True]
    attributes = json.loads(frame["attributes"][0])
    assert attributes["prompt_length"] == 42 and attributes["service.name"] == "claude-code"
    assert attributes["prompt"] == "mail me at [REDACTED:email]"
    assert frame["severity"][0] == "SEVERITY_NUMBER_INFO"


def test_a_resent_batch_is_stored_once(client: httpx.Client, db_engine: Engine) -> None:
    body = logs_request(claude_code_events()).SerializeToString()
    post(client, "/v1/logs", body)
    post(client, "/v1/logs", body)
    assert logs_frame(db_engine).height == 5


def test_events_join_turns_by_session(client: httpx.Client, db_engine: Engine) -> None:
    post(client, "/v1/traces", request_of(14).SerializeToString())  # sessions session-0 … session-6
    post(client, "/v1/logs", logs_request(claude_code_events()).SerializeToString())
    summary = session_summary(db_engine).filter(session_id="session-0").row(0, named=True)
    assert summary["turns"] == 2
    assert (summary["tool_results"], summary["tool_failures"], summary["api_errors"],
            summary["user_prompts"]) == (2, 1, 1, 1)
    quiet = session_summary(db_engine).filter(session_id="session-3").row(0, named=True)
    assert (quiet["turns"], quiet["tool_results"]) == (2, 0)


def test_bad_records_are_rejected_and_the_rest_lands(client: httpx.Client, db_engine: Engine) -> None:
    no_time = event("tool_result", "s", 0)
    no_time.time_unix_nano = 0
    nul = event("tool_result", "s", 1, tool_name="a\x00b")
    huge = event("user_prompt", "s", 2, prompt="x" * 2_000_000)
    records = [event("user_prompt", "s", 3), no_time, nul, huge, event("user_prompt", "s", 4)]
    response = response_of(post(client, "/v1/logs", logs_request(records).SerializeToString()))
    assert response.partial_success.rejected_log_records == 3
    message = response.partial_success.error_message
    assert "#1: timestamp missing" in message and "#2: a string contains a NUL" in message
    assert "#3: encoded size" in message
    assert logs_frame(db_engine).height == 2


def test_bytes_and_nested_values_become_json(client: httpx.Client, db_engine: Engine) -> None:
    record = event("tool_result", "s", 0)
    record.attributes.add(key="raw", value=AnyValue(bytes_value=b"\x00\x01"))
    record.attributes.add(key="nan", value=AnyValue(double_value=float("nan")))
    record.body.CopyFrom(AnyValue(kvlist_value={"values": [KeyValue(key="a", value=AnyValue(int_value=1))]}))
    response_of(post(client, "/v1/logs", logs_request([record]).SerializeToString()))
    row = logs_frame(db_engine).row(0, named=True)
    attributes = json.loads(row["attributes"])
    assert attributes["raw"] == "AAE=" and attributes["nan"] == "nan"
    assert json.loads(row["body"]) == {"a": 1}
