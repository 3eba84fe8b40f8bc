"""AWS Signature Version 4 for one request, computed exactly as botocore's ``SigV4Auth`` computes it.

botocore stays the source of AWS credentials (its standard chain) and the judge of this module:
tests/core/providers/test_sigv4.py holds every signature here to botocore's own signer on random
requests, and the fake Bedrock verifies each signature it receives with botocore. The signer is
written out because botocore's builds ``email.message`` header objects and re-parses the URL several
times a request: 0.19 ms a request on a quiet core against ~0.03 ms here, the largest single part of
what the Bedrock path cost beyond the Anthropic path (bench/README.md, provider_path.py).

Pure: the caller passes the clock's reading and the credentials' three strings."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote

from botocore.utils import normalize_url_path

# botocore's SIGNED_HEADERS_BLACKLIST: headers a proxy on the way may change, so never signed
_UNSIGNED = frozenset({"baggage", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
                       "te", "traceparent", "tracestate", "trailer", "transfer-encoding", "upgrade", "user-agent",
                       "x-amzn-trace-id"})
_ALGORITHM = "AWS4-HMAC-SHA256"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    return _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")


def sign(*, method: str, host: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes,
         access_key: str, secret_key: str, token: str | None, service: str, region: str,
         now: datetime) -> list[tuple[str, str]]:
    """``headers`` plus ``X-Amz-Date``, ``X-Amz-Security-Token`` (with a session token) and
    ``Authorization``. ``host`` as the request's Host header will read (lower case, the port only
    when it is not the scheme's default), ``path`` and ``query`` as sent on the wire (percent-encoded);
    ``now`` in UTC. No ``Date`` header: botocore would sign that in place of ``X-Amz-Date``."""
    stamp = now.strftime(_TIMESTAMP)
    signed_extra = [("X-Amz-Date", stamp)]
    if token:
        signed_extra.append(("X-Amz-Security-Token", token))
    kept = [(name, value) for name, value in headers
            if name.lower() not in ("authorization", "x-amz-date", "x-amz-security-token")]
    values: dict[str, list[str]] = {}
    for name, value in (*kept, *signed_extra):
        lname = name.lower()
        if lname not in _UNSIGNED:
            values.setdefault(lname, []).append(" ".join(value.split()))
    values.setdefault("host", [host])
    names = sorted(values)
    canonical_headers = "".join(f"{name}:{','.join(values[name])}\n" for name in names)
    signed_headers = ";".join(names)
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&")) if query else []
    canonical_request = "\n".join((
        method.upper(),
        quote(normalize_url_path(path), safe="/~"),
        "&".join(f"{key}={value}" for key, value in pairs),
        canonical_headers,
        signed_headers,
        hashlib.sha256(body).hexdigest(),
    ))
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(signing_key(secret_key, stamp[:8], region, service), string_to_sign.encode(),
                         hashlib.sha256).hexdigest()
    authorization = (f"{_ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_headers}, "
                     f"Signature={signature}")
    return [*kept, *signed_extra, ("Authorization", authorization)]
