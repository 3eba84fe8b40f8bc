"""Raw-socket clients for the tests of what a server does before its application sees a request:
header limits, header deadlines, and refusing a body it will not read."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


def address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def exchange(base_url: str, head: bytes, timeout_s: float = 10.0) -> bytes:
    """Send ``head`` (a request line and headers, with the blank line), return all the server sent
    back until it closed the connection or ``timeout_s`` passed."""
    with socket.create_connection(address(base_url), timeout=timeout_s) as sock:
        sock.sendall(head)
        return _read_until_closed(sock, time.monotonic() + timeout_s)


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    received = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received


def status_of(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1."):
        return None
    return int(response.split(b" ", 2)[1])


@dataclass
class Trickle:
    answer: bytes
    closed_after_s: float  # from the first byte sent to the server closing the connection
    bytes_sent: int


def trickle(base_url: str, head: bytes, every_s: float, give_up_s: float) -> Trickle:
    """Send ``head`` one byte every ``every_s`` seconds (slowloris) until the server closes the
    connection or ``give_up_s`` passes."""
    start = time.monotonic()
    sent = 0
    with socket.create_connection(address(base_url), timeout=give_up_s) as sock:
        while time.monotonic() - start < give_up_s:
            ready, _, _ = select.select([sock], [], [], every_s)
            if ready:  # the server answered or closed: take what it sent
                answer = _read_until_closed(sock, time.monotonic() + 2)
                return Trickle(answer, time.monotonic() - start, sent)
            try:
                sock.sendall(head[sent % len(head):sent % len(head) + 1])
            except (BrokenPipeError, ConnectionResetError):
                return Trickle(b"", time.monotonic() - start, sent)
            sent += 1
    return Trickle(b"", float("inf"), sent)


@dataclass
class Upload:
    status: int | None
    answered_after_s: float
    bytes_sent: int


def chunked_upload(base_url: str, path: str, headers: dict[str, str], total_bytes: int,
                   chunk_bytes: int = 1 << 20, give_up_s: float = 30.0) -> Upload:
    """POST ``total_bytes`` with chunked transfer encoding, watching for an answer between chunks:
    a server that refuses without reading answers long before the upload would end."""
    head = f"POST {path} HTTP/1.1\r\nhost: gateway\r\ntransfer-encoding: chunked\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    chunk = f"{chunk_bytes:x}\r\n".encode() + b"x" * chunk_bytes + b"\r\n"
    start = time.monotonic()
    sent = 0
    with socket.create_connection(address(base_url), timeout=give_up_s) as sock:
        sock.sendall(head.encode())
        while sent < total_bytes and time.monotonic() - start < give_up_s:
            ready, writable, _ = select.select([sock], [sock], [], 1.0)
            if ready:
                break
            if writable:
                try:
                    sock.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += chunk_bytes
        else:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"0\r\n\r\n")
        select.select([sock], [], [], max(0.0, give_up_s - (time.monotonic() - start)))
        answered = time.monotonic() - start
        answer = _read_until_closed(sock, time.monotonic() + give_up_s)
    return Upload(status_of(answer), answered, sent)


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")
