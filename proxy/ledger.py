"""Spend per principal, for budgets: the balances the snapshot reported, plus what this proxy
has spent since (priced locally from each turn's usage), so a budget holds between snapshots.

Balances are per calendar month (UTC) and keyed (scope, name): ("developer", "alice"),
("team", "payments"), ("repo", "payments-api").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from core.pricing import PriceEntry, PriceTable, Usage
from core.spans import Turn

Key = tuple[str, str]


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def principals(developer: str | None, team: str | None, repo: str | None) -> tuple[Key, ...]:
    """The budget keys a turn counts against."""
    return tuple((scope, name) for scope, name in (("developer", developer), ("team", team), ("repo", repo)) if name)


class SpendLedger:
    def __init__(self, prices: PriceTable, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._prices = prices
        self._clock = clock
        self.month = month_of(clock())
        self._baseline: dict[Key, Decimal] = {}
        # (unix seconds, keys, usd) of local turns, kept until a snapshot covers them
        self._local: deque[tuple[float, tuple[Key, ...], Decimal]] = deque()
        self.totals: dict[Key, Decimal] = {}
        # (model, day) -> the price entry in force: the table's patterns are matched once a day per model
        self._entries: dict[tuple[str, date], PriceEntry | None] = {}

    def _roll_month(self) -> None:
        month = month_of(self._clock())
        if month != self.month:
            self.month = month
            self._baseline.clear()
            self._local.clear()
            self.totals = {}

    def current(self) -> Mapping[Key, Decimal]:
        """Spend this month so far, per principal."""
        self._roll_month()
        return self.totals

    def cost(self, turn: Turn, day: date) -> Decimal:
        """The turn's cost; an unpriced model counts 0 here (ingest flags it as unpriced)."""
        model = turn.served_model or turn.requested_model
        if model is None:
            return Decimal(0)
        key = (model, day)
        if key not in self._entries:
            if len(self._entries) > 4096:
                self._entries.clear()  # bounded: many distinct ids means someone is probing
            self._entries[key] = self._prices.lookup(model, day)
        entry = self._entries[key]
        if entry is None:
            return Decimal(0)
        return entry.cost_of(Usage(
            input_tokens=turn.input_tokens, output_tokens=turn.output_tokens,
            cache_creation_tokens=turn.cache_creation_tokens,
            cache_creation_1h_tokens=min(turn.cache_creation_1h_tokens, turn.cache_creation_tokens),
            cache_read_tokens=turn.cache_read_tokens,
        ))

    def accrue(self, turn: Turn) -> Decimal:
        """Add a finished turn's cost to its developer, team and repo."""
        self._roll_month()
        now = self._clock()
        usd = self.cost(turn, now.date())
        if not usd:
            return usd
        keys = principals(turn.developer, turn.team, turn.repo)
        self._local.append((now.timestamp(), keys, usd))
        for key in keys:
            self.totals[key] = self.totals.get(key, Decimal(0)) + usd
        return usd

    def replace_baseline(self, month: str, balances: Mapping[Key, Decimal], as_of: float) -> None:
        """Take the snapshot's balances (which include every turn stored up to ``as_of``) and keep
        only the local spend after it."""
        self._roll_month()
        if month != self.month:
            return  # a snapshot from another month says nothing about this one
        while self._local and self._local[0][0] <= as_of:
            self._local.popleft()
        totals = dict(balances)
        for _, keys, usd in self._local:
            for key in keys:
                totals[key] = totals.get(key, Decimal(0)) + usd
        self._baseline = dict(balances)
        self.totals = totals
