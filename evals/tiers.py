"""Model id → tier (haiku < sonnet < opus), read from the price table (model ids are data: a new
release needs a price entry, never a code change). Unknown ids fall back to the family word."""

from __future__ import annotations

from core.pricing import PriceTable

TIER_RANK: dict[str, int] = {"haiku": 0, "sonnet": 1, "opus": 2}


class TierLookup:
    def __init__(self, prices: PriceTable) -> None:
        self._prices = prices
        self._known: dict[str | None, str | None] = {}

    def __call__(self, model: str | None) -> str | None:
        if model not in self._known:
            self._known[model] = self._prices.tier_of(model) or _family_word(model)
        return self._known[model]

    def rank(self, model: str | None) -> int | None:
        tier = self(model)
        return None if tier is None else TIER_RANK.get(tier)


def _family_word(model: str | None) -> str | None:
    if not model:
        return None
    lowered = model.lower()
    return next((tier for tier in TIER_RANK if tier in lowered), None)
