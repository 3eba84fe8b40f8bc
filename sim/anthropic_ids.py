"""Identifiers shaped like Anthropic's: ``msg_01…``, ``toolu_01…``, ``req_011C…`` and thinking signatures.

Deterministic (a keyed hash of a per-server counter) so a test run is reproducible, yet unique within
a server's lifetime, which is what the proxy's span/tool-id bookkeeping needs.
"""

from __future__ import annotations

import base64
import hashlib
import itertools

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base58(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 58)
        chars.append(_BASE58[rest])
    return "".join(chars)


class IdMinter:
    """Mints ids for one server. Not thread-safe: only the server's event loop calls it."""

    def __init__(self, seed: str = "switchyard-sim") -> None:
        self._key = hashlib.blake2b(seed.encode(), digest_size=32).digest()
        self._counter = itertools.count(1)

    def _token(self, kind: str, length: int) -> str:
        digest = hashlib.blake2b(f"{kind}:{next(self._counter)}".encode(), key=self._key, digest_size=24).digest()
        return _base58(digest, length)

    def message_id(self) -> str:
        return "msg_01" + self._token("msg", 22)

    def tool_use_id(self) -> str:
        return "toolu_01" + self._token("toolu", 22)

    def request_id(self) -> str:
        return "req_011C" + self._token("req", 20)


def thinking_signature(thinking: str, length_bytes: int = 240) -> str:
    """A base64 blob like the real (opaque, several hundred characters) thinking signature.

    Derived from the thinking text, so the same thinking always carries the same signature and a
    test can check that a block came back intact in the next request.
    """
    seed = hashlib.sha256(thinking.encode()).digest()
    # Real signatures start with a small protobuf-ish header ("Eq…" in base64); mimic the look.
    blob = bytearray(b"\x12\xa4\x02\x0a\x46\x08\x07\x18\x02")
    block = 0
    while len(blob) < length_bytes:
        blob += hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        block += 1
    return base64.b64encode(bytes(blob[:length_bytes])).decode("ascii")
