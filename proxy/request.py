"""Reading the client's request: the body within its limit, JSON when the route needs it, and the
model rewrite a routing decision may ask for."""

from __future__ import annotations

import os

import orjson

from .asgi import Message, Receive
from .errors import ProxyError


class ClientGone(Exception):
    """The client disconnected before the request was complete."""


def request_id() -> str:
    return "req_sy_" + os.urandom(12).hex()


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProxyError("request_too_large", f"request body exceeds the gateway's limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProxyError("request_too_large", f"request body exceeds the gateway's limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_json(body: bytes) -> dict[str, object]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProxyError("invalid_request_error", f"request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ProxyError("invalid_request_error", "request body must be a JSON object")
    # Only the fields the gateway itself reads are type-checked; every other field is forwarded
    # untouched for the upstream to judge (body fields are an open list).
    for field, kind, described in _CHECKED_FIELDS:
        if field in parsed and not isinstance(parsed[field], kind):
            raise ProxyError("invalid_request_error", f"{field}: must be {described}")
    return parsed


_CHECKED_FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("model", str, "a string"),
    ("messages", list, "a list"),
    ("stream", bool, "a boolean"),
    ("tools", list, "a list"),
)


def with_model(body: bytes, parsed: dict[str, object] | None, model: str | None) -> bytes:
    """The body to send when routing asks for ``model``: unchanged bytes when there is nothing to
    rewrite, else the same document with only ``model`` replaced (key order kept)."""
    if model is None or parsed is None or parsed.get("model") == model:
        return body
    return orjson.dumps({**parsed, "model": model})


def closing(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """``connection: close`` when the request has a body the proxy refuses to read: the server then
    stops reading it instead of draining a 60 MB upload from a caller it has already refused."""
    declared = headers.get("content-length")
    if "transfer-encoding" in headers or (declared is not None and declared.strip() not in ("", "0")):
        return [(b"connection", b"close")]
    return []
