"""Spend budgets per developer, team, repo or group, per UTC day, ISO week or calendar month: which
ones apply to a turn, and how close to its limit each principal is. Pure: the spend comes in as a
mapping (the proxy's ledger), keyed by :data:`SpendKey`.

A spend key names its period's *bucket* (``2026-12-03``, ``2026-W49``, ``2026-12``), so a period
starts over by itself: the new bucket has no spend yet. All periods are UTC: a day starts at
00:00 UTC, a week on Monday 00:00 UTC (ISO 8601 weeks), a month on its first day at 00:00 UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from .facts import RouteFacts
from .schema import PERIODS, Budget, Target

if TYPE_CHECKING:
    from .compile import CompiledPolicy

BudgetState = Literal["ok", "soft", "hard"]
_SEVERITY: dict[str, int] = {"ok": 0, "soft": 1, "hard": 2}
SCOPES = ("developer", "team", "repo", "group")
ZERO = Decimal(0)
# (period bucket, scope, principal): ("2026-12", "developer", "alice"), ("2026-W49", "group", "eng")
SpendKey = tuple[str, str, str]
Buckets = Mapping[str, str]  # period -> its current bucket


@dataclass(frozen=True, slots=True)
class PreparedBudget:
    budget: Budget
    soft_usd: Decimal  # thresholds in dollars, so a verdict is two Decimal comparisons
    hard_usd: Decimal
    downgrade_to: Target | None


@dataclass(frozen=True, slots=True)
class ScopeBudgets:
    """One scope's budgets of one period."""

    named: Mapping[str, PreparedBudget]
    everyone: PreparedBudget | None  # the "*" budget: each principal without its own, separately

    def of(self, principal: str) -> PreparedBudget | None:
        return self.named.get(principal) or self.everyone


# scope -> period -> that scope's budgets of that period
BudgetTable = Mapping[str, Mapping[str, ScopeBudgets]]


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """The worst budget state among those that apply; ``budget`` is None when none applies.
    ``resets_at`` is when the budget's period starts over."""

    state: BudgetState
    budget: Budget | None = None
    scope: str | None = None
    principal: str | None = None
    spent: Decimal = ZERO
    limit: Decimal = ZERO
    action: Literal["block", "downgrade"] | None = None
    downgrade_to: Target | None = None
    hard_usd: Decimal = ZERO
    resets_at: datetime | None = None

    @property
    def utilization(self) -> Decimal:
        """Spent as a share of the hard limit (where the action starts)."""
        return self.spent / self.hard_usd if self.hard_usd else ZERO


NO_BUDGET = BudgetVerdict("ok")


def prepare_budgets(budgets: Sequence[Budget], targets: Mapping[str, Target]) -> BudgetTable:
    table: dict[str, dict[str, ScopeBudgets]] = {}
    for scope in SCOPES:
        for period in PERIODS:
            named: dict[str, PreparedBudget] = {}
            everyone: PreparedBudget | None = None
            for budget in budgets:
                if budget.scope != scope or budget.cadence != period:
                    continue
                prepared = PreparedBudget(
                    budget,
                    soft_usd=budget.limit * Decimal(str(budget.soft)),
                    hard_usd=budget.limit * Decimal(str(budget.hard)),
                    downgrade_to=targets.get(budget.downgrade_to) if budget.downgrade_to else None,
                )
                if budget.name == "*":
                    everyone = prepared
                else:
                    named[budget.name] = prepared
            if named or everyone:
                table.setdefault(scope, {})[period] = ScopeBudgets(named, everyone)
    return table


def _utc(now: datetime) -> datetime:
    return now.astimezone(UTC) if now.tzinfo is not None else now.replace(tzinfo=UTC)


def period_bucket(period: str, now: datetime) -> str:
    """The bucket ``now`` falls in: ``2026-12-03`` (day), ``2026-W49`` (ISO week), ``2026-12`` (month)."""
    moment = _utc(now)
    if period == "day":
        return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{moment.year:04d}-{moment.month:02d}"


def current_buckets(now: datetime) -> dict[str, str]:
    return {period: period_bucket(period, now) for period in PERIODS}


@dataclass(frozen=True, slots=True)
class Calendar:
    """Each period's current bucket and reset instant on one UTC day: they change only at midnight
    UTC, so a caller keeps one a day (:func:`calendar_for`) instead of formatting dates per turn."""

    day: int  # the UTC date's ordinal
    buckets: Mapping[str, str]
    resets: Mapping[str, datetime]
    reset_stamps: Mapping[str, int]  # the same instants, Unix seconds


def calendar_of(now: datetime) -> Calendar:
    moment = _utc(now)
    resets: dict[str, datetime] = {period: period_reset(period, moment) for period in PERIODS}
    return Calendar(moment.toordinal(), current_buckets(moment), resets,
                    {period: int(reset.timestamp()) for period, reset in resets.items()})


def calendar_for(now: datetime, cached: Calendar | None) -> Calendar:
    """``cached`` while ``now`` is on its day (UTC), else a new one."""
    moment = now if now.tzinfo is UTC else _utc(now)
    if cached is not None and cached.day == moment.toordinal():
        return cached
    return calendar_of(moment)


def period_reset(period: str, now: datetime) -> datetime:
    """When the period ``now`` is in ends (UTC): the next midnight, the next Monday's midnight, or
    the first instant of the next month."""
    moment = _utc(now)
    midnight = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if period == "day":
        return midnight + timedelta(days=1)
    if period == "week":
        return midnight + timedelta(days=7 - moment.weekday())
    return month_reset(moment)


def month_reset(now: datetime) -> datetime:
    """The first instant of the next calendar month, UTC: when monthly budgets start over.
    A naive ``now`` is taken to be UTC."""
    moment = _utc(now)
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


Applicable = tuple[str, str, str, PreparedBudget]  # (scope, principal, period, budget)


def applicable(table: BudgetTable, facts: RouteFacts) -> Iterator[Applicable]:
    """(scope, principal, period, budget) of every budget that applies to the turn. A principal's
    own budget replaces the scope's "*" budget of the same period. A caller's groups (an IdP may
    list hundreds) are looked at only when the policy has group budgets."""
    for scope, principal in (("developer", facts.developer), ("team", facts.team), ("repo", facts.repo)):
        periods = table.get(scope)
        if periods is None or not principal:
            continue
        for period, budgets in periods.items():
            prepared = budgets.of(principal)
            if prepared is not None:
                yield scope, principal, period, prepared
    groups = table.get("group")
    if groups is None or not facts.groups:
        return
    members: frozenset[str] | None = None
    for period, budgets in groups.items():
        if budgets.everyone is not None:  # every group of the caller has a pool
            for group in facts.groups:
                yield "group", group, period, budgets.named.get(group) or budgets.everyone
            continue
        # named pools only: walk the (few) pools, not the caller's (maybe hundreds of) groups
        members = frozenset(facts.groups) if members is None else members
        for group, prepared in budgets.named.items():
            if group in members:
                yield "group", group, period, prepared


def budget_keys(table: BudgetTable, facts: RouteFacts, buckets: Buckets,
                applied: Sequence[Applicable] | None = None) -> tuple[SpendKey, ...]:
    """The spend keys a turn counts against: this month's for its developer, team and repo (always:
    the snapshot reconciles them with the database), and the current bucket of every other budget
    that applies to it."""
    month = buckets["month"]
    keys = dict.fromkeys((month, scope, name) for scope, name in
                         (("developer", facts.developer), ("team", facts.team), ("repo", facts.repo)) if name)
    for scope, principal, period, _ in applicable(table, facts) if applied is None else applied:
        keys[(buckets[period], scope, principal)] = None
    return tuple(keys)


def _state(prepared: PreparedBudget, spent: Decimal) -> BudgetState:
    if spent >= prepared.hard_usd:
        return "hard"
    if spent >= prepared.soft_usd:
        return "soft"
    return "ok"


def _verdict(scope: str, principal: str, prepared: PreparedBudget, spent: Decimal, resets_at: datetime
             ) -> BudgetVerdict:
    budget = prepared.budget
    return BudgetVerdict(_state(prepared, spent), budget, scope, principal, spent, budget.limit, budget.action,
                         prepared.downgrade_to, prepared.hard_usd, resets_at)


def _rank(verdict: BudgetVerdict) -> tuple[int, int, Decimal]:
    """Which verdict describes a turn: the worst state; past a hard limit, a blocking budget before a
    downgrading one, and among those the one that resets last (a retry before then is refused
    again); otherwise the one closest to its hard limit."""
    if verdict.state == "hard":
        assert verdict.resets_at is not None
        return 2, int(verdict.action == "block"), Decimal(int(verdict.resets_at.timestamp()))
    return _SEVERITY[verdict.state], 0, verdict.utilization


def _calendar(when: datetime | Calendar) -> Calendar:
    return when if isinstance(when, Calendar) else calendar_of(when)


def budget_verdict(compiled: CompiledPolicy, facts: RouteFacts, spend: Mapping[SpendKey, Decimal],
                   when: datetime | Calendar, applied: Sequence[Applicable] | None = None) -> BudgetVerdict:
    """Check the turn's developer, team, repo and groups against their budgets of every period; the
    verdict that describes the turn wins (:func:`_rank`). ``spend`` is keyed by :data:`SpendKey`
    (the current bucket of each period); an absent key means nothing spent. ``applied``: what
    :func:`applicable` gives for the turn, when the caller has it already."""
    calendar = _calendar(when)
    # ranked on plain numbers (the hot path): only the winner becomes a BudgetVerdict
    best: tuple[str, str, str, PreparedBudget, Decimal] | None = None
    best_rank: tuple[int, int, Decimal] = (-1, 0, ZERO)
    for scope, principal, period, prepared in applicable(compiled.budgets, facts) if applied is None else applied:
        spent = spend.get((calendar.buckets[period], scope, principal), ZERO)
        if spent >= prepared.hard_usd:
            rank = (2, int(prepared.budget.action == "block"), Decimal(calendar.reset_stamps[period]))
        else:
            rank = (_SEVERITY[_state(prepared, spent)], 0, spent / prepared.hard_usd)
        if rank > best_rank:
            best_rank, best = rank, (scope, principal, period, prepared, spent)
    if best is None:
        return NO_BUDGET
    scope, principal, period, prepared, spent = best
    return _verdict(scope, principal, prepared, spent, calendar.resets[period])


def all_verdicts(compiled: CompiledPolicy, facts: RouteFacts, spend: Mapping[SpendKey, Decimal],
                 when: datetime | Calendar) -> list[BudgetVerdict]:
    """Every budget that applies, the binding one (what :func:`budget_verdict` returns) first."""
    calendar = _calendar(when)
    verdicts = [_verdict(scope, principal, prepared, spend.get((calendar.buckets[period], scope, principal), ZERO),
                         calendar.resets[period])
                for scope, principal, period, prepared in applicable(compiled.budgets, facts)]
    verdicts.sort(key=_rank, reverse=True)  # stable: among equals, the first found (as budget_verdict)
    return verdicts


def blocking_limits(table: BudgetTable, facts: RouteFacts, buckets: Buckets,
                    applied: Sequence[Applicable] | None = None) -> dict[SpendKey, Decimal]:
    """The hard limit, in dollars, of each ``block`` budget that applies to the turn, keyed by its
    current bucket: the budgets whose headroom admission checks. (A ``downgrade`` budget past its
    hard limit still lets the turn through, to the cheaper target, so it never refuses one.)"""
    return {(buckets[period], scope, principal): prepared.hard_usd
            for scope, principal, period, prepared in (applicable(table, facts) if applied is None else applied)
            if prepared.budget.action == "block"}
