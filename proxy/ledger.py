"""Spend per principal, for budgets: the balances the snapshot reported, plus what this proxy
has spent since (priced locally from each turn's usage with the one pricing function, exactly as
ingest will store it), so a budget holds between snapshots.

Spend is keyed (period bucket, scope, name) (core.policy.budgets.SpendKey): ("2026-11",
"developer", "alice"), ("2026-W46", "team", "payments"), ("2026-11-10", "group", "eng"). A bucket
that is no longer current is dropped when the day turns (UTC), so each period starts over. The
snapshot's balances are this month's per developer, team and repo (what the database records); the
other keys (days, weeks, groups) are this proxy's own turns, and the fleet's as Redis reports them.

Memory is bounded whatever the snapshot does: without a snapshot source no per-turn record is kept
at all (``keep_local=False``), and while snapshots lag (ingest down, a slow rollup) at most
``local_limit`` records are kept; past that, new turns are folded into the newest record, which then
stays until a snapshot covers its latest turn (a budget may count those turns twice for a moment,
never zero times).

Turns in flight hold reservations (:class:`Hold`, see core/policy/reservations.py): ``reserved``
keeps their sum per principal, so a budget counts what is running as well as what has finished.
Every hold is settled (its real cost accrued) or released exactly once; a second call is a no-op,
so an error path that releases "just in case" can never release twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from core.policy.budgets import SpendKey, calendar_for
from core.price_memo import PriceMemo
from core.pricing import UsageError
from core.spans import Turn

Key = SpendKey
# Scopes the snapshot's monthly balances cover (the store attributes turns to these).
SNAPSHOT_SCOPES = frozenset({"developer", "team", "repo"})
LOCAL_LIMIT = 4096
ZERO = Decimal(0)


class Hold:
    """One turn's reservation against its principals (``usd`` each), while it runs. ``shared`` is
    the id of the same reservation on Redis (None: held in this proxy only)."""

    __slots__ = ("keys", "open", "shared", "usd")

    def __init__(self, keys: tuple[Key, ...], usd: Decimal) -> None:
        self.keys = keys
        self.usd = usd
        self.open = True
        self.shared: str | None = None


class _Folded:
    """Several turns' spend folded into one record of the local log (the log is at its bound)."""

    __slots__ = ("amounts", "at")

    def __init__(self, at: float, amounts: dict[Key, Decimal]) -> None:
        self.at = at
        self.amounts = amounts

    def add(self, at: float, keys: tuple[Key, ...], usd: Decimal) -> None:
        self.at = max(self.at, at)
        for key in keys:
            self.amounts[key] = self.amounts.get(key, Decimal(0)) + usd

    def items(self) -> list[tuple[Key, Decimal]]:
        return list(self.amounts.items())


_Local = tuple[float, tuple[Key, ...], Decimal] | _Folded


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def principals(month: str, developer: str | None, team: str | None, repo: str | None) -> tuple[Key, ...]:
    """The monthly keys a turn without other budgets counts against."""
    return tuple((month, scope, name) for scope, name in (("developer", developer), ("team", team), ("repo", repo))
                 if name)


class SpendLedger:
    def __init__(self, prices: PriceMemo, clock: Callable[[], datetime] = lambda: datetime.now(UTC), *,
                 keep_local: bool = True, local_limit: int = LOCAL_LIMIT) -> None:
        self._prices = prices
        self._clock = clock
        self._calendar = calendar_for(clock(), None)
        self.buckets = self._calendar.buckets
        self.month = self.buckets["month"]
        self._baseline: dict[Key, Decimal] = {}
        # (unix seconds, keys, usd) of local turns, kept until a snapshot covers them: only when a
        # snapshot will come (``keep_local``), and at most ``local_limit`` records (then folded)
        self.keep_local = keep_local
        self._local_limit = max(local_limit, 1)
        self._local: deque[_Local] = deque()
        self.totals: dict[Key, Decimal] = {}
        # reservations of the turns in flight, per principal (kept across a month's end: the turns
        # settle into the month they finish in)
        self.reserved: dict[Key, Decimal] = {}
        # the fleet's spend this month as Redis last reported it, per principal: what this proxy
        # still knows of the other proxies' turns when Redis stops answering (spend only grows
        # within a month, so an old figure is low, never high: failing open stays open)
        self.shared_spent: dict[Key, Decimal] = {}
        self._shared_limit = max(local_limit, 1)

    def _roll(self) -> None:
        calendar = calendar_for(self._clock(), self._calendar)
        if calendar is self._calendar:
            return
        self._calendar = calendar
        buckets = self.buckets = calendar.buckets
        live = set(buckets.values())
        self.totals = {key: usd for key, usd in self.totals.items() if key[0] in live}
        self.shared_spent = {key: usd for key, usd in self.shared_spent.items() if key[0] in live}
        if buckets["month"] != self.month:
            self.month = buckets["month"]
            self._baseline.clear()
            self._local.clear()

    def current(self) -> Mapping[Key, Decimal]:
        """Spend in the current period buckets so far, per key."""
        self._roll()
        return self.totals

    def snapshotted(self, key: Key) -> bool:
        """Whether the snapshot's balances cover ``key`` (this month's developer, team or repo)."""
        return key[0] == self.month and key[1] in SNAPSHOT_SCOPES

    def cost(self, turn: Turn) -> Decimal:
        """The turn's cost as ingest stores it (same function, same date: the turn's start). An
        unpriced model counts 0, as stored (ingest flags it unpriced); so do token counts ingest
        refuses (more 1-hour cache writes than cache writes), which are never stored."""
        try:
            return self._prices.cost_of_turn(turn).usd
        except UsageError:
            return Decimal(0)

    def accrue(self, turn: Turn, keys: tuple[Key, ...] | None = None) -> Decimal:
        """Add a finished turn's cost to ``keys`` (the ones it held; by default this month's
        developer, team and repo)."""
        self._roll()
        now = self._clock()
        usd = self.cost(turn)
        if not usd:
            return usd
        if keys is None:
            keys = principals(self.month, turn.developer, turn.team, turn.repo)
        if self.keep_local:
            covered = tuple(key for key in keys if self.snapshotted(key))
            if covered:
                self._remember(now.timestamp(), covered, usd)
        for key in keys:
            self.totals[key] = self.totals.get(key, Decimal(0)) + usd
        return usd

    def spent(self, keys: tuple[Key, ...]) -> dict[Key, Decimal]:
        """Spend per key of ``keys``: this proxy's view (the snapshot's balances,
        its own turns since) or, when larger, the fleet's as Redis last reported it."""
        totals = self.current()
        return {key: max(totals.get(key, ZERO), self.shared_spent.get(key, ZERO)) for key in keys}

    def saw_shared(self, spent: Mapping[Key, Decimal]) -> None:
        """Remember the fleet's spend Redis just reported (bounded: emptied when full)."""
        if len(self.shared_spent) >= self._shared_limit:
            self.shared_spent.clear()
        for key, usd in spent.items():
            if usd > self.shared_spent.get(key, ZERO):
                self.shared_spent[key] = usd

    def hold(self, keys: tuple[Key, ...], usd: Decimal) -> Hold:
        """Reserve ``usd`` against each of ``keys`` for a turn about to run."""
        hold = Hold(keys, usd)
        if usd:
            for key in keys:
                self.reserved[key] = self.reserved.get(key, ZERO) + usd
        return hold

    def release(self, hold: Hold) -> None:
        """Drop a reservation (the turn ended without a cost to settle); a no-op the second time."""
        if not hold.open:
            return
        hold.open = False
        if not hold.usd:
            return
        for key in hold.keys:
            left = self.reserved.get(key, ZERO) - hold.usd
            if left > 0:
                self.reserved[key] = left
            else:  # exact arithmetic: every hold taken is given back, so this is zero, never less
                self.reserved.pop(key, None)

    def settle(self, hold: Hold, turn: Turn) -> Decimal:
        """Replace a turn's reservation with its real cost (accrued as :meth:`accrue` does)."""
        self.release(hold)
        return self.accrue(turn, hold.keys)

    def _remember(self, at: float, keys: tuple[Key, ...], usd: Decimal) -> None:
        if len(self._local) < self._local_limit:
            self._local.append((at, keys, usd))
            return
        tail = self._local[-1]
        if not isinstance(tail, _Folded):
            tail = self._local[-1] = _Folded(tail[0], dict.fromkeys(tail[1], tail[2]))
        tail.add(at, keys, usd)

    def replace_baseline(self, month: str, balances: Mapping[tuple[str, str], Decimal], as_of: float) -> None:
        """Take the snapshot's monthly balances, keyed (scope, name), which include every turn stored
        up to ``as_of``, and keep only the local spend after it. Keys the snapshot does not cover
        (other periods, groups) keep their totals."""
        self._roll()
        if month != self.month:
            return  # a snapshot from another month says nothing about this one
        while self._local and _at(self._local[0]) <= as_of:
            self._local.popleft()
        totals = {key: usd for key, usd in self.totals.items() if not self.snapshotted(key)}
        baseline = {(month, scope, name): usd for (scope, name), usd in balances.items()}
        for key, usd in baseline.items():
            totals[key] = totals.get(key, Decimal(0)) + usd
        for record in self._local:
            for key, usd in _amounts(record):
                totals[key] = totals.get(key, Decimal(0)) + usd
        self._baseline = baseline
        self.totals = totals


def _at(record: _Local) -> float:
    return record.at if isinstance(record, _Folded) else record[0]


def _amounts(record: _Local) -> list[tuple[Key, Decimal]]:
    if isinstance(record, _Folded):
        return record.items()
    return [(key, record[2]) for key in record[1]]
