"""Who may export OTLP to ingest, and as what.

Spend is what every other number stands on, so turns (``/v1/traces``) come only from proxies,
which present a *proxy* token. Claude Code's own telemetry (``/v1/logs``, ``/v1/metrics``) comes
with a *telemetry* token (a shared collector) or with a developer's virtual key — then it is
attributed to that key's developer, whatever its attributes claim. A proxy token may send
telemetry too. Nothing of the body is read before this answers.

Tokens are checked by :class:`ingest.auth.BearerTokens` (constant-time, every entry compared);
virtual keys against the store's keys and the keys file, re-read every ``lookup_refresh_s``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from core.keys import KEY_PREFIX, KeyRing
from ingest.auth import BearerTokens
from ingest.errors import RequestRejectedError
from ingest.refreshing import Refreshing


class Role(enum.StrEnum):
    PROXY = "proxy"
    TELEMETRY = "telemetry"


class UnauthenticatedError(RequestRejectedError):
    status_code = 401
    rpc_code = 16  # UNAUTHENTICATED


class PermissionDeniedError(RequestRejectedError):
    status_code = 403
    rpc_code = 7  # PERMISSION_DENIED


@dataclass(frozen=True, slots=True)
class Exporter:
    """An authenticated sender. ``developer`` is set when it authenticated with a virtual key."""

    role: Role
    developer: str | None = None
    team: str | None = None
    key_id: str | None = None
    # Set when a proxy relays telemetry for a developer it authenticated (ingest/on_behalf.py).
    email: str | None = None
    attribution: str | None = None

    def may(self, role: Role) -> bool:
        return self.role is Role.PROXY or self.role is role


def role_tokens(tokens: Mapping[str, str]) -> BearerTokens:
    """token → role, refusing a role that does not exist (the message names the role, not the token)."""
    for role in tokens.values():
        if role not in Role.__members__.values():
            raise ValueError(f"SWITCHYARD_INGEST_TOKENS: unknown role {role!r} (use 'proxy' or 'telemetry')")
    return BearerTokens(tokens)


class OtlpAuthenticator:
    def __init__(self, tokens: BearerTokens, keys: Refreshing[KeyRing] | None) -> None:
        self._tokens = tokens
        self._keys = keys

    def authenticate(self, authorization: str | None, needed: Role) -> Exporter:
        """The exporter behind an ``Authorization`` header, allowed to send ``needed``; raises
        :class:`UnauthenticatedError` (401) or :class:`PermissionDeniedError` (403)."""
        presented = _bearer(authorization)
        if presented is None:
            raise UnauthenticatedError("send Authorization: Bearer <ingest token>"
                                       " (SWITCHYARD_OTLP_TOKEN on proxies, OTEL_EXPORTER_OTLP_HEADERS elsewhere)")
        exporter = self._identify(presented)
        if exporter is None:
            raise UnauthenticatedError("that is not a valid ingest token or virtual key")
        if not exporter.may(needed):
            raise PermissionDeniedError(
                f"a {exporter.role} credential may not send this signal: spans (spend) need a proxy token")
        return exporter

    def _identify(self, presented: str) -> Exporter | None:
        role = self._tokens.name_of(presented)
        if role is not None:
            return Exporter(Role(role))
        if self._keys is None or not presented.startswith(KEY_PREFIX):
            return None
        record = self._keys.get().authenticate(presented)
        if record is None:
            return None
        return Exporter(Role.TELEMETRY, developer=record.developer, team=record.team, key_id=record.key_id)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential
