"""Reservation arithmetic: a turn's worst-case cost (the one pricing function, capped) and which
budgets admission checks against spent + reserved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.policy.facts import RouteFacts
from core.policy.reservations import admits, blocking_limits, committed, worst_case_usages, worst_case_usd
from core.pricing import Usage, builtin_price_table

from .builders import compiled

TABLE = builtin_price_table()
DAY = dt.date(2026, 6, 1)
CAP = Decimal("5")


def price(model: str | None, usage: Usage) -> Decimal:
    return TABLE.cost(model, usage, DAY).usd


def test_the_worst_case_is_the_dearer_input_kind_plus_max_tokens_of_output() -> None:
    worst = worst_case_usd(["claude-sonnet-4-5"], 10_000, 2_000, price, CAP)
    plain = TABLE.cost("claude-sonnet-4-5", Usage(input_tokens=10_000, output_tokens=2_000), DAY).usd
    cached = TABLE.cost("claude-sonnet-4-5", Usage(cache_creation_tokens=10_000, cache_creation_1h_tokens=10_000,
                                                   output_tokens=2_000), DAY).usd
    assert worst == max(plain, cached) and worst > plain  # a 1-hour cache write costs more than input
    # $3/M input (x2 for a 1-hour cache write) and $15/M output: 0.06 + 0.03
    assert worst == Decimal("0.09")


def test_any_real_usage_of_those_tokens_costs_no_more_than_the_reservation() -> None:
    worst = worst_case_usd(["claude-sonnet-4-5"], 10_000, 2_000, price, CAP)
    for usage in (Usage(input_tokens=10_000, output_tokens=2_000),
                  Usage(input_tokens=1_000, cache_read_tokens=9_000, output_tokens=2_000),
                  Usage(input_tokens=2_000, cache_creation_tokens=8_000, output_tokens=1_999),
                  Usage(cache_creation_tokens=10_000, cache_creation_1h_tokens=4_000, output_tokens=2_000)):
        assert price("claude-sonnet-4-5", usage) <= worst


def test_the_dearest_model_of_the_chain_counts() -> None:
    chain = ["claude-haiku-4-5", "claude-opus-4-1", "claude-sonnet-4-5"]
    assert worst_case_usd(chain, 1_000, 1_000, price, CAP) == worst_case_usd(["claude-opus-4-1"], 1_000, 1_000,
                                                                             price, CAP)
    assert worst_case_usd(["claude-haiku-4-5"], 1_000, 1_000, price, CAP) < worst_case_usd(chain, 1_000, 1_000,
                                                                                          price, CAP)


def test_the_cap_bounds_a_reservation_and_no_max_tokens_reserves_the_cap() -> None:
    assert worst_case_usd(["claude-opus-4-1"], 10_000_000, 128_000, price, CAP) == CAP
    assert worst_case_usd(["claude-haiku-4-5"], 10, None, price, CAP) == CAP


def test_an_unpriced_model_reserves_nothing_as_it_is_charged_nothing() -> None:
    assert worst_case_usd(["gpt-4o"], 10_000, 1_000, price, CAP) == 0
    assert worst_case_usd([], 10_000, 1_000, price, CAP) == 0


def test_negative_counts_are_never_a_negative_reservation() -> None:
    assert worst_case_usages(-5, -1)[0] == Usage()


BUDGETS = compiled(budgets=[
    {"scope": "developer", "name": "*", "monthly_usd": "100", "soft": 0.8, "hard": 1.0},
    {"scope": "developer", "name": "alice", "monthly_usd": "500", "soft": 0.5, "hard": 1.1},
    {"scope": "team", "name": "payments", "monthly_usd": "1000", "action": "downgrade", "downgrade_to": "haiku"},
])


def test_blocking_limits_are_the_hard_limits_of_block_budgets_only() -> None:
    facts = RouteFacts(developer="alice", team="payments", repo="vault")
    buckets = {"day": "2026-11-18", "week": "2026-W47", "month": "2026-11"}
    assert blocking_limits(BUDGETS.budgets, facts, buckets) == {("2026-11", "developer", "alice"): Decimal("550.0")}
    assert blocking_limits(BUDGETS.budgets, RouteFacts(developer="bob"), buckets) == {
        ("2026-11", "developer", "bob"): Decimal("100.0")}
    assert blocking_limits(BUDGETS.budgets, RouteFacts(team="web"), buckets) == {}


@pytest.mark.parametrize(("spent", "reserved", "admitted"), [
    ("0", "0", True),
    ("99.99", "0", True),
    ("100", "0", False),       # at the hard limit: refused, as before reservations
    ("90", "9.99", True),
    ("90", "10", False),       # turns in flight count
    ("0", "100", False),
])
def test_admission_counts_spent_plus_reserved(spent: str, reserved: str, admitted: bool) -> None:
    key = ("developer", "bob")
    view = committed([key], {key: Decimal(spent)}, {key: Decimal(reserved)})
    assert view == {key: Decimal(spent) + Decimal(reserved)}
    assert admits({key: Decimal(100)}, view) is admitted


def test_admission_needs_every_blocking_budget() -> None:
    limits = {("developer", "bob"): Decimal(100), ("repo", "vault"): Decimal(10)}
    assert admits(limits, {("developer", "bob"): Decimal(1), ("repo", "vault"): Decimal(9)})
    assert not admits(limits, {("developer", "bob"): Decimal(1), ("repo", "vault"): Decimal(10)})
