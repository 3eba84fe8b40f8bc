"""A tiny scripted Anthropic upstream for driving the real Claude Code CLI in tests.

It records every request exactly as received (method, path, query, raw headers, raw body) and
answers ``POST /v1/messages`` from a *responder*: a function from the parsed request body to the
content blocks of the reply. Replies stream as Anthropic SSE; each event is written in two parts cut
inside a multi-byte character when it has one, so a client that decodes chunks on their own breaks.

This is deliberately not ``sim/``: it is a few lines a test can read in full, for checking the
harness and the CLI's own behaviour with nothing in between.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.loopback import serve_in_thread

# A reply is a list of content blocks (see text_block, thinking_block, tool_use_block) plus the
# stop_reason; the responder sees the parsed request body.
Block = dict[str, Any]
Responder = Callable[[dict[str, Any]], tuple[list[Block], str]]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)


def text_block(*pieces: str, delay: float = 0.0) -> Block:
    """A text block streamed as one ``text_delta`` per piece, ``delay`` seconds apart."""
    return {"type": "text", "pieces": list(pieces), "delay": delay}


def thinking_block(thinking: str, signature: str) -> Block:
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def tool_use_block(tool_id: str, name: str, tool_input: dict[str, Any], fragment_chars: int = 7) -> Block:
    """A tool_use block whose input JSON streams as ``input_json_delta`` fragments."""
    raw = json.dumps(tool_input, ensure_ascii=False)
    fragments = [raw[i : i + fragment_chars] for i in range(0, len(raw), fragment_chars)]
    return {"type": "tool_use", "id": tool_id, "name": name, "fragments": fragments}


def has_tool_result(body: dict[str, Any]) -> bool:
    """True once any message carries a tool_result. Not "the last message": Claude Code interleaves
    ``role: system`` messages and may end the list with one (e.g. a token-budget note)."""
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list) and any(b.get("type") == "tool_result" for b in content):
            return True
    return False


def tool_loop(first: list[Block], final: list[Block]) -> Responder:
    """Answer with ``first`` (which should hold a tool_use) until a tool_result came back, then ``final``."""

    def respond(body: dict[str, Any]) -> tuple[list[Block], str]:
        if has_tool_result(body):
            return final, "end_turn"
        return first, "tool_use"

    return respond


def _sse(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


def _halves(event: bytes) -> list[bytes]:
    """Cut right after the first multi-byte lead byte, leaving the character's tail for the next write."""
    for index, byte in enumerate(event):
        if byte >= 0xC0:
            return [event[: index + 1], event[index + 1 :]]
    return [event]


def _stream(blocks: list[Block], stop_reason: str, model: str, message_id: str) -> Iterator[tuple[float, bytes]]:
    """(delay before write, bytes) for the whole message."""
    usage = {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    yield 0.0, _sse({"type": "message_start", "message": {
        "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}})
    yield 0.0, _sse({"type": "ping"})
    for index, block in enumerate(blocks):
        kind = block["type"]
        start: dict[str, Any]
        deltas: list[dict[str, Any]]
        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in block["pieces"]]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in block["fragments"]]
        yield 0.0, _sse({"type": "content_block_start", "index": index, "content_block": start})
        for delta in deltas:
            payload = {"type": "content_block_delta", "index": index, "delta": delta}
            yield block.get("delay", 0.0), _sse(payload)
        yield 0.0, _sse({"type": "content_block_stop", "index": index})
    yield 0.0, _sse({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                     "usage": {"output_tokens": 12}})
    yield 0.0, _sse({"type": "message_stop"})


@dataclass
class CaptureUpstream:
    """ASGI app; ``requests`` fills as the CLI talks to it (appends from the server thread)."""

    responder: Responder
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def messages_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"  # served with lifespan="off"
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        recorded = Recorded(
            scope["method"], scope["path"], scope["query_string"].decode("latin-1"),
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]], body,
        )
        with self._lock:
            self.requests.append(recorded)
            number = len(self.requests)

        if recorded.method == "POST" and recorded.path == "/v1/messages":
            request = recorded.json()
            blocks, stop_reason = self.responder(request)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream"), (b"request-id", b"req_capture")]})
            for delay, event in _stream(blocks, stop_reason, request.get("model", ""), f"msg_capture{number:04d}"):
                if delay:
                    await asyncio.sleep(delay)
                for part in _halves(event):
                    await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if recorded.path == "/v1/messages/count_tokens":
            status, payload = 200, {"input_tokens": 42}
        else:
            status, payload = 404, {"type": "error", "error": {"type": "not_found_error",
                                                                "message": f"no route {recorded.path}"}}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


@contextmanager
def capture_upstream(responder: Responder) -> Iterator[tuple[str, CaptureUpstream]]:
    """Serve a CaptureUpstream on loopback; yields (base_url, upstream)."""
    upstream = CaptureUpstream(responder)
    with serve_in_thread(upstream, lifespan="off") as base_url:
        yield base_url, upstream
