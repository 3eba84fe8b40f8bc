"""budget_verdict(): which budget applies to a turn, and how far along it is; month_reset(), and the
day, week and month buckets and resets (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core.policy.budgets import budget_verdict, month_reset, period_bucket, period_reset
from core.policy.facts import RouteFacts

from .builders import compiled

NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)  # a Wednesday


def _month(spend: dict[tuple[str, str], Decimal]) -> dict[tuple[str, str, str], Decimal]:
    return {("2026-11", scope, name): usd for (scope, name), usd in spend.items()}


BUDGETS = compiled(budgets=[
    {"scope": "developer", "name": "*", "monthly_usd": "100", "soft": 0.8, "hard": 1.0},
    {"scope": "developer", "name": "alice", "monthly_usd": "500", "soft": 0.5, "hard": 1.1},
    {"scope": "team", "name": "payments", "monthly_usd": "1000", "action": "downgrade", "downgrade_to": "haiku"},
    {"scope": "repo", "name": "vault", "monthly_usd": "50", "soft": 0.9, "hard": 1.2},
])
FACTS = RouteFacts(developer="bob", team="payments", repo="vault")


@pytest.mark.parametrize(("facts", "spend", "state", "scope", "principal"), [
    (FACTS, {}, "ok", "developer", "bob"),
    (FACTS, {("developer", "bob"): Decimal("79.99")}, "ok", "developer", "bob"),
    (FACTS, {("developer", "bob"): Decimal("80")}, "soft", "developer", "bob"),
    (FACTS, {("developer", "bob"): Decimal("100")}, "hard", "developer", "bob"),
    # "*" applies to each developer on their own spend
    (FACTS, {("developer", "carol"): Decimal("1000")}, "ok", "developer", "bob"),
    (RouteFacts(developer="carol"), {("developer", "carol"): Decimal("1000")}, "hard", "developer", "carol"),
    # alice's own budget replaces the "*" one
    (RouteFacts(developer="alice"), {("developer", "alice"): Decimal("200")}, "ok", "developer", "alice"),
    (RouteFacts(developer="alice"), {("developer", "alice"): Decimal("250")}, "soft", "developer", "alice"),
    (RouteFacts(developer="alice"), {("developer", "alice"): Decimal("550")}, "hard", "developer", "alice"),
    # the worst state across developer, team and repo wins
    (FACTS, {("developer", "bob"): Decimal("85"), ("team", "payments"): Decimal("1100")}, "hard", "team", "payments"),
    (FACTS, {("developer", "bob"): Decimal("10"), ("repo", "vault"): Decimal("46")}, "soft", "repo", "vault"),
    # among equal states, the closest to its hard limit
    (FACTS, {("developer", "bob"): Decimal("85"), ("repo", "vault"): Decimal("59")}, "soft", "repo", "vault"),
    (FACTS, {("developer", "bob"): Decimal("99"), ("repo", "vault"): Decimal("46")}, "soft", "developer", "bob"),
])
def test_verdicts(facts: RouteFacts, spend: dict[tuple[str, str], Decimal], state: str, scope: str,
                  principal: str) -> None:
    verdict = budget_verdict(BUDGETS, facts, _month(spend), NOW)
    assert (verdict.state, verdict.scope, verdict.principal) == (state, scope, principal)
    assert verdict.spent == spend.get((scope, principal), Decimal(0))
    assert verdict.budget is not None and verdict.limit == verdict.budget.monthly_usd
    assert verdict.resets_at == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_hard_downgrade_names_the_target() -> None:
    verdict = budget_verdict(BUDGETS, RouteFacts(team="payments"), _month({("team", "payments"): Decimal("1100")}),
                             NOW)
    assert verdict.action == "downgrade"
    assert verdict.downgrade_to is not None and verdict.downgrade_to.name == "haiku"


@pytest.mark.parametrize("facts", [RouteFacts(), RouteFacts(team="web", repo="app")])
def test_no_applicable_budget_is_ok_without_a_budget(facts: RouteFacts) -> None:
    verdict = budget_verdict(BUDGETS, facts, _month({("team", "web"): Decimal("1e9")}), NOW)
    assert (verdict.state, verdict.budget) == ("ok", None)


def test_a_policy_without_budgets_is_always_ok() -> None:
    assert budget_verdict(compiled(), FACTS, _month({("developer", "bob"): Decimal("1e9")}), NOW).state == "ok"


@pytest.mark.parametrize(("now", "reset"), [
    (datetime(2026, 3, 14, 15, 9, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
    # 00:30 on 1 May in UTC+2 is still April in UTC
    (datetime(2026, 5, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 5, 1, tzinfo=UTC)),
    (datetime(2026, 2, 10), datetime(2026, 3, 1, tzinfo=UTC)),  # naive: taken as UTC
])
def test_month_reset_is_the_first_instant_of_next_month_in_utc(now: datetime, reset: datetime) -> None:
    assert month_reset(now) == reset and month_reset(now).tzinfo is UTC


@pytest.mark.parametrize(("period", "now", "bucket", "reset"), [
    ("day", datetime(2026, 11, 18, 23, 59, 59, tzinfo=UTC), "2026-11-18", datetime(2026, 11, 19, tzinfo=UTC)),
    ("day", datetime(2026, 11, 19, 0, 0, tzinfo=UTC), "2026-11-19", datetime(2026, 11, 20, tzinfo=UTC)),
    ("day", datetime(2026, 12, 31, 12, tzinfo=UTC), "2026-12-31", datetime(2027, 1, 1, tzinfo=UTC)),
    # 01:00 on the 19th in UTC+2 is still the 18th in UTC
    ("day", datetime(2026, 11, 19, 1, 0, tzinfo=timezone(timedelta(hours=2))), "2026-11-18",
     datetime(2026, 11, 19, tzinfo=UTC)),
    # ISO weeks start on Monday 00:00 UTC: Sunday night is the old week, Monday the new one
    ("week", datetime(2026, 11, 22, 23, 59, tzinfo=UTC), "2026-W47", datetime(2026, 11, 23, tzinfo=UTC)),
    ("week", datetime(2026, 11, 23, 0, 0, tzinfo=UTC), "2026-W48", datetime(2026, 11, 30, tzinfo=UTC)),
    ("week", datetime(2026, 12, 31, 12, tzinfo=UTC), "2026-W53", datetime(2027, 1, 4, tzinfo=UTC)),
    ("week", datetime(2027, 1, 1, tzinfo=UTC), "2026-W53", datetime(2027, 1, 4, tzinfo=UTC)),  # ISO year
    ("month", datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "2026-11", datetime(2026, 12, 1, tzinfo=UTC)),
    ("month", datetime(2026, 12, 1, tzinfo=UTC), "2026-12", datetime(2027, 1, 1, tzinfo=UTC)),
])
def test_each_period_has_its_bucket_and_resets_at_its_utc_boundary(period: str, now: datetime, bucket: str,
                                                                    reset: datetime) -> None:
    assert period_bucket(period, now) == bucket
    assert period_reset(period, now) == reset and period_reset(period, now).tzinfo is UTC
    # the reset instant is the first of the next bucket
    assert period_bucket(period, reset) != bucket and period_bucket(period, reset - timedelta(seconds=1)) == bucket


PERIODS = compiled(budgets=[
    {"scope": "developer", "name": "*", "period": "day", "limit_usd": "10", "hard": 1.0},
    {"scope": "developer", "name": "*", "period": "week", "limit_usd": "40", "hard": 1.0},
    {"scope": "developer", "name": "*", "monthly_usd": "100", "hard": 1.0},
    {"scope": "group", "name": "eng", "period": "week", "limit_usd": "500", "hard": 1.0},
])


def test_each_period_is_judged_on_its_own_bucket() -> None:
    bob = RouteFacts(developer="bob")
    spend = {("2026-11-18", "developer", "bob"): Decimal(10), ("2026-11-17", "developer", "bob"): Decimal(99)}
    verdict = budget_verdict(PERIODS, bob, spend, NOW)
    assert (verdict.state, verdict.budget.cadence if verdict.budget else None) == ("hard", "day")
    assert verdict.resets_at == datetime(2026, 11, 19, tzinfo=UTC)
    # yesterday's spend is yesterday's: today starts at zero
    assert budget_verdict(PERIODS, bob, {("2026-11-17", "developer", "bob"): Decimal(99)}, NOW).state == "ok"
    weekly = budget_verdict(PERIODS, bob, {("2026-W47", "developer", "bob"): Decimal(40)}, NOW)
    assert (weekly.state, weekly.resets_at) == ("hard", datetime(2026, 11, 23, tzinfo=UTC))


def test_a_group_budget_applies_to_each_member_on_the_groups_spend() -> None:
    pooled = {("2026-W47", "group", "eng"): Decimal(500)}
    for member in ("alice", "bob"):
        verdict = budget_verdict(PERIODS, RouteFacts(developer=member, groups=("eng", "all")), pooled, NOW)
        assert (verdict.state, verdict.scope, verdict.principal) == ("hard", "group", "eng")
    assert budget_verdict(PERIODS, RouteFacts(developer="carol", groups=("ops",)), pooled, NOW).state == "ok"
