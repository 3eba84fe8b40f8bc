"""A calendar month's spend per developer, team and repo, summed from the hourly rollup: the
balances the proxies check budgets against (sent to them in the snapshot)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, func, select

from store.schema import rollup_hourly

SCOPES = ("developer", "team", "repo")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# The rollup's precision (Numeric(18, 9)); quantizing gives one text per amount on every database.
_NANO = Decimal("0.000000001")


@dataclass(frozen=True, slots=True)
class Balance:
    scope: str  # developer | team | repo
    name: str
    usd: Decimal

    def to_dict(self) -> dict[str, str]:
        return {"scope": self.scope, "name": self.name, "usd": str(self.usd)}


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of ``"2026-11"``, naive UTC."""
    match = _MONTH.match(month)
    if match is None:
        raise ValueError(f"month must read YYYY-MM, got {month!r}")
    year, number = int(match[1]), int(match[2])
    start = datetime(year, number, 1)
    return start, datetime(year + 1, 1, 1) if number == 12 else datetime(year, number + 1, 1)


def month_balances(engine: Engine, month: str) -> list[Balance]:
    """Spend in ``month`` (``YYYY-MM``, UTC) per principal, sorted by scope then name. Turns with an
    unknown developer, team or repo count toward none of that scope."""
    start, end = month_bounds(month)
    balances: list[Balance] = []
    with engine.connect() as connection:
        for scope in SCOPES:
            column = rollup_hourly.c[scope]
            query = (select(column, func.sum(rollup_hourly.c.cost_usd))
                     .where(rollup_hourly.c.hour >= start, rollup_hourly.c.hour < end, column != "")
                     .group_by(column).order_by(column))
            for name, usd in connection.execute(query):
                balances.append(Balance(scope, name, Decimal(usd or 0).quantize(_NANO)))
    return balances
