"""Admin API for months closed for chargeback: list, close (finance closes a month once its
chargeback is final; also `switchyard export chargeback --close`), reopen (admins only, with a
reason — the audit log keeps it). Ingest refuses turns dated inside a closed month."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime, and
# they name dependencies local to the router factory.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from ingest.openapi_admin import responses
from store.months import close_month, list_closed_months, reopen_month

MonthPath = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (UTC)")]


class Reopening(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=1000, description="why the month's numbers may change again")


def months_router(engine: Engine, actor: Callable[..., str], clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(prefix="/admin/months", tags=["admin: closed months"])
    Actor = Annotated[str, Depends(actor)]

    @router.get("", summary="Months closed for chargeback, oldest first", responses=responses(401, 503))
    def closed(_who: Actor) -> dict[str, Any]:
        return {"closed": [month.to_dict() for month in list_closed_months(engine)]}

    @router.post("/{month}/close", summary="Close a past month: ingest refuses turns dated inside it",
                 responses=responses(401, 409, 422, 503))
    def close(month: MonthPath, who: Actor) -> dict[str, Any]:
        return close_month(engine, month, actor=who, now=clock()).to_dict()

    @router.post("/{month}/reopen", summary="Reopen a closed month (audited with the reason)",
                 responses=responses(400, 401, 404, 422, 503))
    def reopen(month: MonthPath, body: Reopening, who: Actor) -> dict[str, Any]:
        reopen_month(engine, month, actor=who, reason=body.reason, now=clock())
        return {"month": month, "reopened_by": who}

    return router
