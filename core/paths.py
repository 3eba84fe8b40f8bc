"""Which request paths the proxy forwards: only the canonical spelling of each.

A path is canonical when no upstream, CDN or framework could read it as a different path: no empty
segments (``//``, a trailing ``/``), no dot segments, no path parameters (``;``), no backslashes, no
percent-encoded ``.``, ``/``, ``\\``, ``;`` or ``%``, no control or non-ASCII bytes, and the known
endpoints in their one spelling (``/v1/Messages`` is refused, not forwarded). Anything else is
refused before it can reach an upstream, so ``/v1/./messages`` can never be a turn the budget and
the spans did not see, and ``/v1/../admin`` can never leave ``/v1/``.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
# What an escape may decode to: only bytes that must be escaped. Unreserved characters are refused
# (RFC 3986 normalisers decode them: ``/v1/mess%61ges`` is ``/v1/messages`` to them), and so are
# ``.``, ``/``, ``\``, ``;``, ``%`` and control bytes, which some normaliser treats as structure.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_STRUCTURAL = frozenset(b"/\\;%") | frozenset(range(0x20)) | {0x7F}
# RFC 3986 pchar without ";" (path parameters) and with "%" only as part of an escape.
_PLAIN = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=:@%]*")
MAX_SHOWN = 120


def path_problem(raw_path: str, known: frozenset[str]) -> str | None:
    """Why ``raw_path`` (as sent, still percent-encoded, without the query) is not canonical, or
    None when it is. ``known`` are the endpoints whose case variants are refused too."""
    if not raw_path.startswith("/"):
        return "it does not start with /"
    segments = raw_path[1:].split("/")
    for segment in segments:
        if segment == "":
            return "it has an empty segment (// or a trailing /)"
        if segment in (".", ".."):
            return "it has a dot segment"
        if not _PLAIN.fullmatch(segment):
            return "it has a character that is not allowed in a path here (;, \\, a space, a control or non-ASCII byte)"
        if "%" in segment:
            escapes = _ESCAPE.findall(segment)
            if segment.count("%") != len(escapes):
                return "it has a malformed percent-escape"
            if any(int(e[1:], 16) in _UNRESERVED or int(e[1:], 16) in _STRUCTURAL for e in escapes):
                return "it percent-encodes a letter, digit, -, ., _, ~, /, \\, ;, % or a control character"
    lowered = raw_path.lower()
    if lowered != raw_path and lowered in known:
        return f"the endpoint is spelled {lowered}"
    return None


def shown(raw_path: str) -> str:
    """The path as an error message may quote it: bounded, printable."""
    printable = raw_path.encode("ascii", "backslashreplace").decode("ascii")
    printable = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in printable)
    return printable if len(printable) <= MAX_SHOWN else printable[:MAX_SHOWN] + "…"
