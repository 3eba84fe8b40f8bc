"""Requests made into what Bedrock, Mantle and Vertex take: the body rewritten minimally."""

from __future__ import annotations

import base64
import json

import orjson
import pytest

from core.providers.capabilities import load_capabilities
from core.providers.translate import NotSupported, bedrock_request, mantle_request, vertex_request

TABLE = load_capabilities()
HEADERS = {"anthropic-beta": "interleaved-thinking-2025-05-14,request-tags-2026-08-21",
           "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 100, "stream": True, "tags": ["x"],
        "messages": [{"role": "user", "content": "héllo ✓"}], "system": [{"type": "text", "text": "s"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024}}


def test_bedrock_moves_model_stream_and_betas_and_sets_its_version() -> None:
    request = bedrock_request(BODY, HEADERS, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", TABLE["bedrock"])
    assert request.path == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
    assert request.stream
    body = orjson.loads(request.body)
    assert "model" not in body and "stream" not in body and "tags" not in body
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]
    assert body["messages"] == BODY["messages"] and body["thinking"] == BODY["thinking"]
    assert "beta:request-tags-2026-08-21" in request.dropped and "field:tags" in request.dropped
    assert dict(request.headers)["accept"] == "application/vnd.amazon.eventstream"
    assert BODY["model"] == "claude-sonnet-4-5-20250929" and "tags" in BODY  # the caller's document is intact


def test_bedrock_without_stream_invokes_and_counts_tokens_through_count_tokens() -> None:
    plain = bedrock_request({**BODY, "stream": False}, {}, "anthropic.claude-haiku-4-5-20251001-v1:0", TABLE["bedrock"])
    assert plain.path.endswith("/invoke") and not plain.stream
    count = bedrock_request(BODY, HEADERS, "us.anthropic.claude-haiku-4-5-20251001-v1:0", TABLE["bedrock"],
                            count_tokens=True)
    assert count.path == "/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/count-tokens"  # a foundation model
    inner = json.loads(base64.b64decode(orjson.loads(count.body)["input"]["invokeModel"]["body"]))
    assert inner["messages"] == BODY["messages"] and inner["anthropic_version"] == "bedrock-2023-05-31"


def test_vertex_puts_the_model_in_the_url_and_keeps_betas_in_the_header() -> None:
    request = vertex_request(BODY, HEADERS, "claude-sonnet-4-5@20250929", "my-project-1", "us-east5", TABLE["vertex"])
    assert request.path == ("/v1/projects/my-project-1/locations/us-east5/publishers/anthropic/models/"
                            "claude-sonnet-4-5@20250929:streamRawPredict")
    body = orjson.loads(request.body)
    assert "model" not in body and body["stream"] is True and body["anthropic_version"] == "vertex-2023-10-16"
    assert dict(request.headers)["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    count = vertex_request(BODY, HEADERS, "claude-sonnet-4-5@20250929", "my-project-1", "us-east5", TABLE["vertex"],
                           count_tokens=True)
    assert count.path.endswith("/models/count-tokens:rawPredict")
    assert orjson.loads(count.body)["model"] == "claude-sonnet-4-5@20250929"


def test_mantle_keeps_the_messages_shape_with_bedrocks_model_id() -> None:
    request = mantle_request(BODY, HEADERS, "anthropic.claude-sonnet-4-5-20250929-v1:0", TABLE["bedrock-mantle"])
    body = orjson.loads(request.body)
    assert request.path == "/v1/messages" and body["model"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert body["stream"] is True and "tags" not in body
    assert dict(request.headers)["anthropic-version"] == "2023-06-01"
    with pytest.raises(NotSupported):
        mantle_request(BODY, HEADERS, "m", TABLE["bedrock-mantle"], count_tokens=True)


def test_text_and_numbers_survive_the_rewrite_exactly() -> None:
    body = {**BODY, "temperature": 0.7, "messages": [{"role": "user", "content": "日本語 \U0001f600 \\u0000"}]}
    request = vertex_request(body, {}, "m@1", "my-project-1", "global", TABLE["vertex"])
    decoded = orjson.loads(request.body)
    assert decoded["temperature"] == 0.7 and decoded["messages"] == body["messages"]
