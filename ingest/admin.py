"""The control plane inside ingest: the admin API (policies, keys, audit) and the proxies'
snapshot, mounted on the app by ``install_control_plane``.

Admin endpoints take ``Authorization: Bearer <admin token>``; the token names the actor the audit
log records. ``GET /v1/snapshot`` takes a snapshot token or an admin token. A wrong token is
audited, rate-limited (``ingest.admin_refusals``).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime, and
# they name dependencies local to the router factory.

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from ingest.admin_clusters import clusters_router
from ingest.admin_errors import UnauthorizedError, install_error_handlers
from ingest.admin_keys import keys_router
from ingest.admin_months import months_router
from ingest.admin_policies import policies_router
from ingest.admin_proposals import proposals_router
from ingest.admin_refusals import RefusedTokens
from ingest.auth import BearerTokens
from ingest.metrics import IngestMetrics
from ingest.openapi_admin import responses
from ingest.settings import IngestSettings
from ingest.snapshot import snapshot_router
from ingest.upstreams import upstream_check
from store.audit import audit_head, audit_trust, list_audit, verify_audit

SNAPSHOT_READER = "snapshot"


def bearer_dependency(tokens: BearerTokens, what: str, refusals: RefusedTokens) -> Callable[..., str]:
    """A FastAPI dependency answering the token's name, or 401 (a wrong token counts as refused)."""
    scheme = HTTPBearer(auto_error=False, scheme_name=f"{what} token")

    def authenticated(request: Request,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Security(scheme)]) -> str:
        if credentials is None:
            raise UnauthorizedError(f"send Authorization: Bearer <{what} token>")
        name = tokens.name_of(credentials.credentials)
        if name is None:
            refusals.refused(what, request.client.host if request.client else None)
            raise UnauthorizedError(f"that is not a valid {what} token")
        return name

    return authenticated


def audit_router(engine: Engine, actor: Callable[..., str]) -> APIRouter:
    router = APIRouter(prefix="/admin/audit", tags=["admin: audit"])
    Actor = Annotated[str, Depends(actor)]

    @router.get("", summary="Audit entries, newest first", responses=responses(401, 422, 503))
    def entries(_who: Actor, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                subject: Annotated[str | None, Query(max_length=200)] = None,
                action: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
        head = audit_head(engine)
        found = list_audit(engine, limit=limit, before=before, subject=subject, action=action)
        return {"head": None if head is None else {"seq": head[0], "hash": head[1]},
                "entries": [entry.to_dict() for entry in found]}

    @router.get("/verify", summary="Check the hash chain", responses=responses(401, 503))
    def verify(_who: Actor) -> dict[str, Any]:
        problems = verify_audit(engine)
        head = audit_head(engine)
        return {"ok": not problems, "problems": [{"seq": p.seq, "message": p.message} for p in problems],
                "head": None if head is None else {"seq": head[0], "hash": head[1]}}

    return router


def install_control_plane(app: FastAPI, settings: IngestSettings, engine: Engine,
                          clock: Callable[[], datetime], metrics: IngestMetrics | None = None) -> None:
    admins = BearerTokens(settings.admin_tokens)
    readers = BearerTokens({**dict.fromkeys(settings.snapshot_tokens, SNAPSHOT_READER), **settings.admin_tokens})
    # Refuse to start with an unusable audit key (a readable-by-others or missing key file) rather
    # than fail every audited change later; generates the default key file when none is configured.
    audit_trust(engine).load_key(create=True)
    refusals = RefusedTokens(engine, clock, timedelta(seconds=settings.refused_token_audit_interval_s),
                             None if metrics is None else metrics.tokens_refused)
    admin = bearer_dependency(admins, "admin", refusals)
    install_error_handlers(app)
    upstreams = upstream_check(settings.allowlist())
    app.include_router(policies_router(engine, admin, clock, max_policy_bytes=settings.max_policy_bytes,
                                       upstreams=upstreams))
    app.include_router(proposals_router(engine, admin, clock, upstreams))
    app.include_router(keys_router(engine, admin, clock))
    app.include_router(months_router(engine, admin, clock))
    app.include_router(audit_router(engine, admin))
    app.include_router(clusters_router(engine, admin))
    app.include_router(snapshot_router(engine, bearer_dependency(readers, "snapshot", refusals), clock))
