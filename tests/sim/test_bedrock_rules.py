"""What the fake Bedrock refuses in a body, with the real service's words, and CountTokens."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import httpx
import orjson
import pytest

from sim.bedrock import FakeBedrock
from sim.bedrock_client import (
    HAIKU_FOUNDATION_MODEL,
    HAIKU_PROFILE,
    anthropic_events,
    decode_frames,
    invoke_body,
    model_path,
    post_signed,
)
from sim.bedrock_config import BedrockConfig
from sim.provider_capabilities import BEDROCK_CAPABILITIES
from sim.provider_signatures import provider_signature
from tests.sim.wire import simple_body

INVOKE = model_path(HAIKU_PROFILE, "invoke")


def body(**changes: Any) -> dict[str, Any]:
    result = invoke_body(simple_body("hello"))
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def refusal(bedrock: FakeBedrock, payload: dict[str, Any] | bytes, path: str = INVOKE, **kw: Any) -> str:
    response = post_signed(bedrock.base_url, path, payload, **kw)
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    return str(response.json()["message"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "claude-haiku-4-5"}, "Malformed input request: #: extraneous key [model] is not permitted, "
                                        "please reformat your input and try again."),
        ({"model": "m", "stream": True}, "Malformed input request: #: extraneous key [model] is not permitted, "
                                         "#: extraneous key [stream] is not permitted, please reformat your input "
                                         "and try again."),
        ({"tags": ["team:a"]}, "Malformed input request: #: extraneous key [tags] is not permitted, please "
                               "reformat your input and try again."),
        ({"anthropic_version": None}, "Malformed input request: #: required key [anthropic_version] not found, "
                                      "please reformat your input and try again."),
        ({"anthropic_version": "2023-06-01"}, "Malformed input request: #/anthropic_version: 2023-06-01 is not a "
                                              "valid enum value, please reformat your input and try again."),
        ({"anthropic_beta": ["claude-code-20250219", "per-turn-control-2026-07-01"]}, "invalid beta flag"),
        ({"context_management": {"edits": []}}, "context_management: Extra inputs are not permitted"),
        ({"tools": [{"name": "Read", "input_schema": {}}, {"name": "X", "input_schema": {}, "defer_loading": True}]},
         "tools.1.custom.defer_loading: Extra inputs are not permitted"),
    ],
    ids=["model", "model-and-stream", "tags", "no-version", "wrong-version", "unknown-beta", "beta-gated-field",
         "beta-gated-tool-field"],
)
def test_refusals_use_bedrocks_words(bedrock: FakeBedrock, changes: dict[str, Any], message: str) -> None:
    assert refusal(bedrock, body(**changes)) == message


def test_a_beta_unlocks_its_field_in_the_body_or_the_header(bedrock: FakeBedrock) -> None:
    gated = body(context_management={"edits": []})
    unlocked = {**gated, "anthropic_beta": ["context-management-2025-06-27"]}
    assert post_signed(bedrock.base_url, INVOKE, unlocked).status_code == 200
    header = {"anthropic-beta": "context-management-2025-06-27"}
    assert post_signed(bedrock.base_url, INVOKE, gated, extra_headers=header).status_code == 200
    assert refusal(bedrock, body(), extra_headers={"anthropic-beta": "mcp-servers-2025-12-04"}) == "invalid beta flag"


def test_capabilities_are_data_a_test_can_vary() -> None:
    newer = BEDROCK_CAPABILITIES.with_betas("per-turn-control-2026-07-01")
    config = BedrockConfig(capabilities=dataclasses.replace(newer, fields=newer.fields | {"tags"}))
    with FakeBedrock(config) as bedrock:
        accepted = body(anthropic_beta=["per-turn-control-2026-07-01"], tags=["x"])
        assert post_signed(bedrock.base_url, INVOKE, accepted).status_code == 200
    with FakeBedrock(BedrockConfig(capabilities=BEDROCK_CAPABILITIES.without_betas("claude-code-20250219"))) as bedrock:
        assert refusal(bedrock, body(anthropic_beta=["claude-code-20250219"])) == "invalid beta flag"


@pytest.mark.parametrize("model_id", ["gpt-4o", "anthropic.", "us.meta.llama3-70b"])
def test_an_unknown_model_id(bedrock: FakeBedrock, model_id: str) -> None:
    assert refusal(bedrock, body(), model_path(model_id, "invoke")) == "The provided model identifier is invalid."


def test_a_fixed_model_list() -> None:
    with FakeBedrock(BedrockConfig(models=(HAIKU_PROFILE,))) as bedrock:
        assert post_signed(bedrock.base_url, INVOKE, body()).status_code == 200
        other = model_path("global.anthropic.claude-opus-4-6-v1", "invoke")
        assert refusal(bedrock, body(), other) == "The provided model identifier is invalid."


def test_not_json(bedrock: FakeBedrock) -> None:
    assert refusal(bedrock, b"{not json").startswith("Malformed input request: ")


def test_input_too_long_is_word_for_word() -> None:
    with FakeBedrock(BedrockConfig(max_input_tokens=50)) as bedrock:
        assert post_signed(bedrock.base_url, INVOKE, body()).status_code == 200
        long = body(messages=[{"role": "user", "content": "x" * 400}])
        assert refusal(bedrock, long) == "Input is too long for requested model."


def _history_with_thinking(signature: str) -> dict[str, Any]:
    thought = "Earlier reasoning."
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": thought, "signature": signature},
                                          {"type": "text", "text": "Hello."}]},
        {"role": "user", "content": "go on"},
    ]
    return body(messages=history, thinking={"type": "enabled", "budget_tokens": 1024})


def test_thinking_from_another_provider_can_be_refused() -> None:
    thought = "Earlier reasoning."
    with FakeBedrock(BedrockConfig(reject_foreign_signatures=True)) as bedrock:
        foreign = _history_with_thinking(provider_signature("anthropic", thought))
        assert refusal(bedrock, foreign) == "messages.1.content.0: Invalid signature in thinking block"
        own = _history_with_thinking(provider_signature("bedrock", thought))
        assert post_signed(bedrock.base_url, INVOKE, own).status_code == 200
    with FakeBedrock() as bedrock:  # by default anything goes, as most fallbacks would wish
        assert post_signed(bedrock.base_url, INVOKE, foreign).status_code == 200


def _count_tokens_request(inner: dict[str, Any] | bytes) -> dict[str, Any]:
    raw = inner if isinstance(inner, bytes) else orjson.dumps(inner)
    return {"input": {"invokeModel": {"body": base64.b64encode(raw).decode()}}}


def test_count_tokens_answers_input_tokens(bedrock: FakeBedrock) -> None:
    path = model_path(HAIKU_FOUNDATION_MODEL, "count-tokens")
    small = post_signed(bedrock.base_url, path, _count_tokens_request(body()))
    large = post_signed(bedrock.base_url, path, _count_tokens_request(body(system="context " * 2000)))
    assert small.status_code == 200 and set(small.json()) == {"inputTokens"}
    assert 0 < small.json()["inputTokens"] < large.json()["inputTokens"]


def test_count_tokens_refuses_profiles_and_bad_bodies(bedrock: FakeBedrock) -> None:
    profile = model_path(HAIKU_PROFILE, "count-tokens")
    assert refusal(bedrock, _count_tokens_request(body()), profile) == (
        "The provided model doesn't support counting tokens.")
    path = model_path(HAIKU_FOUNDATION_MODEL, "count-tokens")
    assert "extraneous key [model]" in refusal(bedrock, _count_tokens_request(body(model="m")), path)
    not_base64 = {"input": {"invokeModel": {"body": "{\"messages\": []}"}}}
    assert "base64" in refusal(bedrock, not_base64, path)
    assert "invokeModel" in refusal(bedrock, {"input": {"converse": {"messages": []}}}, path)


def test_count_tokens_does_not_use_up_a_queued_fault(bedrock: FakeBedrock) -> None:
    bedrock.inject("429")
    path = model_path(HAIKU_FOUNDATION_MODEL, "count-tokens")
    assert post_signed(bedrock.base_url, path, _count_tokens_request(body())).status_code == 200
    assert post_signed(bedrock.base_url, INVOKE, body()).status_code == 429


def test_unknown_routes_are_aws_shaped(bedrock: FakeBedrock) -> None:
    response = httpx.get(bedrock.base_url + "/inference-profiles?type=SYSTEM_DEFINED")
    assert response.status_code == 404 and response.headers["x-amzn-ErrorType"].startswith("UnknownOperation")


def test_a_stream_refusal_is_a_plain_aws_error(bedrock: FakeBedrock) -> None:
    response = post_signed(bedrock.base_url, model_path(HAIKU_PROFILE), body(model="m"))
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    ok = post_signed(bedrock.base_url, model_path(HAIKU_PROFILE), body())
    assert anthropic_events(decode_frames(ok.content))[-1]["type"] == "message_stop"
