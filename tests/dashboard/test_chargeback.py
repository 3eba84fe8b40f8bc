"""The chargeback export reconciles exactly with the turns table, on SQLite and PostgreSQL: every
month, every grouping, requests, the four token kinds and the cost to the nano-dollar."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from dashboard.chargeback import (
    CSV_COLUMNS,
    GROUPINGS,
    ChargebackError,
    chargeback_csv,
    chargeback_rows,
    months_with_data,
    total_cost,
)
from store.balances import month_bounds
from store.rows import Pricing, turn_row
from store.schema import turns
from store.testing import sample_turn
from store.writer import write_turns
from tests.dashboard.fleet import exact_turn_total, seed_turns

TOKEN_COLUMNS = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
                 "cache_write_tokens": "cache_creation_tokens", "cache_read_tokens": "cache_read_tokens"}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _turn_sums(engine: Engine, month: str) -> dict[str, int]:
    start, end = month_bounds(month)
    query = select(func.count(), *(func.sum(turns.c[column]) for column in TOKEN_COLUMNS.values())).where(
        turns.c.started_at >= start, turns.c.started_at < end)
    with engine.connect() as connection:
        count, *sums = connection.execute(query).one()
    return {"requests": count, **{name: int(value or 0) for name, value in zip(TOKEN_COLUMNS, sums, strict=True)}}


def test_every_month_and_grouping_reconciles_exactly_with_the_turns(db_engine: Engine) -> None:
    seed_turns(db_engine, _now(), count=900)
    months = months_with_data(db_engine)
    assert len(months) >= 2  # 40 days always span two calendar months
    for month in months:
        start, end = month_bounds(month)
        expected_cost = exact_turn_total(db_engine, start, end)
        expected = _turn_sums(db_engine, month)
        for by in GROUPINGS:
            rows = chargeback_rows(db_engine, [month], by)
            assert total_cost(rows) == expected_cost, (month, by)
            assert sum(row.requests for row in rows) == expected["requests"]
            for name in TOKEN_COLUMNS:
                assert sum(getattr(row, name) for row in rows) == expected[name], (month, by, name)
            assert len({row.group for row in rows}) == len(rows)
            assert all(row.cost_usd.as_tuple().exponent == -9 for row in rows)


def test_large_costs_sum_to_the_nano_dollar(db_engine: Engine) -> None:
    # 15 significant digits per turn: a float SUM would lose the last digits of the total.
    cost = Decimal("98765.432109876")
    start = datetime(2026, 3, 1)
    rows = [turn_row(sample_turn(i, start_ns=int((start + timedelta(hours=i)).replace(tzinfo=UTC).timestamp()) * 10**9,
                                 end_ns=int((start + timedelta(hours=i)).replace(tzinfo=UTC).timestamp()) * 10**9 + 1,
                                 developer="dev", team="team"),
                     Pricing(cost + Decimal(i) / 10**9, priced=True), _now()) for i in range(300)]
    write_turns(db_engine, rows)
    [row] = chargeback_rows(db_engine, ["2026-03"], "team")
    expected = sum((cost + Decimal(i) / 10**9 for i in range(300)), Decimal(0))
    assert row.cost_usd == expected == exact_turn_total(db_engine)
    assert row.requests == 300


def test_csv_has_the_documented_columns_and_exact_costs(db_engine: Engine) -> None:
    seed_turns(db_engine, _now(), count=200)
    month = months_with_data(db_engine)[0]
    rows = chargeback_rows(db_engine, [month], "developer")
    parsed = list(csv.DictReader(io.StringIO(chargeback_csv(rows))))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert [line["group"] for line in parsed] == [row.group for row in rows]
    assert sum(Decimal(line["cost_usd"]) for line in parsed) == total_cost(rows)
    assert {line["period"] for line in parsed} == {month} and {line["group_by"] for line in parsed} == {"developer"}


def test_an_empty_month_has_no_rows_and_a_header_only_csv(db_engine: Engine) -> None:
    assert chargeback_rows(db_engine, ["1999-01"], "team") == []
    assert chargeback_csv([]) == ",".join(CSV_COLUMNS) + "\n"
    assert months_with_data(db_engine) == []


@pytest.mark.parametrize(("months", "by"), [(["2026-13"], "team"), (["26-01"], "team"), ([], "team"),
                                            (["2026-01"], "session")])
def test_bad_requests_are_refused_with_a_reason(db_engine: Engine, months: list[str], by: str) -> None:
    with pytest.raises(ChargebackError):
        chargeback_rows(db_engine, months, by)
