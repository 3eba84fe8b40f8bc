"""Telemetry a proxy relays for a developer it authenticated (Claude Code's OTLP on the gateway's
base URL: proxy/client_telemetry.py).

The proxy sends it with its own ingest token and ``x-switchyard-on-behalf``: base64url of
``{"developer", "team", "key_id", "email", "attribution"}``. Only a proxy token may say that (any
other sender gets a 403: a developer's key must not attribute rows to someone else), and only for
telemetry: spans are spend, and spend comes only from the proxy's own turns. The rows are then
stamped with that developer, overwriting what their attributes claim (``ingest.pipeline.attribute``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

import orjson

from core.turn_bounds import identity_problem
from ingest.errors import RequestRejectedError
from ingest.otlp_auth import Exporter, PermissionDeniedError, Role

HEADER = "x-switchyard-on-behalf"
MAX_HEADER_CHARS = 4096
ATTRIBUTIONS = ("bearer", "virtual_key", "fronting_gateway")


def on_behalf(exporter: Exporter, header: str | None, needed: Role) -> Exporter:
    """``exporter`` itself without the header; with it, the developer a proxy names."""
    if header is None:
        return exporter
    if exporter.role is not Role.PROXY or exporter.developer is not None:
        raise PermissionDeniedError(f"only a proxy token may send {HEADER}")
    if needed is not Role.TELEMETRY:
        raise PermissionDeniedError(f"{HEADER} is for telemetry only: spans are the proxy's own turns")
    if len(header) > MAX_HEADER_CHARS:
        raise RequestRejectedError(f"{HEADER} is longer than {MAX_HEADER_CHARS} characters")
    try:
        who = orjson.loads(base64.urlsafe_b64decode(header.encode("ascii")))
    except (binascii.Error, UnicodeEncodeError, ValueError, orjson.JSONDecodeError):
        raise RequestRejectedError(f"{HEADER} is not base64url JSON") from None
    if not isinstance(who, dict):
        raise RequestRejectedError(f"{HEADER} must hold a JSON object")
    developer, team, key_id, email = (who.get(name) for name in ("developer", "team", "key_id", "email"))
    attribution = who.get("attribution")
    if not isinstance(developer, str) or attribution not in ATTRIBUTIONS:
        raise RequestRejectedError(f"{HEADER} must name a developer and an attribution ({', '.join(ATTRIBUTIONS)})")
    for name, value in (("team", team), ("key_id", key_id), ("email", email)):
        if value is not None and not isinstance(value, str):
            raise RequestRejectedError(f"{HEADER}: {name} must be a string or null")
    for name, value in (("developer", developer), ("team", team), ("key_id", key_id), ("email", email)):
        problem = identity_problem(name, value)
        if problem:
            raise RequestRejectedError(f"{HEADER}: {problem}")
    return dataclasses.replace(exporter, role=Role.TELEMETRY, developer=developer, team=team, key_id=key_id,
                               email=email, attribution=attribution)
