"""Which headers cross the proxy, in each direction.

Everything is forwarded verbatim (``anthropic-*`` and ``x-claude-code-*`` are open lists) except:
hop-by-hop headers, which belong to one connection; the client's credential, replaced by the
target's provider key; ``accept-encoding``, because the proxy asks the upstream for identity
encoding so its SSE tap can read the stream; switchyard's own ``x-switchyard-*`` headers; and a
fronting gateway's ``x-claude-gateway-user-*`` (who the developer is: read here, not the provider's).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.fronting import ASSERTION_HEADERS

HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    }
)
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding", *ASSERTION_HEADERS}
_CREDENTIALS = frozenset({"x-api-key", "authorization"})
_OWN_PREFIX = "x-switchyard-"


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Header names the ``Connection`` header marks as hop-by-hop for this hop."""
    tokens: set[str] = set()
    for name, value in headers:
        if name == "connection":
            tokens.update(t.strip().lower() for t in value.split(","))
    return tokens


def upstream_request_headers(
    client_headers: list[tuple[str, str]], credential: tuple[str, str] | None
) -> list[tuple[str, str]]:
    """Headers for the upstream request. ``client_headers`` have lower-case names. With
    ``credential`` None (pass-through mode) the client's own credential is forwarded."""
    dropped = _NOT_FORWARDED | _connection_tokens(client_headers)
    if credential is not None:
        dropped = dropped | _CREDENTIALS
    out = [(n, v) for n, v in client_headers if n not in dropped and not n.startswith(_OWN_PREFIX)]
    if credential is not None:
        out.append(credential)
    out.append(("accept-encoding", "identity"))
    return out


def client_response_headers(upstream_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Upstream response headers to relay, names lower-cased (ASGI), hop-by-hop ones dropped.
    ``content-length`` is kept: the body bytes are relayed unchanged."""
    pairs = [(n.lower(), v) for n, v in upstream_headers]
    dropped = {n.encode() for n in HOP_BY_HOP} | {
        t.encode() for t in _connection_tokens((n.decode("latin-1"), v.decode("latin-1")) for n, v in pairs)
    }
    return [(n, v) for n, v in pairs if n not in dropped]


def credential_for(api_key: str, auth_style: str) -> tuple[str, str]:
    if auth_style == "bearer":
        return ("authorization", f"Bearer {api_key}")
    return ("x-api-key", api_key)


def presented_key(headers: dict[str, str]) -> str | None:
    """The key the client presented: ``x-api-key`` (ANTHROPIC_API_KEY) or ``Authorization: Bearer``
    (ANTHROPIC_AUTH_TOKEN)."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
