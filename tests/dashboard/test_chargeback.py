"""The chargeback export reconciles exactly with the turns table, on SQLite and PostgreSQL: every
month, every grouping of one or two dimensions, custom ranges of days, requests, the four token
kinds and the cost to the nano-dollar; developer rows carry their team, rows with a team their cost
centre, and a cost-centre grouping sums its teams."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import permutations

import pytest
from sqlalchemy import Engine, func, select

from core.cost_centres import parse_cost_centres
from dashboard.chargeback import (
    CSV_COLUMNS,
    DIMENSIONS,
    ChargebackError,
    chargeback_csv,
    chargeback_request,
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
CENTRES = parse_cost_centres("teams:\n  team0: '4100-PAY'\n  team1: '4100-PAY'\ndefault: '9999-REST'\n", "centres.yaml")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _turn_sums(engine: Engine, start: datetime, end: datetime) -> dict[str, int]:
    query = select(func.count(), *(func.sum(turns.c[column]) for column in TOKEN_COLUMNS.values())).where(
        turns.c.started_at >= start, turns.c.started_at < end)
    with engine.connect() as connection:
        count, *sums = connection.execute(query).one()
    return {"requests": count, **{name: int(value or 0) for name, value in zip(TOKEN_COLUMNS, sums, strict=True)}}


def _reconciles(engine: Engine, rows: list, start: datetime, end: datetime) -> None:  # type: ignore[type-arg]
    expected = _turn_sums(engine, start, end)
    assert total_cost(rows) == exact_turn_total(engine, start, end)
    assert sum(row.requests for row in rows) == expected["requests"]
    for name in TOKEN_COLUMNS:
        assert sum(getattr(row, name) for row in rows) == expected[name], name
    assert len({(row.period.label, row.values) for row in rows}) == len(rows)  # one row per group
    assert all(row.cost_usd.as_tuple().exponent == -9 for row in rows)


def test_every_month_and_grouping_of_one_or_two_reconciles_exactly(db_engine: Engine) -> None:
    seed_turns(db_engine, _now(), count=900)
    months = months_with_data(db_engine)
    assert len(months) >= 2  # 40 days always span two calendar months
    groupings = [(by, None) for by in DIMENSIONS] + list(permutations(DIMENSIONS, 2))
    for month in months:
        for by, then in groupings:
            rows = chargeback_rows(db_engine, chargeback_request(months=[month], by=by, then=then), CENTRES)
            _reconciles(db_engine, rows, *month_bounds(month))
            assert {row.group_by for row in rows} == {by if then is None else f"{by}+{then}"}


def test_two_dimensions_split_the_numbers_and_developer_rows_carry_their_team(db_engine: Engine) -> None:
    seed_turns(db_engine, _now(), count=300)
    month = months_with_data(db_engine)[0]
    by_team = chargeback_rows(db_engine, chargeback_request(months=[month], by="team"), CENTRES)
    by_team_repo = chargeback_rows(db_engine, chargeback_request(months=[month], by="team", then="repo"), CENTRES)
    assert len(by_team_repo) == 4 * len(by_team)  # the second dimension splits each team's row (repo{i%4})
    for team_row in by_team:
        parts = [row for row in by_team_repo if row.value("team") == team_row.value("team")]
        assert sum((row.cost_usd for row in parts), Decimal(0)) == team_row.cost_usd
        assert {row.value("repo") for row in parts} == {f"repo{n}" for n in range(4)}
    # each developer's turns went out under several teams (dev{i%5}, team{i%3}): a row per (developer, team)
    start, end = month_bounds(month)
    with db_engine.connect() as connection:
        pairs = Counter({(dev, team): count for dev, team, count in connection.execute(
            select(turns.c.developer, turns.c.team, func.count()).where(turns.c.started_at >= start,
                                                                        turns.c.started_at < end)
            .group_by(turns.c.developer, turns.c.team))})
    by_developer = chargeback_rows(db_engine, chargeback_request(months=[month], by="developer"), CENTRES)
    assert Counter({(row.value("developer"), row.value("team")): row.requests for row in by_developer}) == pairs
    assert all(row.value("repo") == "" and row.value("model") == "" for row in by_developer)  # not grouped: empty


def test_cost_centres_come_from_the_mapping_and_a_centre_sums_its_teams(db_engine: Engine) -> None:
    seed_turns(db_engine, _now(), count=300)
    month = months_with_data(db_engine)[0]
    by_team = {row.value("team"): row for row in chargeback_rows(
        db_engine, chargeback_request(months=[month], by="team"), CENTRES)}
    assert {team: row.value("cost_centre") for team, row in by_team.items()} == {
        "team0": "4100-PAY", "team1": "4100-PAY", "team2": "9999-REST"}  # team2 is not listed: the default
    by_centre = {row.value("cost_centre"): row for row in chargeback_rows(
        db_engine, chargeback_request(months=[month], by="cost_centre"), CENTRES)}
    assert set(by_centre) == {"4100-PAY", "9999-REST"}
    assert by_centre["4100-PAY"].cost_usd == by_team["team0"].cost_usd + by_team["team1"].cost_usd
    assert by_centre["4100-PAY"].requests == by_team["team0"].requests + by_team["team1"].requests
    assert all(row.value("team") == "" for row in by_centre.values())
    # without a mapping every cost centre is empty, and the numbers do not change
    plain = chargeback_rows(db_engine, chargeback_request(months=[month], by="cost_centre"))
    assert [(row.value("cost_centre"), row.cost_usd) for row in plain] == [("", total_cost(by_centre.values()))]


def test_a_custom_range_of_days_reconciles_and_splits_a_month_exactly(db_engine: Engine) -> None:
    now = _now()
    seed_turns(db_engine, now, count=900)
    month = months_with_data(db_engine)[1]  # last month: whole, with turns on every day
    start, end = month_bounds(month)
    middle = start + timedelta(days=14)
    first_half = chargeback_request(first=f"{start:%Y-%m-%d}", last=f"{middle - timedelta(days=1):%Y-%m-%d}",
                                    by="developer", then="repo")
    second_half = chargeback_request(first=f"{middle:%Y-%m-%d}", last=f"{end - timedelta(days=1):%Y-%m-%d}",
                                     by="developer", then="repo")
    halves = [chargeback_rows(db_engine, asked, CENTRES) for asked in (first_half, second_half)]
    _reconciles(db_engine, halves[0], start, middle)
    _reconciles(db_engine, halves[1], middle, end)
    whole = chargeback_rows(db_engine, chargeback_request(months=[month], by="developer", then="repo"), CENTRES)
    assert total_cost(halves[0]) + total_cost(halves[1]) == total_cost(whole)
    assert 0 < total_cost(halves[0]) < total_cost(whole)
    [period] = first_half.periods
    assert (period.label, period.first_day, period.last_day, period.month) == (
        f"{start:%Y-%m-%d}..{middle - timedelta(days=1):%Y-%m-%d}", start.date(), (middle - timedelta(days=1)).date(),
        None)
    # a range across two months
    across = chargeback_request(first=f"{middle:%Y-%m-%d}", last=f"{now:%Y-%m-%d}", by="team")
    _reconciles(db_engine, chargeback_rows(db_engine, across), middle, datetime.combine(now.date(), datetime.min.time())
                + timedelta(days=1))
    assert across.periods[0].months() == [month, f"{now:%Y-%m}"]


def test_large_costs_sum_to_the_nano_dollar(db_engine: Engine) -> None:
    # 15 significant digits per turn: a float SUM would lose the last digits of the total.
    cost = Decimal("98765.432109876")
    start = datetime(2026, 3, 1)
    rows = [turn_row(sample_turn(i, start_ns=int((start + timedelta(hours=i)).replace(tzinfo=UTC).timestamp()) * 10**9,
                                 end_ns=int((start + timedelta(hours=i)).replace(tzinfo=UTC).timestamp()) * 10**9 + 1,
                                 developer="dev", team="team0"),
                     Pricing(cost + Decimal(i) / 10**9, priced=True), _now()) for i in range(300)]
    write_turns(db_engine, rows)
    expected = sum((cost + Decimal(i) / 10**9 for i in range(300)), Decimal(0))
    [row] = chargeback_rows(db_engine, chargeback_request(months=["2026-03"], by="team"))
    assert row.cost_usd == expected == exact_turn_total(db_engine)
    # folded in Python (two teams' rows into one cost centre) it stays exact too
    [centre] = chargeback_rows(db_engine, chargeback_request(months=["2026-03"], by="cost_centre"), CENTRES)
    assert centre.cost_usd == expected and centre.requests == 300


def test_csv_has_the_documented_columns_and_exact_costs(db_engine: Engine) -> None:
    seed_turns(db_engine, _now(), count=200)
    month = months_with_data(db_engine)[0]
    asked = chargeback_request(months=[month], by="developer", then="model")
    rows = chargeback_rows(db_engine, asked, CENTRES)
    parsed = list(csv.DictReader(io.StringIO(chargeback_csv(rows))))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert [(line["developer"], line["team"], line["model"]) for line in parsed] == [
        (row.value("developer"), row.value("team"), row.value("model")) for row in rows]
    assert {line["repo"] for line in parsed} == {""}  # not grouped by repo
    assert {line["cost_centre"] for line in parsed} == {"4100-PAY", "9999-REST"}
    assert sum(Decimal(line["cost_usd"]) for line in parsed) == total_cost(rows)
    start, end = month_bounds(month)
    assert {(line["period"], line["first_day"], line["last_day"], line["group_by"]) for line in parsed} == {
        (month, f"{start:%Y-%m-%d}", f"{end - timedelta(days=1):%Y-%m-%d}", "developer+model")}


def test_an_empty_month_has_no_rows_and_a_header_only_csv(db_engine: Engine) -> None:
    assert chargeback_rows(db_engine, chargeback_request(months=["2001-01"], by="team")) == []
    assert chargeback_csv([]) == ",".join(CSV_COLUMNS) + "\n"
    assert months_with_data(db_engine) == []


@pytest.mark.parametrize(("asked", "reason"), [
    ({"months": ["2026-13"]}, "not a month"), ({"months": ["26-01"]}, "not a month"), ({}, "at least one month"),
    ({"months": ["2026-01"], "by": "session"}, "group by"), ({"months": ["2026-01"], "then": "session"}, "group by"),
    ({"months": ["2026-01"], "by": "team", "then": "team"}, "twice"),
    ({"months": ["2026-01", "2026-01"]}, "asked for twice"), ({"months": [f"2024-{m:02d}" for m in range(1, 13)] * 3 +
                                                               ["2025-01"]}, "at most 36"),
    ({"months": ["2026-01"], "first": "2026-01-01", "last": "2026-01-05"}, "not both"),
    ({"first": "2026-01-01"}, "both ends"), ({"first": "2026-01-05", "last": "2026-01-01"}, "ends"),
    ({"first": "2026-01-01", "last": "2027-01-02"}, "at most 366"), ({"first": "2026-02-30", "last": "2026-03-01"},
                                                                     "not a date"),
    ({"first": "1999-12-31", "last": "2000-01-02"}, "outside"),
])
def test_bad_requests_are_refused_with_a_reason(asked: dict[str, object], reason: str) -> None:
    with pytest.raises(ChargebackError, match=reason):
        chargeback_request(**asked)  # type: ignore[arg-type]


def test_the_longest_range_is_a_year_and_a_day() -> None:
    [period] = chargeback_request(first="2026-01-01", last="2027-01-01").periods
    assert (period.first_day, period.last_day) == (date(2026, 1, 1), date(2027, 1, 1))
