"""Months closed for chargeback: once finance has billed a month, its numbers are final, so
ingest refuses turns dated inside it (late spans, back-dated forgeries). Closing and reopening
are audited; reopening is for admins (the admin API), closing for whoever exports the chargeback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select

from store.audit import append, audited
from store.errors import ConflictError, NotFoundError
from store.schema import closed_months

CLOSE = "month.close"
REOPEN = "month.reopen"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True)
class ClosedMonth:
    month: str
    closed_at: datetime
    closed_by: str

    def to_dict(self) -> dict[str, str]:
        return {"month": self.month, "closed_at": self.closed_at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
                "closed_by": self.closed_by}


def check_month(month: str) -> str:
    """``month`` if it reads YYYY-MM, else ValueError."""
    if not _MONTH.match(month):
        raise ValueError(f"not a month: {month!r} (expected YYYY-MM)")
    return month


def _ended(month: str, now: datetime) -> bool:
    year, number = int(month[:4]), int(month[5:])
    return (now.year, now.month) > (year, number)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def close_month(engine: Engine, month: str, *, actor: str, now: datetime | None = None) -> ClosedMonth:
    """Close ``month``; closing a closed month changes nothing. A month that has not ended yet
    cannot be closed (its turns are still arriving)."""
    check_month(month)
    at = (now or _utc_now()).replace(tzinfo=None, microsecond=0)
    if not _ended(month, at):
        raise ConflictError(f"{month} has not ended yet: only a past month can be closed")

    def change(connection: Connection) -> ClosedMonth:
        row = connection.execute(select(closed_months).where(closed_months.c.month == month)).first()
        if row is not None:
            return ClosedMonth(row.month, row.closed_at, row.closed_by)
        connection.execute(closed_months.insert().values(month=month, closed_at=at, closed_by=actor))
        append(connection, at=at, actor=actor, action=CLOSE, subject=month, detail={})
        return ClosedMonth(month, at, actor)

    return audited(engine, change)


def reopen_month(engine: Engine, month: str, *, actor: str, reason: str,
                 now: datetime | None = None) -> None:
    """Reopen a closed month (audited with the reason); NotFoundError when it is not closed."""
    check_month(month)
    at = (now or _utc_now()).replace(tzinfo=None, microsecond=0)

    def change(connection: Connection) -> None:
        row = connection.execute(select(closed_months).where(closed_months.c.month == month)).first()
        if row is None:
            raise NotFoundError(f"{month} is not closed")
        connection.execute(closed_months.delete().where(closed_months.c.month == month))
        append(connection, at=at, actor=actor, action=REOPEN, subject=month,
               detail={"reason": reason, "closed_by": row.closed_by})

    audited(engine, change)


def list_closed_months(engine: Engine) -> list[ClosedMonth]:
    with engine.connect() as connection:
        rows = connection.execute(select(closed_months).order_by(closed_months.c.month)).all()
    return [ClosedMonth(row.month, row.closed_at, row.closed_by) for row in rows]


def closed_month_names(engine: Engine) -> frozenset[str]:
    with engine.connect() as connection:
        return frozenset(connection.execute(select(closed_months.c.month)).scalars())
