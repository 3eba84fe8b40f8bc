"""Bearer tokens for the control plane: which actor (or proxy) a presented token belongs to.

Tokens are compared as SHA-256 digests with ``hmac.compare_digest``, against every configured
token without stopping at a match, so the time taken says nothing about how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

MIN_TOKEN_CHARS = 16  # shorter tokens could be guessed: refused when the app is built


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class BearerTokens:
    """token → name; immutable once built."""

    __slots__ = ("_entries",)

    def __init__(self, names: Mapping[str, str]) -> None:
        for token, name in names.items():
            if len(token) < MIN_TOKEN_CHARS:  # the message names the owner, never the token
                raise ValueError(f"the token for {name!r} is shorter than {MIN_TOKEN_CHARS} characters")
            if not name.strip():
                raise ValueError("every token needs a name: the audit log records who acted")
        self._entries = tuple((_digest(token), name) for token, name in names.items())

    def __len__(self) -> int:
        return len(self._entries)

    def name_of(self, presented: str | None) -> str | None:
        """The name the token belongs to, or None."""
        if not presented:
            return None
        digest = _digest(presented)
        found: str | None = None
        for candidate, name in self._entries:
            if hmac.compare_digest(candidate, digest):
                found = name
        return found
