"""The little HTTP the sign-in endpoints need, on plain ASGI (like the proxy they are served by):
bounded form bodies, JSON and HTML answers with the right headers, cookies, the client's address."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# Every form here is a handful of short fields; anything longer is not one of ours.
MAX_FORM_BYTES = 16 * 1024
NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


class BadRequest(Exception):
    """The request cannot be read (too large, not a form); ``status`` and a message say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def headers_of(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def query(scope: Scope) -> dict[str, str]:
    return _pairs(scope.get("query_string", b"").decode("latin-1"))


def _pairs(text: str) -> dict[str, str]:
    """The first value of each field; unknown fields are kept and ignored by the caller (RFC 6749 §3.2)."""
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace", max_num_fields=64):
        fields.setdefault(name, value)
    return fields


async def read_form(scope: Scope, receive: Receive) -> dict[str, str]:
    headers = headers_of(scope)
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise BadRequest(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            raise BadRequest(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
        if not message.get("more_body"):
            break
    if body and content_type != "application/x-www-form-urlencoded":
        raise BadRequest(415, "send the form as application/x-www-form-urlencoded")
    try:
        return _pairs(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(400, "the form is not valid UTF-8 form encoding") from error


def cookie(headers: dict[str, str], name: str) -> str | None:
    try:
        jar = SimpleCookie(headers.get("cookie", ""))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


async def respond(send: Send, status: int, body: bytes, content_type: bytes,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *NO_STORE,
               (b"x-content-type-options", b"nosniff"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def respond_json(send: Send, status: int, document: object,
                       extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await respond(send, status, json.dumps(document).encode(), b"application/json", extra)


async def oauth_error(send: Send, error: str, description: str = "", status: int = 400) -> None:
    """RFC 6749 §5.2's error shape (the OAuth endpoints' own; the bearer endpoints use Anthropic's)."""
    body: dict[str, str] = {"error": error}
    if description:
        body["error_description"] = description
    await respond_json(send, status, body)
