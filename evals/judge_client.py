"""The judge's HTTP side: POST /v1/messages on an Anthropic-compatible endpoint (Anthropic itself,
or switchyard's own proxy with a virtual key), non-streaming. Built by the CLI/runner only when the
judge is switched on."""

from __future__ import annotations

from typing import Any

import httpx

from evals.judge import Complete, JudgeUnavailableError

ANTHROPIC_VERSION = "2023-06-01"


def anthropic_completer(base_url: str, api_key: str | None, *, timeout_s: float = 60.0,
                        transport: httpx.BaseTransport | None = None) -> tuple[Complete, httpx.Client]:
    """A ``complete`` function for :class:`evals.judge.LLMJudgeEvaluator` and the client behind it
    (close it when done)."""
    headers = {"anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport)

    def complete(body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = client.post("/v1/messages", json={**body, "stream": False})
        except httpx.HTTPError as error:
            raise JudgeUnavailableError(f"judge endpoint unreachable: {error}") from error
        if response.status_code != 200:
            raise JudgeUnavailableError(f"judge endpoint answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            message: dict[str, Any] = response.json()
        except ValueError as error:
            raise JudgeUnavailableError("judge endpoint answered something that is not JSON") from error
        return message

    return complete, client
