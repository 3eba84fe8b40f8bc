"""Anthropic's error shapes, byte-exact enough that Claude Code's recovery logic recognises them.

HTTP errors: ``{"type":"error","error":{"type":…,"message":…},"request_id":"req_…"}`` with the
``x-should-retry`` header the real API sets (true for 429/5xx/529, false for client errors) and,
on 429, a whole-seconds ``retry-after``. Mid-stream errors are an SSE ``error`` event.
"""

from __future__ import annotations

import time

import orjson

RATE_LIMIT_MESSAGE = (
    "This request would exceed your organization's rate limit. "
    "For details, refer to: https://docs.claude.com/en/api/rate-limits. "
    "You can see the response headers for current usage. Please reduce the prompt length or the "
    "maximum tokens requested, or try again later. You may also contact sales at "
    "https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."
)

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    404: ("not_found_error", "Not found"),
    405: ("invalid_request_error", "Method not allowed"),
    429: ("rate_limit_error", RATE_LIMIT_MESSAGE),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out while processing"),
    529: ("overloaded_error", "Overloaded"),
}


def error_type_for(status: int) -> str:
    return _ERRORS.get(status, ("api_error", ""))[0]


def error_body(status: int, request_id: str, message: str | None = None) -> bytes:
    error_type, default_message = _ERRORS.get(status, ("api_error", "Internal server error"))
    return orjson.dumps(
        {
            "type": "error",
            "error": {"type": error_type, "message": message or default_message},
            "request_id": request_id,
        }
    )


def error_headers(status: int, request_id: str, retry_after_s: int | None = None) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "request-id": request_id,
        "x-should-retry": "true" if status == 429 or status >= 500 else "false",
    }
    if status == 429:
        seconds = retry_after_s if retry_after_s is not None else 1
        headers["retry-after"] = str(seconds)
        headers["anthropic-ratelimit-unified-status"] = "rejected"
        headers["anthropic-ratelimit-unified-reset"] = str(int(time.time()) + seconds)
    return headers


def error_event(request_id: str, error_type: str = "overloaded_error", message: str = "Overloaded") -> bytes:
    payload = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
