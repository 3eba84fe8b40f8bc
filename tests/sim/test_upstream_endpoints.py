"""Side endpoints: count_tokens, models, and Anthropic-shaped 404s for everything else."""

from __future__ import annotations

import httpx
import pytest

from sim.upstream import FakeUpstream
from tests.sim.wire import simple_body


def test_count_tokens_estimates_from_the_body_size(upstream: FakeUpstream) -> None:
    small = httpx.post(f"{upstream.base_url}/v1/messages/count_tokens?beta=true", json=simple_body("hi"))
    big = httpx.post(f"{upstream.base_url}/v1/messages/count_tokens", json=simple_body("hi " * 4000))
    assert small.status_code == 200 and set(small.json()) == {"input_tokens"}
    assert 1 <= small.json()["input_tokens"] < big.json()["input_tokens"]
    assert abs(big.json()["input_tokens"] - len(big.request.content) // 4) <= 1
    assert small.headers["request-id"].startswith("req_")


def test_count_tokens_rejects_a_body_without_messages(upstream: FakeUpstream) -> None:
    response = httpx.post(f"{upstream.base_url}/v1/messages/count_tokens", json={"model": "claude-opus-5-5"})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_models_list(upstream: FakeUpstream) -> None:
    listing = httpx.get(f"{upstream.base_url}/v1/models").json()
    ids = [model["id"] for model in listing["data"]]
    assert listing["has_more"] is False and listing["first_id"] == ids[0] and listing["last_id"] == ids[-1]
    for family in ("claude-opus-", "claude-sonnet-", "claude-haiku-"):
        assert any(model_id.startswith(family) for model_id in ids)
    for model in listing["data"]:
        assert set(model) == {"type", "id", "display_name", "created_at"} and model["type"] == "model"


def test_model_by_id(upstream: FakeUpstream) -> None:
    model = httpx.get(f"{upstream.base_url}/v1/models/claude-sonnet-4-5-20250929").json()
    assert model == {
        "type": "model",
        "id": "claude-sonnet-4-5-20250929",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
    }
    unknown = httpx.get(f"{upstream.base_url}/v1/models/gpt-4o")
    assert unknown.status_code == 404 and unknown.json()["error"] == {
        "type": "not_found_error",
        "message": "model: gpt-4o",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/messages/batches"), ("POST", "/v1/files"), ("GET", "/v1/messages"), ("DELETE", "/elsewhere")],
)
def test_anything_else_is_an_anthropic_404(upstream: FakeUpstream, method: str, path: str) -> None:
    response = httpx.request(method, f"{upstream.base_url}{path}")
    assert response.status_code == 404
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert body["request_id"] == response.headers["request-id"]
    assert upstream.requests[-1].path == path
