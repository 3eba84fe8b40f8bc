"""Monthly spend budgets per developer, team or repo: which one applies to a turn, and how close to
its limit the principal is. Pure: the spend comes in as a mapping (the proxy's ledger)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from .facts import RouteFacts
from .schema import Budget, Target

if TYPE_CHECKING:
    from .compile import CompiledPolicy

BudgetState = Literal["ok", "soft", "hard"]
_SEVERITY: dict[str, int] = {"ok": 0, "soft": 1, "hard": 2}
SCOPES = ("developer", "team", "repo")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PreparedBudget:
    budget: Budget
    soft_usd: Decimal  # thresholds in dollars, so a verdict is two Decimal comparisons
    hard_usd: Decimal
    downgrade_to: Target | None


@dataclass(frozen=True, slots=True)
class ScopeBudgets:
    named: Mapping[str, PreparedBudget]
    everyone: PreparedBudget | None  # the "*" budget: each principal without its own, separately


BudgetTable = Mapping[str, ScopeBudgets]


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """The worst budget state among those that apply; ``budget`` is None when none applies."""

    state: BudgetState
    budget: Budget | None = None
    scope: str | None = None
    principal: str | None = None
    spent: Decimal = ZERO
    limit: Decimal = ZERO
    action: Literal["block", "downgrade"] | None = None
    downgrade_to: Target | None = None


NO_BUDGET = BudgetVerdict("ok")


def prepare_budgets(budgets: Sequence[Budget], targets: Mapping[str, Target]) -> BudgetTable:
    table: dict[str, ScopeBudgets] = {}
    for scope in SCOPES:
        named: dict[str, PreparedBudget] = {}
        everyone: PreparedBudget | None = None
        for budget in budgets:
            if budget.scope != scope:
                continue
            prepared = PreparedBudget(
                budget,
                soft_usd=budget.monthly_usd * Decimal(str(budget.soft)),
                hard_usd=budget.monthly_usd * Decimal(str(budget.hard)),
                downgrade_to=targets.get(budget.downgrade_to) if budget.downgrade_to else None,
            )
            if budget.name == "*":
                everyone = prepared
            else:
                named[budget.name] = prepared
        if named or everyone:
            table[scope] = ScopeBudgets(named, everyone)
    return table


def _state(prepared: PreparedBudget, spent: Decimal) -> BudgetState:
    if spent >= prepared.hard_usd:
        return "hard"
    if spent >= prepared.soft_usd:
        return "soft"
    return "ok"


def budget_verdict(compiled: CompiledPolicy, facts: RouteFacts,
                   spend: Mapping[tuple[str, str], Decimal]) -> BudgetVerdict:
    """Check the turn's developer, team and repo against their budgets. A principal's own budget
    replaces the scope's "*" budget (so "* gets $100, alice gets $500" gives alice $500). The worst
    state wins; among equals, the one closest to its hard limit. ``spend`` is this month's spend
    keyed ``(scope, principal)``; an absent key means nothing spent."""
    worst = NO_BUDGET
    worst_rank: tuple[int, Decimal] = (-1, ZERO)
    for scope, principal in (("developer", facts.developer), ("team", facts.team), ("repo", facts.repo)):
        budgets = compiled.budgets.get(scope)
        if budgets is None or principal is None:
            continue
        spent = spend.get((scope, principal), ZERO)
        prepared = budgets.named.get(principal) or budgets.everyone
        if prepared is None:
            continue
        state = _state(prepared, spent)
        rank = (_SEVERITY[state], spent / prepared.hard_usd)
        if rank > worst_rank:
            worst_rank = rank
            worst = BudgetVerdict(state, prepared.budget, scope, principal, spent, prepared.budget.monthly_usd,
                                  prepared.budget.action, prepared.downgrade_to)
    return worst


def month_reset(now: datetime) -> datetime:
    """The first instant of the next calendar month, UTC: when monthly budgets start over.
    A naive ``now`` is taken to be UTC."""
    moment = now.astimezone(UTC) if now.tzinfo is not None else now.replace(tzinfo=UTC)
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)
