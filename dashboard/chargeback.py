"""The chargeback export: per period (a calendar month or a custom range of UTC days, see
dashboard.chargeback_period) and group (one or two of developer, team, repo, model, cost centre),
the request count, the four token kinds and the cost in USD, summed from the hourly rollup.

Rows by developer carry the developer's team (a developer who changed teams within the period has
a row per team, each billed to its own), and every row whose team is known carries its cost centre
from finance's mapping (core.cost_centres). A cost-centre grouping sums the teams of each centre.

Money stays exact: on PostgreSQL the Numeric column is summed as Numeric; on SQLite, where a
NUMERIC value is stored as a double, each rollup row is rounded to whole nano-dollars and those
integers are summed (a float SUM would drift). Rows folded in Python (teams into their cost centre)
add Decimals. Either way the result is a Decimal with 9 places that equals the sum of the turns'
own costs. The CSV columns are documented in docs/chargeback.md and on the Chargeback page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Engine, cast, func, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from core.cost_centres import CostCentreError, CostCentres, parse_cost_centres
from dashboard.chargeback_period import Period, PeriodError, periods_from
from dashboard.csv_safe import Cell, csv_text
from store.audit import append, audited
from store.schema import rollup_hourly

DIMENSIONS = ("developer", "team", "repo", "model", "cost_centre")
_ROLLUP_DIMENSIONS = ("developer", "team", "repo", "model")
CSV_COLUMNS = ("period", "first_day", "last_day", "group_by", *DIMENSIONS, "requests", "unpriced_requests",
               "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd")
# What each CSV column means, shown on the Chargeback page (and kept in step with docs/chargeback.md).
CSV_COLUMN_MEANINGS = {
    "period": "the month (YYYY-MM) or the range of days (YYYY-MM-DD..YYYY-MM-DD); a turn belongs to the period "
              "(UTC) in which it started",
    "first_day": "the period's first day, YYYY-MM-DD (UTC)",
    "last_day": "the period's last day, included",
    "group_by": "the grouping asked for, one or two dimensions joined by +, e.g. team+model (the same on every row)",
    "developer": "the developer, when the grouping has developer",
    "team": "the team, when the grouping has team or developer (a developer's team, a row per team they "
            "spent in)",
    "repo": "the repo, when the grouping has repo",
    "model": "the model that served the turns (else the one asked for), when the grouping has model",
    "cost_centre": "the team's cost centre from the cost-centre file, when the row's team is known or the "
                   "grouping has cost_centre; empty when the file maps neither the team nor a default",
    "requests": "LLM calls (turns), failed ones included",
    "unpriced_requests": "of those, calls whose model had no price: counted, at cost 0",
    "input_tokens": "uncached input tokens (Anthropic's usage.input_tokens)",
    "output_tokens": "output tokens",
    "cache_write_tokens": "tokens written to the prompt cache (5-minute and 1-hour together)",
    "cache_read_tokens": "tokens read from the prompt cache",
    "cost_usd": "the cost in USD with 9 decimal places (nano-dollars), exactly as stored: round it as your ledger "
                "does",
}
EMPTY_MEANING = ("A dimension column the grouping does not fill is empty; a filled one is empty when the turns did "
                 "not say (no team on the key, no repo header).")
EXPORT_ACTION = "chargeback.export"
NANO = Decimal("0.000000001")
_NANOS_PER_USD = 1_000_000_000
_SUMS = ("requests", "unpriced", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


class ChargebackError(ValueError):
    """A bad period or grouping; the message says which."""


class CostCentreFileError(ChargebackError):
    """The operator's cost-centre file cannot be read or used (not the asker's mistake)."""


@dataclass(frozen=True, slots=True)
class Grouping:
    dimensions: tuple[str, ...]  # one or two of DIMENSIONS, distinct

    @property
    def label(self) -> str:
        return "+".join(self.dimensions)

    @property
    def filled(self) -> tuple[str, ...]:
        """The dimension columns its rows fill: its own, a developer's team, a known team's cost centre."""
        shown = set(self.dimensions)
        if "developer" in shown:
            shown.add("team")
        if "team" in shown:
            shown.add("cost_centre")
        return tuple(name for name in DIMENSIONS if name in shown)

    @property
    def rollup_columns(self) -> tuple[str, ...]:
        """What SQL groups by: the filled rollup columns, and the team a cost centre is found from."""
        needed = set(self.filled) | ({"team"} if "cost_centre" in self.dimensions else set())
        return tuple(name for name in _ROLLUP_DIMENSIONS if name in needed)


def grouping(by: str, then: str | None = None) -> Grouping:
    """One dimension (``by``) or two (``by``, then ``then``); ChargebackError naming a bad one."""
    dimensions = (by,) if not then else (by, then)
    for name in dimensions:
        if name not in DIMENSIONS:
            raise ChargebackError(f"group by {', '.join(DIMENSIONS)}, not {name[:40]!r}")
    if len(set(dimensions)) != len(dimensions):
        raise ChargebackError(f"{by} twice: pick a second dimension other than the first, or none")
    return Grouping(dimensions)


@dataclass(frozen=True, slots=True)
class ChargebackRequest:
    periods: tuple[Period, ...]
    grouping: Grouping


def chargeback_request(*, months: Sequence[str] = (), first: str | None = None, last: str | None = None,
                       by: str = "team", then: str | None = None) -> ChargebackRequest:
    """Months (or one range of days) and a grouping as people give them; ChargebackError saying why not."""
    try:
        periods = periods_from(list(months), first, last)
    except PeriodError as error:
        raise ChargebackError(str(error)) from None
    return ChargebackRequest(tuple(periods), grouping(by, then))


@dataclass(frozen=True, slots=True)
class ChargebackRow:
    period: Period
    group_by: str  # e.g. "team+model"
    values: tuple[tuple[str, str], ...]  # (dimension, value) of the filled columns; "" when the turns did not say
    requests: int
    unpriced_requests: int  # turns no price was known for: counted, cost 0
    input_tokens: int  # uncached input (Anthropic's meaning)
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal  # exact, 9 decimal places

    def value(self, dimension: str) -> str:
        return dict(self.values).get(dimension, "")

    def csv_values(self) -> list[Cell]:
        # typed cells: csv_text neutralises the text ones and writes the numbers as numbers
        return [self.period.label, self.period.first_day.isoformat(), self.period.last_day.isoformat(), self.group_by,
                *(self.value(name) for name in DIMENSIONS), self.requests, self.unpriced_requests, self.input_tokens,
                self.output_tokens, self.cache_write_tokens, self.cache_read_tokens, self.cost_usd]


def load_cost_centres(path: Path | None) -> CostCentres:
    """The mapping in ``path`` (None: no file, no cost centres); CostCentreFileError when it is unusable."""
    if path is None:
        return CostCentres()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CostCentreFileError(f"the cost-centre file {path} cannot be read: {error}") from None
    try:
        return parse_cost_centres(text, str(path))
    except CostCentreError as error:
        raise CostCentreFileError(f"the cost-centre file {path} is unusable: {error}") from None


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


def chargeback_rows(engine: Engine, request: ChargebackRequest,
                    centres: CostCentres | None = None) -> list[ChargebackRow]:
    """One row per (period, group) with any requests: periods in the given order, groups sorted."""
    centres = centres or CostCentres()
    dialect = engine.dialect.name
    group = request.grouping
    keys = [rollup_hourly.c[name] for name in group.rollup_columns]
    sums = [func.sum(rollup_hourly.c[name]) for name in _SUMS]
    rows: list[ChargebackRow] = []
    with engine.connect() as connection:
        for period in request.periods:
            query = (select(*keys, *sums, _exact_cost_sum(dialect))
                     .where(rollup_hourly.c.hour >= period.start, rollup_hourly.c.hour < period.end)
                     .group_by(*keys))
            totals: dict[tuple[str, ...], tuple[list[int], Decimal]] = {}
            for row in connection.execute(query):
                names, counts, cost = row[:len(keys)], row[len(keys):-1], row[-1]
                found = dict(zip(group.rollup_columns, names, strict=True))
                found["cost_centre"] = centres.of(found.get("team"))
                key = tuple(found[name] for name in group.filled)
                # a cost centre's teams fold into one row: counts and exact Decimals add up
                before, before_cost = totals.get(key, ([0] * len(_SUMS), Decimal(0)))
                totals[key] = ([a + int(b) for a, b in zip(before, counts, strict=True)],
                               before_cost + _as_usd(cost, dialect))
            for key in sorted(totals):
                (requests, unpriced, input_tokens, output_tokens, cache_write, cache_read), cost = totals[key]
                rows.append(ChargebackRow(period, group.label, tuple(zip(group.filled, key, strict=True)), requests,
                                          unpriced, input_tokens, output_tokens, cache_write, cache_read,
                                          cost.quantize(NANO)))
    return rows


def chargeback_csv(rows: Iterable[ChargebackRow]) -> str:
    """The CSV text: a header, then one line per row ("\\n" line ends, RFC 4180 quoting); text cells that
    a spreadsheet would read as a formula are prefixed with ``'`` (dashboard.csv_safe)."""
    return csv_text(CSV_COLUMNS, (row.csv_values() for row in rows))


def total_cost(rows: Iterable[ChargebackRow]) -> Decimal:
    return sum((row.cost_usd for row in rows), Decimal(0)).quantize(NANO)


def record_export(engine: Engine, *, actor: str, request: ChargebackRequest, rows: Sequence[ChargebackRow],
                  channel: str, centres: CostCentres | None = None, now: datetime | None = None) -> None:
    """Write who exported which chargeback, when, to the audit log."""
    at = (now or datetime.now(UTC)).replace(tzinfo=None)
    periods = [period.label for period in request.periods]
    detail = {"periods": periods, "by": request.grouping.label, "rows": len(rows),
              "total_usd": format(total_cost(rows), "f"), "channel": channel,
              "cost_centres": centres.source if centres is not None else None}
    audited(engine, lambda connection: append(connection, at=at, actor=actor, action=EXPORT_ACTION,
                                              subject=f"chargeback:{request.grouping.label}:{','.join(periods)}",
                                              detail=detail))


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
