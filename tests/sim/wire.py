"""Reading the fake upstream's answers off the wire, independently of the code under test.

A raw-socket HTTP/1.1 client that keeps every ``recv()`` and every HTTP chunk as it arrived, a strict
SSE parser, and the Anthropic event-order check (a small state machine).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawExchange:
    recvs: list[bytes]
    reset: bool = False
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    finished: bool = False  # the terminating zero-length chunk arrived

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def http_request(path: str, body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {"content-type": "application/json"}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _parse_chunked(exchange: RawExchange, data: bytes) -> None:
    while True:
        line_end = data.find(b"\r\n")
        if line_end < 0:
            return
        size = int(data[:line_end], 16)
        if size == 0:
            exchange.finished = True
            return
        start = line_end + 2
        if len(data) < start + size + 2:
            return
        exchange.chunks.append(data[start : start + size])
        assert data[start + size : start + size + 2] == b"\r\n"
        data = data[start + size + 2 :]


def exchange(port: int, request: bytes, *, recv_size: int = 65536, timeout_s: float = 10.0) -> RawExchange:
    """Send one request on a fresh connection and read until the server closes it."""
    result = RawExchange(recvs=[])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        while True:
            try:
                data = sock.recv(recv_size)
            except ConnectionResetError:
                result.reset = True
                break
            if not data:
                break
            result.recvs.append(data)
    raw = b"".join(result.recvs)
    head, separator, rest = raw.partition(b"\r\n\r\n")
    if not separator:
        return result
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    result.status = int(status_line.split()[1])
    result.headers = [tuple(line.split(": ", 1)) for line in header_lines]  # type: ignore[misc]
    if (result.header("transfer-encoding") or "").lower() == "chunked":
        _parse_chunked(result, rest)
    else:
        result.chunks = [rest]
        result.finished = len(rest) == int(result.header("content-length") or len(rest))
    return result


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Strict: every record is exactly ``event: X`` + ``data: {json}`` whose type is X."""
    assert raw.endswith(b"\n\n"), raw[-80:]
    events = []
    for record in raw[:-2].split(b"\n\n"):
        event_line, data_line = record.split(b"\n")
        assert event_line.startswith(b"event: ") and data_line.startswith(b"data: "), record
        name = event_line[len(b"event: ") :].decode()
        data = json.loads(data_line[len(b"data: ") :].decode("utf-8"))
        assert data["type"] == name, record
        events.append((name, data))
    return events


def check_anthropic_order(events: list[tuple[str, dict[str, Any]]]) -> None:
    """message_start; blocks (start, deltas, stop; indices 0, 1, …); message_delta; message_stop; pings anywhere."""
    names = [name for name, _ in events if name != "ping"]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    open_index: int | None = None
    next_index = 0
    for name, data in events[1:-2]:
        if name == "ping":
            continue
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index
            open_index = next_index
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index, next_index = None, next_index + 1
        else:
            raise AssertionError(f"unexpected {name} inside the message")
    assert open_index is None and next_index >= 1
    assert any(name == "ping" for name, _ in events)


def assemble(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The final message, accumulated from the events the way Anthropic's SDKs do."""
    message = dict(events[0][1]["message"])
    message["content"] = []
    partial_json: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] += delta["signature"]
            elif kind == "input_json_delta":
                partial_json[data["index"]] = partial_json.get(data["index"], "") + delta["partial_json"]
        elif name == "content_block_stop" and data["index"] in partial_json:
            message["content"][data["index"]]["input"] = json.loads(partial_json[data["index"]])
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"] = {**message["usage"], **data["usage"]}
    return message


def post_messages(port: int, body: dict[str, Any], headers: dict[str, str] | None = None, **kwargs: Any) -> RawExchange:
    """POST /v1/messages?beta=true over a raw socket, compact UTF-8 JSON as Claude Code sends it."""
    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    all_headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", **(headers or {})}
    return exchange(port, http_request("/v1/messages?beta=true", encoded, all_headers), **kwargs)


def simple_body(text: str = "hello", **fields: Any) -> dict[str, Any]:
    return {
        "model": "claude-opus-5-5",
        "max_tokens": 4096,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        **fields,
    }
