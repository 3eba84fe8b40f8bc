"""A Messages API request, made into what another provider of Claude takes: the body rewritten
minimally (the version field, the model moved into the URL, Bedrock's betas into the body), what the
provider would reject dropped (capabilities.py), everything else passed on as it came.

Pure: the proxy's upstream seam (proxy/providers/) adds the host, the credentials and the I/O."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from .capabilities import Capabilities, fit, split_betas
from .kinds import (
    BEDROCK_VERSION,
    VERTEX_VERSION,
    bedrock_count_tokens_path,
    bedrock_path,
    vertex_count_tokens_path,
    vertex_path,
)

# Headers a provider other than Anthropic is sent: the rest of Claude Code's headers are Anthropic's
# (anthropic-version and -beta move into the body or are re-made here; x-app, x-claude-code-*, the
# Stainless headers mean nothing there, and each header SigV4 signs costs time on every request).
_PASSED_TO_MANTLE = ("anthropic-version", "user-agent")


class NotSupported(ValueError):
    """A call the provider has no equivalent for (the protocol's 501 ``not_supported``)."""


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    path: str  # appended to the target's base URL
    body: bytes
    headers: tuple[tuple[str, str], ...]
    stream: bool
    dropped: tuple[str, ...] = ()  # capability labels (capabilities.fit)


def _json(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


def foundation_model(model: str) -> str:
    """``us.anthropic.claude-…-v1:0`` (an inference profile) → ``anthropic.claude-…-v1:0``."""
    head, dot, rest = model.partition(".")
    return rest if dot and rest.startswith("anthropic.") and "/" not in head else model


def bedrock_request(parsed: dict[str, Any], client_headers: dict[str, str], model: str,
                    capabilities: Capabilities, *, count_tokens: bool = False) -> ProviderRequest:
    """InvokeModel (or CountTokens): no ``model`` or ``stream`` in the body (they are in the URL),
    ``anthropic_version: bedrock-2023-05-31``, the betas in the body's ``anthropic_beta``."""
    body = dict(parsed)
    stream = body.pop("stream", False) is True
    body.pop("model", None)
    body["anthropic_version"] = BEDROCK_VERSION
    betas, dropped = fit(capabilities, split_betas(client_headers.get("anthropic-beta")), body)
    body.pop("anthropic_beta", None)
    if betas:
        body["anthropic_beta"] = betas
    if count_tokens:
        # CountTokens takes the InvokeModel body base64-encoded, and a foundation-model id: it refuses
        # inference profiles ("us.anthropic.…" counts as "anthropic.…")
        invoke = _json({**body, "max_tokens": body.get("max_tokens", 1)})
        wrapped = {"input": {"invokeModel": {"body": base64.b64encode(invoke).decode()}}}
        return ProviderRequest(bedrock_count_tokens_path(foundation_model(model)), _json(wrapped),
                               (("content-type", "application/json"), ("accept", "application/json")), False,
                               tuple(dropped))
    accept = "application/vnd.amazon.eventstream" if stream else "application/json"
    return ProviderRequest(bedrock_path(model, stream=stream), _json(body),
                           (("content-type", "application/json"), ("accept", accept)), stream, tuple(dropped))


def vertex_request(parsed: dict[str, Any], client_headers: dict[str, str], model: str, project: str, region: str,
                   capabilities: Capabilities, *, count_tokens: bool = False) -> ProviderRequest:
    """rawPredict / streamRawPredict: the model in the URL, ``anthropic_version: vertex-2023-10-16``
    in the body, the betas in the ``anthropic-beta`` header as Anthropic takes them."""
    body = dict(parsed)
    stream = body.get("stream") is True
    body.pop("model", None)
    body.setdefault("anthropic_version", VERTEX_VERSION)
    betas, dropped = fit(capabilities, split_betas(client_headers.get("anthropic-beta")), body)
    headers = [("content-type", "application/json")]
    if betas:
        headers.append(("anthropic-beta", ",".join(betas)))
    if count_tokens:
        body.pop("anthropic_version", None)
        body.pop("stream", None)
        body["model"] = model  # count-tokens names the model in the body, not the URL
        return ProviderRequest(vertex_count_tokens_path(project, region), _json(body), tuple(headers), False,
                               tuple(dropped))
    return ProviderRequest(vertex_path(project, region, model, stream=stream), _json(body), tuple(headers), stream,
                           tuple(dropped))


def mantle_request(parsed: dict[str, Any], client_headers: dict[str, str], model: str,
                   capabilities: Capabilities, *, count_tokens: bool = False) -> ProviderRequest:
    """Bedrock Mantle serves the Messages API itself: only the model id (Bedrock's) and what the
    table drops change."""
    if count_tokens:
        raise NotSupported("Bedrock Mantle has no count_tokens endpoint")
    body = {**parsed, "model": model}
    betas, dropped = fit(capabilities, split_betas(client_headers.get("anthropic-beta")), body)
    headers = [("content-type", "application/json")]
    headers += [(name, client_headers[name]) for name in _PASSED_TO_MANTLE if name in client_headers]
    if "anthropic-version" not in client_headers:
        headers.append(("anthropic-version", "2023-06-01"))
    if betas:
        headers.append(("anthropic-beta", ",".join(betas)))
    return ProviderRequest("/v1/messages", _json(body), tuple(headers), body.get("stream") is True, tuple(dropped))
