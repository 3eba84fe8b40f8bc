"""Where to go after signing in: only a path on this site. Anything a browser could read as another
host, or normalise into one, sends the user to ``/`` instead: ``//evil``, ``/\\evil``, schemes,
percent-encoded slashes, backslashes and dots (``/%2f%2fevil``, ``/%5cevil``, ``/%2e%2e/``), dot and
empty segments, and whitespace or control characters anywhere (browsers drop a tab or newline from
``/\\t/evil``, which leaves ``//evil``)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

_MAX_LENGTH = 2_000
_DECODE_ROUNDS = 3  # %252f is %2f after one round: decode until stable (or refuse)


def _fully_decoded(text: str) -> str | None:
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    return None


def _plain(text: str) -> bool:
    return not any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in text) and "\\" not in text


def safe_next(target: str) -> str:
    """``target`` if it is a same-site path (with its query), else ``/``."""
    if not target.startswith("/") or len(target) > _MAX_LENGTH or not _plain(target):
        return "/"
    parts = urlsplit(target)
    path = _fully_decoded(parts.path)
    if parts.scheme or parts.netloc or path is None or not _plain(path):
        return "/"
    segments = path.split("/")[1:]
    if any(segment in {"", ".", ".."} for segment in segments[:-1]) or segments[-1] in {".", ".."}:
        return "/"
    return target
