"""The price table's answers remembered, for paths that ask often (the proxy asks a tier per
request and prices every turn; ingest, evals and the simulator price batches that repeat a handful
of models and days).

Nothing is computed here: a miss asks :meth:`PriceTable.verdict` / :meth:`PriceTable.tier_of`, and a
cost is always ``verdict.cost(usage)``, the same step :meth:`PriceTable.cost` takes, so a memo can
never answer differently from the table. Each map holds at most ``limit`` keys and is emptied
when full: many distinct model ids means someone is probing, and an unbounded map would be theirs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from core.pricing import Cost, PriceEntry, PriceScope, PriceTable, Tier, Usage, Verdict, price_scope
from core.spans import Turn

NS_PER_DAY = 86_400 * 10**9
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_MILLION = 1_000_000


def turn_day(start_ns: int) -> dt.date:
    """The UTC date a turn started on: the date its price is taken from (integer arithmetic, so a
    turn a nanosecond before midnight is not rounded into the next day)."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + start_ns // NS_PER_DAY)


def turn_usage(turn: Turn) -> Usage:
    """The turn's token counts as a :class:`Usage` (raises UsageError when they are inconsistent)."""
    return Usage(input_tokens=turn.input_tokens, output_tokens=turn.output_tokens,
                 cache_creation_tokens=turn.cache_creation_tokens,
                 cache_creation_1h_tokens=turn.cache_creation_1h_tokens, cache_read_tokens=turn.cache_read_tokens)


@dataclass(frozen=True, slots=True)
class PerToken:
    """USD per token of each kind, as floats for float models (evals' expected cost): each is the
    cost of a million such tokens from the one pricing function, divided by a million."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


def per_token_of(entry: PriceEntry) -> PerToken:
    """An entry's per-token rates, each the one pricing function's cost of a million such tokens."""

    def rate(usage: Usage) -> float:
        return float(entry.cost_of(usage)) / _MILLION

    return _rates(rate)


def _per_token(verdict: Verdict) -> PerToken | None:
    if verdict.entry is None:
        return None

    def rate(usage: Usage) -> float:
        return float(verdict.cost(usage).usd) / _MILLION

    return _rates(rate)


def _rates(rate: Callable[[Usage], float]) -> PerToken:
    return PerToken(input=rate(Usage(input_tokens=_MILLION)), output=rate(Usage(output_tokens=_MILLION)),
                    cache_write_5m=rate(Usage(cache_creation_tokens=_MILLION)),
                    cache_write_1h=rate(Usage(cache_creation_tokens=_MILLION, cache_creation_1h_tokens=_MILLION)),
                    cache_read=rate(Usage(cache_read_tokens=_MILLION)))


class _Day:
    """One (model, day)'s verdict and, asked for lazily, its per-token rates."""

    __slots__ = ("per_token", "rated", "verdict")

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.per_token: PerToken | None = None
        self.rated = False


class PriceMemo:
    __slots__ = ("_days", "_limit", "_tiers", "table")

    def __init__(self, table: PriceTable, limit: int = 4096) -> None:
        self.table = table
        self._limit = max(limit, 1)
        self._tiers: dict[str | None, Tier | None] = {}
        self._days: dict[tuple[str | None, dt.date, PriceScope | None], _Day] = {}

    def tier_of(self, model: str | None) -> Tier | None:
        """:meth:`PriceTable.tier_of`, remembered per id (the proxy asks once per request)."""
        try:
            return self._tiers[model]
        except KeyError:
            tier = self.table.tier_of(model)
            if len(self._tiers) >= self._limit:
                self._tiers.clear()
            self._tiers[model] = tier
            return tier

    def _day(self, model: str | None, at: dt.date, scope: PriceScope | None = None) -> _Day:
        day = at.date() if isinstance(at, dt.datetime) else at
        key = (model, day, scope)
        found = self._days.get(key)
        if found is None:
            if len(self._days) >= self._limit:
                self._days.clear()
            found = self._days[key] = _Day(self.table.verdict(model, day, scope))
        return found

    def verdict(self, model: str | None, at: dt.date) -> Verdict:
        return self._day(model, at).verdict

    def cost(self, model: str | None, usage: Usage, at: dt.date, scope: PriceScope | None = None) -> Cost:
        """:meth:`PriceTable.cost`, with the (model, day, scope) lookup remembered."""
        return self._day(model, at, scope).verdict.cost(usage)

    def cost_of_turn(self, turn: Turn) -> Cost:
        """A turn priced as ingest stores it: the model that served it (else the one requested), its
        usage, the date it started, the provider and endpoint that served it (regional premiums).
        Raises UsageError for inconsistent token counts."""
        model = turn.served_model or turn.requested_model
        return self.cost(model, turn_usage(turn), turn_day(turn.start_ns),
                         price_scope(turn.provider, turn.region, model))

    def per_token(self, model: str | None, at: dt.date) -> PerToken | None:
        """USD per token of each kind for ``model`` on ``at`` (None when unpriced)."""
        day = self._day(model, at)
        if not day.rated:
            day.per_token, day.rated = _per_token(day.verdict), True
        return day.per_token
