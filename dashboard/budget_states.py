"""Month-to-date spend of developers, teams and repos against the active policy's budgets, with
the state the proxy would see: ok, soft (past the alert share) or hard (past the action share).

Pure: the spend comes in as a frame (scope, name, usd) summed from the hourly rollup (the same
sums as store.balances, which the proxies check budgets against), the budgets as
the policy's Budget models. A principal's own budget replaces the scope's "*" budget, as in
core.policy.budgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import polars as pl

from core.policy.schema import Budget

SCOPES = ("developer", "team", "repo")
STATES = ("ok", "soft", "hard", "no budget")
LINE_SCHEMA = {"scope": pl.String(), "name": pl.String(), "spent_usd": pl.Decimal(38, 9),
               "budget_usd": pl.Decimal(38, 9), "soft_usd": pl.Decimal(38, 9), "hard_usd": pl.Decimal(38, 9),
               "state": pl.String()}


def spend_by_scope(usage: pl.DataFrame) -> pl.DataFrame:
    """(scope, name, usd) from rollup sums grouped by (developer, team, repo): what store.balances
    gives the proxies, from one read of the rollup instead of one per scope. Unknown principals
    (null) count toward no one, as there."""
    parts = [usage.filter(pl.col(scope).is_not_null()).group_by(pl.col(scope).alias("name"))
             .agg(pl.col("cost_usd").sum().alias("usd")).select(pl.lit(scope).alias("scope"), "name", "usd")
             for scope in SCOPES]
    return pl.concat(parts).sort("scope", "name")


def _applicable(budgets: Sequence[Budget], scope: str, name: str) -> Budget | None:
    # the spend shown is monthly: daily and weekly budgets are judged by the proxy alone
    budgets = [b for b in budgets if b.cadence == "month"]
    named = [b for b in budgets if b.scope == scope and b.name == name]
    if named:
        return named[0]
    everyone = [b for b in budgets if b.scope == scope and b.name == "*"]
    return everyone[0] if everyone else None


def state_of(spent: Decimal, budget: Budget | None) -> str:
    if budget is None:
        return "no budget"
    if spent >= budget.limit * Decimal(str(budget.hard)):
        return "hard"
    if spent >= budget.limit * Decimal(str(budget.soft)):
        return "soft"
    return "ok"


def budget_lines(spend: pl.DataFrame, budgets: Sequence[Budget]) -> pl.DataFrame:
    """One line per principal that spent something or has a budget of its own, largest spend first
    within each scope."""
    spent = {(row["scope"], row["name"]): Decimal(row["usd"]) for row in spend.iter_rows(named=True)}
    for budget in budgets:
        # the store's monthly spend covers developers, teams and repos; group pools are the proxies' own
        if budget.name != "*" and budget.cadence == "month" and budget.scope != "group":
            spent.setdefault((budget.scope, budget.name), Decimal(0))
    rows = []
    for (scope, name), usd in spent.items():
        budget = _applicable(budgets, scope, name)
        limit = budget.limit if budget else None
        rows.append((scope, name, usd, limit,
                     limit * Decimal(str(budget.soft)) if budget and limit else None,
                     limit * Decimal(str(budget.hard)) if budget and limit else None,
                     state_of(usd, budget)))
    frame = pl.DataFrame(rows, schema=LINE_SCHEMA, orient="row")
    return frame.sort(["scope", "spent_usd", "name"], descending=[False, True, False])
