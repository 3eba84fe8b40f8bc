"""Admin API for failure clusters: a stored clustering run's clusters (the latest by default) and
their member turns, a page at a time — what `switchyard cluster` and `cluster-members` print.
Read-only."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime, and
# they name dependencies local to the router factory.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import Engine

from ingest.admin_policies import iso
from ingest.openapi_admin import responses
from store.cluster_runs import clusters_frame, latest_run_id, member_turns, run_exists
from store.errors import NotFoundError

RunId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="a run id")]


def _run_or_404(engine: Engine, run_id: str | None) -> str:
    chosen = run_id or latest_run_id(engine)
    if chosen is None:
        raise NotFoundError("no clustering run yet")
    if not run_exists(engine, chosen):
        raise NotFoundError(f"no clustering run {chosen!r}")
    return chosen


def _member(row: dict[str, Any]) -> dict[str, Any]:
    started = row.get("started_at")
    return {**row, "started_at": iso(started) if isinstance(started, datetime) else None}


def clusters_router(engine: Engine, actor: Callable[..., str]) -> APIRouter:
    router = APIRouter(prefix="/admin/clusters", tags=["admin: failure clusters"])
    Actor = Annotated[str, Depends(actor)]

    @router.get("", summary="The failure clusters of a run (default: the latest), largest first",
                responses=responses(401, 404, 422, 503))
    def clusters(_who: Actor, run: Annotated[str | None, Query(min_length=1, max_length=32)] = None) \
            -> dict[str, Any]:
        run_id = _run_or_404(engine, run)
        frame = clusters_frame(engine, run_id)
        return {"run_id": run_id, "clusters": [
            {"cluster": row["cluster"], "name": row["name"], "size": row["size"], "cost_usd": row["cost_usd"],
             "trend": row["trend"], "window_start": iso(row["window_start"]), "window_end": iso(row["window_end"]),
             "window_counts": row["window_counts"], "examples": row["examples"]}
            for row in frame.iter_rows(named=True)]}

    @router.get("/{run_id}/members", summary="A run's member turns, by cluster then start time",
                responses=responses(401, 404, 422, 503))
    def members(run_id: RunId, _who: Actor,
                cluster: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
        chosen = _run_or_404(engine, run_id)
        rows = member_turns(engine, chosen, cluster=cluster, limit=limit, offset=offset)
        return {"run_id": chosen, "cluster": cluster, "offset": offset, "members": [_member(r) for r in rows]}

    return router
