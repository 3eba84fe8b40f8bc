"""Bedrock Mantle on the fake Bedrock: the native Messages shape on AWS, signed for bedrock-mantle or with
a Bedrock API key, answered in Anthropic SSE."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sim.bedrock import FakeBedrock
from sim.bedrock_client import post_signed
from sim.fake_credentials import TEST_BEDROCK_API_KEY
from sim.provider_signatures import provider_signature
from tests.sim.wire import assemble, check_anthropic_order, parse_sse, simple_body

MESSAGES = "/anthropic/v1/messages"


def mantle_body(**fields: Any) -> dict[str, Any]:
    return simple_body("hello ✅", model="anthropic.claude-haiku-4-5", **fields)


def post(bedrock: FakeBedrock, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return post_signed(bedrock.base_url, MESSAGES, body, service="bedrock-mantle",
                       extra_headers={"anthropic-version": "2023-06-01", **(headers or {})})


def test_a_signed_messages_request_streams_anthropic_sse(bedrock: FakeBedrock) -> None:
    response = post(bedrock, mantle_body(thinking={"type": "enabled", "budget_tokens": 1024}))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.content)
    check_anthropic_order(events)
    message = assemble(events)
    assert message["model"] == "claude-haiku-4-5"
    thinking = message["content"][0]
    assert thinking["signature"] == provider_signature("bedrock", thinking["thinking"])
    assert bedrock.mantle_base_url + "/v1/messages" == bedrock.base_url + MESSAGES


def test_signed_for_the_runtime_service_is_refused(bedrock: FakeBedrock) -> None:
    response = post_signed(bedrock.base_url, MESSAGES, mantle_body())
    assert response.status_code == 403
    assert response.json()["message"] == "Credential should be scoped to correct service: 'bedrock-mantle'."


def test_a_bedrock_api_key_works_and_non_streaming_is_json(bedrock: FakeBedrock) -> None:
    response = httpx.post(bedrock.base_url + MESSAGES, json=mantle_body(stream=False),
                          headers={"authorization": f"Bearer {TEST_BEDROCK_API_KEY}"})
    assert response.status_code == 200 and response.json()["type"] == "message"


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (mantle_body(), {"anthropic-beta": "claude-code-20250219,mcp-servers-2025-12-04"},
         "Unexpected value(s) `mcp-servers-2025-12-04` for the `anthropic-beta` header. Please consult our "
         "documentation at docs.anthropic.com or try again without the header."),
        (mantle_body(tags=["a"]), {}, "tags: Extra inputs are not permitted"),
        ({k: v for k, v in mantle_body().items() if k != "model"}, {}, "model: Field required"),
        (mantle_body(context_management={"edits": []}), {}, "context_management: Extra inputs are not permitted"),
    ],
    ids=["unknown-beta", "tags", "no-model", "beta-gated-field"],
)
def test_refusals_in_anthropics_envelope(
    bedrock: FakeBedrock, body: dict[str, Any], headers: dict[str, str], message: str
) -> None:
    response = post(bedrock, body, headers)
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}


@pytest.mark.parametrize("spec", ["error-event:2", "exception:throttlingException:2"])
def test_mid_stream_errors_are_sse_error_events(bedrock: FakeBedrock, spec: str) -> None:
    bedrock.inject(spec)
    events = parse_sse(post(bedrock, mantle_body()).content)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "error"]


def test_throttling_and_too_long(bedrock: FakeBedrock) -> None:
    bedrock.inject("429")
    limited = post(bedrock, mantle_body())
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"
    bedrock.inject("too-long")
    too_long = post(bedrock, mantle_body())
    assert too_long.status_code == 400
    assert too_long.json()["error"]["message"].startswith("prompt is too long: ")
    assert too_long.json()["error"]["message"].endswith(" tokens > 200000 maximum")
