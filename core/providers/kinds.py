"""The provider kinds a policy target can name, and the facts about each one that are not a
capability: where its endpoint is, how its URLs are built, how it authenticates by default.

``anthropic`` is today's relay: bytes unchanged. ``bedrock`` is the Bedrock runtime's
InvokeModel API (its own body and URL shape, the AWS event-stream back). ``bedrock-mantle`` serves
the Messages API itself on AWS (no translation; a different host and signer). ``vertex`` is Vertex
AI's rawPredict (its own body and URL shape, Anthropic SSE back)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

Provider = Literal["anthropic", "bedrock", "bedrock-mantle", "vertex"]
PROVIDERS: tuple[Provider, ...] = ("anthropic", "bedrock", "bedrock-mantle", "vertex")
Auth = Literal["x-api-key", "bearer", "aws", "google"]

# How a target authenticates when its policy does not say: a provider key in x-api-key for
# Anthropic; the AWS credential chain (SigV4) for Bedrock; Application Default Credentials for Vertex.
DEFAULT_AUTH: dict[str, Auth] = {"anthropic": "x-api-key", "bedrock": "aws", "bedrock-mantle": "aws",
                                 "vertex": "google"}
# The auth styles each provider accepts. ``bearer`` with a named provider key is a Bedrock API key
# (AWS_BEARER_TOKEN_BEDROCK) or a Vertex access token held as a secret.
ALLOWED_AUTH: dict[str, frozenset[str]] = {
    "anthropic": frozenset({"x-api-key", "bearer"}),
    "bedrock": frozenset({"aws", "bearer"}),
    "bedrock-mantle": frozenset({"aws", "bearer"}),
    "vertex": frozenset({"google", "bearer"}),
}
# SigV4 service names
SIGNING_NAME = {"bedrock": "bedrock", "bedrock-mantle": "bedrock-mantle"}
# Fields a target of each provider must name (the policy validator reports the missing ones).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "anthropic": (),
    "bedrock": ("region", "model"),
    "bedrock-mantle": ("region", "model"),
    "vertex": ("region", "project", "model"),
}
BEDROCK_VERSION = "bedrock-2023-05-31"
VERTEX_VERSION = "vertex-2023-10-16"


def default_base_url(provider: str, region: str | None) -> str | None:
    """The provider's public endpoint for ``region`` (a target's ``base_url`` overrides it)."""
    if region is None:
        return "https://api.anthropic.com" if provider == "anthropic" else None
    if provider == "bedrock":
        return f"https://bedrock-runtime.{region}.amazonaws.com"
    if provider == "bedrock-mantle":
        return f"https://bedrock-mantle.{region}.api.aws/anthropic"
    if provider == "vertex":
        return "https://aiplatform.googleapis.com" if region == "global" else f"https://{region}-aiplatform.googleapis.com"
    return "https://api.anthropic.com"


def bedrock_path(model: str, *, stream: bool) -> str:
    """InvokeModel's path; the model id (an inference profile such as
    ``us.anthropic.claude-haiku-4-5-20251001-v1:0``, or an ARN) is one URL-encoded segment."""
    action = "invoke-with-response-stream" if stream else "invoke"
    return f"/model/{quote(model, safe='')}/{action}"


def bedrock_count_tokens_path(model: str) -> str:
    return f"/model/{quote(model, safe='')}/count-tokens"


def vertex_path(project: str, region: str, model: str, *, stream: bool) -> str:
    action = "streamRawPredict" if stream else "rawPredict"
    return (f"/v1/projects/{quote(project, safe='')}/locations/{quote(region, safe='')}"
            f"/publishers/anthropic/models/{quote(model, safe='@')}:{action}")


def vertex_count_tokens_path(project: str, region: str) -> str:
    return (f"/v1/projects/{quote(project, safe='')}/locations/{quote(region, safe='')}"
            "/publishers/anthropic/models/count-tokens:rawPredict")
