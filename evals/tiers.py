"""Model id → tier (haiku < sonnet < opus) for the evaluators: the one tier function
(core.pricing.PriceTable.tier_of, through the PriceMemo), so a model has the same tier in evals as
in routing, the optimizer and the dashboard."""

from __future__ import annotations

from core.price_memo import PriceMemo
from core.pricing import TIERS, Tier

TIER_RANK: dict[str, int] = {tier: rank for rank, tier in enumerate(TIERS)}


class TierLookup:
    def __init__(self, prices: PriceMemo) -> None:
        self._prices = prices

    def __call__(self, model: str | None) -> Tier | None:
        return self._prices.tier_of(model)

    def rank(self, model: str | None) -> int | None:
        tier = self._prices.tier_of(model)
        return None if tier is None else TIER_RANK[tier]
