"""Closing a month for chargeback from the dashboard: approvers and admins only, audited through
store.months (who and when, in the same transaction). Reopening stays with admins on the admin
API, with a reason. Returns a sentence for the page; raises nothing a person could cause."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from dashboard.auth import AccessDeniedError, SignedInUser
from dashboard.chargeback_period import Period
from dashboard.refusals import refused
from dashboard.settings import Role
from store.errors import ConflictError
from store.months import close_month, closed_month_names


def close_for_chargeback(engine: Engine, user: SignedInUser, month: str | None, now: datetime) -> str:
    try:
        user.require(Role.approver)
    except AccessDeniedError as error:
        return refused(engine, user, "month.close", error, month=month)
    if not month:
        return "Pick a month first."
    if month in closed_month_names(engine):
        return f"{month} is already closed."
    try:
        close_month(engine, month, actor=user.name, now=now)
    except (ConflictError, ValueError) as error:
        return f"Refused: {error}."
    return f"{month} is closed by {user.name} (closed: final): ingest refuses turns dated inside it."


def month_state(engine: Engine, month: str) -> str:
    return "closed: final" if month in closed_month_names(engine) else "open"


def period_state(engine: Engine, period: Period) -> str:
    """Whether the period's numbers are final: a month is closed or open; a range of days is final
    only where it lies in closed months (only a whole month is ever closed)."""
    if period.month is not None:
        return month_state(engine, period.month)
    closed = closed_month_names(engine)
    touched = period.months()
    final = [month for month in touched if month in closed]
    if not final:
        return "open"
    if len(final) == len(touched):
        return "closed: final"
    return f"partly final: {', '.join(final)} closed, {', '.join(m for m in touched if m not in closed)} open"
