"""The chargeback export: per period (a calendar month, UTC) and group (developer, team, repo or
model), the request count, the four token kinds and the cost in USD, summed from the hourly rollup.

Money stays exact: on PostgreSQL the Numeric column is summed as Numeric; on SQLite, where a
NUMERIC value is stored as a double, each rollup row is rounded to whole nano-dollars and those
integers are summed (a float SUM would drift). Either way the result is a Decimal with 9 places
that equals the sum of the turns' own costs. The CSV columns are documented in docs/chargeback.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Engine, cast, func, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from dashboard.csv_safe import Cell, csv_text
from store.audit import append, audited
from store.balances import month_bounds
from store.schema import rollup_hourly

GROUPINGS = ("developer", "team", "repo", "model")
CSV_COLUMNS = ("period", "group_by", "group", "requests", "unpriced_requests", "input_tokens", "output_tokens",
               "cache_write_tokens", "cache_read_tokens", "cost_usd")
# What each CSV column means, shown on the Chargeback page (and kept in step with docs/chargeback.md).
CSV_COLUMN_MEANINGS = {
    "period": "the month, YYYY-MM; a turn belongs to the month (UTC) in which it started",
    "group_by": "the grouping asked for: developer, team, repo or model (the same on every row)",
    "group": "the developer, team, repo or model; empty when the turns did not say",
    "requests": "LLM calls (turns), failed ones included",
    "unpriced_requests": "of those, calls whose model had no price: counted, at cost 0",
    "input_tokens": "uncached input tokens (Anthropic's usage.input_tokens)",
    "output_tokens": "output tokens",
    "cache_write_tokens": "tokens written to the prompt cache (5-minute and 1-hour together)",
    "cache_read_tokens": "tokens read from the prompt cache",
    "cost_usd": "the cost in USD with 9 decimal places (nano-dollars), exactly as stored: round it as your ledger does",
}
EXPORT_ACTION = "chargeback.export"
NANO = Decimal("0.000000001")
_NANOS_PER_USD = 1_000_000_000
_TOKEN_SUMS = ("requests", "unpriced", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


class ChargebackError(ValueError):
    """A bad period or grouping; the message says which."""


@dataclass(frozen=True, slots=True)
class ChargebackRow:
    period: str  # YYYY-MM
    group_by: str  # developer | team | repo | model
    group: str  # "" when the turns did not say (no developer tag, …)
    requests: int
    unpriced_requests: int  # turns no price was known for: counted, cost 0
    input_tokens: int  # uncached input (Anthropic's meaning)
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal  # exact, 9 decimal places

    def csv_values(self) -> list[Cell]:
        # typed cells: csv_text neutralises the text ones and writes the numbers as numbers
        return [self.period, self.group_by, self.group, self.requests, self.unpriced_requests, self.input_tokens,
                self.output_tokens, self.cache_write_tokens, self.cache_read_tokens, self.cost_usd]


def check_request(months: Sequence[str], by: str) -> None:
    if by not in GROUPINGS:
        raise ChargebackError(f"group by one of {', '.join(GROUPINGS)}, not {by!r}")
    if not months:
        raise ChargebackError("give at least one month (YYYY-MM)")
    for month in months:
        try:
            month_bounds(month)
        except ValueError as error:
            raise ChargebackError(str(error)) from error


def _exact_cost_sum(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        nanos = cast(func.round(rollup_hourly.c.cost_usd * _NANOS_PER_USD), BigInteger)
        return type_coerce(func.sum(nanos), BigInteger)
    return func.sum(rollup_hourly.c.cost_usd)


def _as_usd(value: Any, dialect: str) -> Decimal:
    if value is None:
        return Decimal(0).quantize(NANO)
    if dialect == "sqlite":
        return Decimal(int(value)).scaleb(-9).quantize(NANO)
    return Decimal(value).quantize(NANO)


def chargeback_rows(engine: Engine, months: Sequence[str], by: str) -> list[ChargebackRow]:
    """One row per (month, group) with any requests, months in the given order, groups sorted."""
    check_request(months, by)
    dialect = engine.dialect.name
    group = rollup_hourly.c[by]
    sums = [func.sum(rollup_hourly.c[name]) for name in _TOKEN_SUMS]
    rows: list[ChargebackRow] = []
    with engine.connect() as connection:
        for month in months:
            start, end = month_bounds(month)
            query = (select(group, *sums, _exact_cost_sum(dialect))
                     .where(rollup_hourly.c.hour >= start, rollup_hourly.c.hour < end)
                     .group_by(group).order_by(group))
            for name, *counts, cost in connection.execute(query):
                rows.append(ChargebackRow(month, by, name, *(int(count) for count in counts),
                                          cost_usd=_as_usd(cost, dialect)))
    return rows


def chargeback_csv(rows: Iterable[ChargebackRow]) -> str:
    """The CSV text: a header, then one line per row ("\\n" line ends, RFC 4180 quoting); text cells that
    a spreadsheet would read as a formula are prefixed with ``'`` (dashboard.csv_safe)."""
    return csv_text(CSV_COLUMNS, (row.csv_values() for row in rows))


def total_cost(rows: Iterable[ChargebackRow]) -> Decimal:
    return sum((row.cost_usd for row in rows), Decimal(0)).quantize(NANO)


def record_export(engine: Engine, *, actor: str, months: Sequence[str], by: str, rows: Sequence[ChargebackRow],
                  channel: str, now: datetime | None = None) -> None:
    """Write who exported which chargeback, when, to the audit log."""
    at = (now or datetime.now(UTC)).replace(tzinfo=None)
    detail = {"months": list(months), "by": by, "rows": len(rows), "total_usd": format(total_cost(rows), "f"),
              "channel": channel}
    audited(engine, lambda connection: append(connection, at=at, actor=actor, action=EXPORT_ACTION,
                                              subject=f"chargeback:{by}:{','.join(months)}", detail=detail))


def months_with_data(engine: Engine) -> list[str]:
    """Every month from the first to the last hour in the rollup, newest first."""
    with engine.connect() as connection:
        first, last = connection.execute(select(func.min(rollup_hourly.c.hour), func.max(rollup_hourly.c.hour))).one()
    if first is None or last is None:
        return []
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months[::-1]
