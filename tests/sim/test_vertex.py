"""The fake Vertex AI: Google's front door (token, URL shape) and Claude's checks, in their own words;
the answer is exactly the fake Anthropic's SSE."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sim.fake_credentials import TEST_VERTEX_ACCESS_TOKEN
from sim.provider_signatures import provider_signature
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from sim.vertex import FakeVertex
from sim.vertex_config import VertexConfig
from tests.sim.wire import assemble, check_anthropic_order, parse_sse, post_messages, simple_body

MODEL = "claude-haiku-4-5@20251001"
AUTH = {"authorization": f"Bearer {TEST_VERTEX_ACCESS_TOKEN}"}


def vertex_body(**fields: Any) -> dict[str, Any]:
    body = {k: v for k, v in simple_body("hello ✅").items() if k != "model"}
    body["anthropic_version"] = "vertex-2023-10-16"
    for key, value in fields.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, json=body, headers={**AUTH, **(headers or {})}, timeout=10)


def google_error(response: httpx.Response, code: int, status: str) -> str:
    assert response.status_code == code, response.text
    document = response.json()
    error = (document[0] if isinstance(document, list) else document)["error"]
    assert error["code"] == code and error["status"] == status
    return str(error["message"])


def claude_error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    document = response.json()
    assert document["type"] == "error" and document["request_id"].startswith("req_vrtx_011C")
    assert document["error"]["type"] == "invalid_request_error"
    return str(document["error"]["message"])


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer ya29.wrong"}, {"x-goog-api-key": "k"}],
                         ids=["none", "wrong-token", "api-key"])
def test_a_missing_or_wrong_token_is_googles_401(vertex: FakeVertex, headers: dict[str, str]) -> None:
    response = httpx.post(vertex.predict_url(MODEL), json=vertex_body(), headers=headers)
    message = google_error(response, 401, "UNAUTHENTICATED")
    assert message.startswith("Request had invalid authentication credentials. Expected OAuth 2 access token")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert vertex.requests[-1].header("x-goog-api-key") != "k"  # credentials never recorded as sent


def test_the_url_names_the_project_region_and_model(vertex: FakeVertex) -> None:
    good = vertex.predict_url(MODEL)
    assert post(good, vertex_body()).status_code == 200
    project = google_error(post(good.replace("/switchyard-test/", "/other-project/"), vertex_body()), 403,
                           "PERMISSION_DENIED")
    assert project.startswith("Permission 'aiplatform.endpoints.predict' denied on resource")
    for wrong in (good.replace("/us-east5/", "/europe-west1/"), good.replace(MODEL, "gemini-2.5-pro"),
                  good.replace("/publishers/anthropic/", "/publishers/google/")):
        message = google_error(post(wrong, vertex_body()), 404, "NOT_FOUND")
        assert message.startswith("Publisher Model `projects/") and "was not found" in message
    assert post(good.replace(":streamRawPredict", ":predict"), vertex_body()).status_code == 404
    assert httpx.post(vertex.base_url + "/v1/messages", json=vertex_body(), headers=AUTH).status_code == 404


def test_a_fixed_model_list() -> None:
    with FakeVertex(VertexConfig(models=("claude-opus-4-6",))) as vertex:
        assert post(vertex.predict_url("claude-opus-4-6"), vertex_body()).status_code == 200
        assert post(vertex.predict_url(MODEL), vertex_body()).status_code == 404


@pytest.mark.parametrize(
    ("fields", "headers", "message"),
    [
        ({"model": MODEL}, {}, "model: Extra inputs are not permitted"),
        ({"anthropic_version": None}, {}, "anthropic_version: Field required"),
        ({"anthropic_version": "bedrock-2023-05-31"}, {}, "anthropic_version: Input should be 'vertex-2023-10-16'"),
        ({"tags": ["a"]}, {}, "tags: Extra inputs are not permitted"),
        ({"context_management": {"edits": []}}, {}, "context_management: Extra inputs are not permitted"),
        ({}, {"anthropic-beta": "claude-code-20250219,web-search-2025-03-05,per-turn-control-2026-07-01"},
         "Unexpected value(s) `web-search-2025-03-05`, `per-turn-control-2026-07-01` for the `anthropic-beta` "
         "header. Please consult our documentation at docs.anthropic.com or try again without the header."),
    ],
    ids=["model", "no-version", "wrong-version", "tags", "beta-gated-field", "unknown-betas"],
)
def test_claudes_refusals(vertex: FakeVertex, fields: dict[str, Any], headers: dict[str, str], message: str) -> None:
    assert claude_error(post(vertex.predict_url(MODEL), vertex_body(**fields), headers)) == message


def test_a_beta_in_the_header_unlocks_its_field(vertex: FakeVertex) -> None:
    body = vertex_body(context_management={"edits": []})
    response = post(vertex.predict_url(MODEL), body, {"anthropic-beta": "context-management-2025-06-27"})
    assert response.status_code == 200


def test_the_stream_is_exactly_the_fake_anthropics() -> None:
    body = simple_body("Write ✅ [[sim:write /tmp/v.txt 日本]]", thinking={"type": "enabled", "budget_tokens": 2048},
                       tools=[{"name": "Write", "input_schema": {"type": "object"}}])
    with FakeUpstream(UpstreamConfig(text_deltas=5)) as upstream:
        anthropic = parse_sse(post_messages(upstream.port, body).body)
    vertex_shaped = {**{k: v for k, v in body.items() if k != "model"}, "anthropic_version": "vertex-2023-10-16"}
    with FakeVertex(VertexConfig(pacing=UpstreamConfig(text_deltas=5))) as vertex:
        response = post(vertex.predict_url(MODEL), vertex_shaped)
    events = parse_sse(response.content)
    check_anthropic_order(events)
    assert [name for name, _ in events] == [name for name, _ in anthropic]
    mine, theirs = assemble(events), assemble(anthropic)
    assert mine["id"].startswith("msg_vrtx_01") and mine["model"] == "claude-haiku-4-5-20251001"
    thinking, text, tool = mine["content"]
    assert thinking["signature"] == provider_signature("vertex", thinking["thinking"])
    assert (text, tool["name"], tool["input"]) == (theirs["content"][1], "Write",
                                                   {"file_path": "/tmp/v.txt", "content": "日本"})
    assert mine["stop_reason"] == theirs["stop_reason"] == "tool_use"


def test_raw_predict_answers_json(vertex: FakeVertex) -> None:
    response = post(vertex.predict_url(MODEL, stream=False), vertex_body(stream=False))
    assert response.status_code == 200 and response.json()["type"] == "message"


def test_count_tokens(vertex: FakeVertex) -> None:
    body = {"model": MODEL, "anthropic_version": "vertex-2023-10-16",
            "messages": [{"role": "user", "content": "hello"}]}
    small = post(vertex.count_tokens_url, body)
    large = post(vertex.count_tokens_url, {**body, "system": "context " * 2000})
    assert small.status_code == 200 and set(small.json()) == {"input_tokens"}
    assert 0 < small.json()["input_tokens"] < large.json()["input_tokens"]
    assert claude_error(post(vertex.count_tokens_url, {"messages": []})) == "model: Field required"
    assert post(vertex.count_tokens_url.replace(":rawPredict", ":streamRawPredict"), body).status_code == 404


def test_foreign_thinking_and_too_long() -> None:
    thought = "Earlier reasoning."
    history = [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": [{"type": "thinking", "thinking": thought,
                                                  "signature": provider_signature("bedrock", thought)}]},
               {"role": "user", "content": "go on"}]
    with FakeVertex(VertexConfig(reject_foreign_signatures=True, max_input_tokens=400)) as vertex:
        url = vertex.predict_url(MODEL)
        assert claude_error(post(url, vertex_body(messages=history))) == (
            "messages.1.content.0: Invalid `signature` in `thinking` block")
        message = claude_error(post(url, vertex_body(system="x" * 4000)))
        assert message.startswith("prompt is too long: ") and message.endswith(" tokens > 400 maximum")
