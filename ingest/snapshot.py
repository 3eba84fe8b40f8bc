"""``GET /v1/snapshot``: what a proxy needs from the control plane, polled with If-None-Match.

The body is the wire format proxy/snapshot.py documents: the active policy document (or null),
every virtual-key record (salted hashes; revoked ones included, marked), and the current UTC
month's spend per developer, team and repo, with ``generated_at``: the time the balances were read,
so they include every turn stored before it.

The ETag is the SHA-256 of the canonical JSON of everything but ``generated_at``. An unchanged
control plane therefore answers 304 however often it is polled, and the proxy keeps the
``generated_at`` of the snapshot it has, which stays right: nothing stored since changed a balance.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime, and
# they name dependencies local to the router factory.

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Engine

from ingest.openapi_admin import responses
from store.audit import canonical_json
from store.balances import month_balances, month_of
from store.keys import key_records
from store.policies import active_policy


def snapshot_content(engine: Engine, month: str) -> dict[str, Any]:
    active = active_policy(engine)
    return {
        "policy": None if active is None else dict(active.document),
        "keys": [record.to_dict() for record in key_records(engine)],
        "spend": {"month": month, "balances": [b.to_dict() for b in month_balances(engine, month)]},
    }


def etag_of(content: dict[str, Any]) -> str:
    return '"' + hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): a W/ prefix does not matter."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def snapshot_router(engine: Engine, reader: Callable[..., str], clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(tags=["control plane"])

    @router.get("/v1/snapshot", summary="Active policy, key hashes and this month's balances, for proxies",
                response_class=Response, responses={
                    **responses(200, 304, 401, 503),
                    200: {"description": "The snapshot", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["generated_at", "policy", "keys", "spend"]}}}}})
    def snapshot(request: Request, _reader: Annotated[str, Depends(reader)]) -> Response:
        now = clock()  # before reading: the balances include every turn stored up to now
        content = snapshot_content(engine, month_of(now))
        etag = etag_of(content)
        headers = {"etag": etag, "cache-control": "no-cache"}
        if matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        generated_at = now.replace(tzinfo=UTC).timestamp() if now.tzinfo is None else now.timestamp()
        body = json.dumps({"generated_at": generated_at, **content}, separators=(",", ":"), ensure_ascii=False)
        return Response(body.encode("utf-8"), media_type="application/json", headers=headers)

    return router
