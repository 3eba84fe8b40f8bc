"""budget_verdict(): which budget applies to a turn, and how far along it is; month_reset()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core.policy.budgets import budget_verdict, month_reset
from core.policy.facts import RouteFacts

from .builders import compiled

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
    verdict = budget_verdict(BUDGETS, facts, spend)
    assert (verdict.state, verdict.scope, verdict.principal) == (state, scope, principal)
    assert verdict.spent == spend.get((scope, principal), Decimal(0))
    assert verdict.budget is not None and verdict.limit == verdict.budget.monthly_usd


def test_a_hard_downgrade_names_the_target() -> None:
    verdict = budget_verdict(BUDGETS, RouteFacts(team="payments"), {("team", "payments"): Decimal("1100")})
    assert verdict.action == "downgrade"
    assert verdict.downgrade_to is not None and verdict.downgrade_to.name == "haiku"


@pytest.mark.parametrize("facts", [RouteFacts(), RouteFacts(team="web", repo="app")])
def test_no_applicable_budget_is_ok_without_a_budget(facts: RouteFacts) -> None:
    verdict = budget_verdict(BUDGETS, facts, {("team", "web"): Decimal("1e9")})
    assert (verdict.state, verdict.budget) == ("ok", None)


def test_a_policy_without_budgets_is_always_ok() -> None:
    assert budget_verdict(compiled(), FACTS, {("developer", "bob"): Decimal("1e9")}).state == "ok"


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
