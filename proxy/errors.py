"""Errors the proxy makes itself, in Anthropic's error JSON shape so Claude Code shows a sensible
message and applies its usual retry rules. Upstream errors are never re-wrapped: they are relayed."""

from __future__ import annotations

import orjson

# Anthropic's error types and the status each one travels with.
STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class ProxyError(Exception):
    """A request the proxy answers itself. ``status`` defaults from the error type."""

    def __init__(self, error_type: str, message: str, status: int | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status or STATUS_OF_TYPE.get(error_type, 500)
        self.headers = headers or []
        if self.status in (401, 403) and not any(name == b"x-should-retry" for name, _ in self.headers):
            # Claude Code retries a 401/403 about ten times with back-off (two minutes that look like a
            # hang) unless told not to; a wrong key or a hard budget will not change on a retry.
            self.headers.append((b"x-should-retry", b"false"))


def error_body(error_type: str, message: str, request_id: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    )


class UpstreamFailure(ProxyError):
    """The upstream could not be reached, or failed, before any byte went to the client.
    ``kind`` is ``connect``, ``timeout`` or ``disconnect``: the fallback policy decides per kind."""

    def __init__(self, kind: str, message: str, status: int) -> None:
        super().__init__("api_error", message, status=status)
        self.kind = kind
